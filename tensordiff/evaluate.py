"""Evaluation: compile expressions into a straight-line program over numpy and opt_einsum.

``compile`` plans once: the shared graph is ordered so that each common subexpression is one
step computed once; einsum steps cache a contraction plan (opt_einsum's path, pairs run as
matmuls by ``pairwise``) per set of operand shapes;
deltas and broadcasts in an output are written by ``kernels.assemble``; logdet goes through
slogdet. A call binds dims from the arrays, refuses a dense result larger than the memory limit
before allocating anything, runs the steps, and drops each intermediate after its last use.
The planning passes are listed in ``passes``; a numpy call runs the program specialised to its
input shapes (``specialise``: one generated function per signature). Other array libraries
(``backend=``) run the same plan through the operations of their row in ``backends``.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import math
import numbers
import threading
from typing import Any, Optional

import numpy as np
from numpy.typing import DTypeLike

from . import backends, conditioning as conditioning_checks
from .errors import EvaluationError, ShapeError
from .expr import (Add, Apply, Det, Einsum, Expr, Inv, LogDet, Solve, Var, check_homonyms, declared_dims, value_dims,
                   topological)
from .functions import FUNCTIONS
from .fusion import FusedSumStep, SumPlan
from .gram import gram_plan
from .indices import base_dims, check_dim_lengths, format_dims, slice_of
from .kernels import assemble, assembler
from .memory import check_allocation, fits, format_bytes, validate_limit
from .pairwise import pairwise_contraction, planned_contraction, unary_contraction
from .reductionsteps import CONDITIONED_PLANS, REDUCTION_PLANS
from .reshapesteps import STRUCTURE_PLANS, bind_composites
from .pricing import replay
from .printing import short
from .progress import Progress, delay_for, validate_progress
from .reuse import reuse_pairs
from .select import SELECTION_PLANS, bind_selections
from .simplify import as_expr
from .passes import run_passes
from .records import explain_text
from .specialise import MAX_SIGNATURES, PLAN_FILENAME, Specialised, signature
from .annotations import Arrays, Backend, Chunks, Conditioning, Exprs, Functions, MemoryLimit, Singular, Values

__all__ = ["compile", "evaluate", "Program"]

# keywords of evaluate(): a symbol with one of these names takes its value from the dict argument
RESERVED = ("functions", "backend", "singular", "memory_limit", "chunks", "conditioning", "progress")


# ---------------------------------------------------------------- steps

def _path_search(operands):
    """opt_einsum's dynamic programming finds the cheapest order (its "auto" picks a greedy one
    beyond four operands that can build a k·n·k intermediate where n·k suffices); past a dozen
    operands its search time grows, and "auto" is used."""
    return "dp" if operands <= 12 else "auto"


NAIVE_LOOP_LIMIT = 4096  # index-space size below which numpy's direct einsum loop beats planning
NAIVE_LOOP_OPERANDS = 16  # numpy's einsum takes at most 63 operands (and is slow on many)


def _contraction(equation, shapes):
    """A function contracting arrays of ``shapes``: planned pairwise contractions on opt_einsum's
    path (pairwise.py: BLAS), or for tiny index spaces numpy's single einsum loop, which skips the
    per-pair calls."""
    sizes = {}
    for term, shape in zip(equation.split("->")[0].split(","), shapes):
        sizes.update(zip(term, shape))
    if math.prod(sizes.values()) <= NAIVE_LOOP_LIMIT and len(shapes) <= NAIVE_LOOP_OPERANDS \
            and equation.isascii():   # past 52 indices the letters are ones np.einsum does not read
        return functools.partial(np.einsum, equation)
    pairwise = pairwise_contraction(equation, shapes) if len(shapes) == 2 else None
    if pairwise is not None:
        return pairwise
    return planned_contraction(equation, shapes, _path_search(len(shapes)))


class _EinsumStep(backends.EinsumParts):
    def __init__(self, node):
        super().__init__(node)
        self._contractions = {}
        self._lock = threading.Lock()
        self.gram = gram_plan([node.operands[k] for k in self.tensor_args], [node.subscripts[k] for k in self.tensor_args],
                              self.core_ids, self._contract)
        self.plain = bool(self.tensor_args) and tuple(self.out_ids) == tuple(self.core_ids)

    def describe(self):
        return f"einsum {self.equation!r}" + (f" × {self.coeff:g}" if self.coeff != 1.0 else "") + \
            (" as a Gram product" if self.gram else "")

    def _contract(self, equation, arrays):
        if len(arrays) == 1:
            return unary_contraction(equation)(arrays[0])
        return self.contraction_for(equation, tuple(a.shape for a in arrays))(*arrays)

    def contraction_for(self, equation, shapes):
        """The planned contraction of arrays of ``shapes`` (cached, at most 32 per step)."""
        key = (equation,) + tuple(shapes)
        contraction = self._contractions.get(key)
        if contraction is None:
            with self._lock:
                contraction = _contraction(equation, key[1:])
                if len(self._contractions) < 32:
                    self._contractions[key] = contraction
        return contraction

    def bind(self, sizes, dtype):
        """This step as a function of its operands at ``sizes`` (specialise.py): the contraction
        planned, the factor and the output's sizes fixed; the operations are those of __call__."""
        if not self.tensor_args:
            return None
        shapes = [tuple(sizes[self.id_dims[i]] for i in self.subscripts[k]) for k in self.tensor_args]
        tensor_args, scalar_args, plain = self.tensor_args, self.scalar_args, self.plain
        constant = None if scalar_args else self.factor((), sizes)
        write_out = None if plain else assembler(self.core_ids, self.out_ids, {i: sizes[d] for i, d in enumerate(self.id_dims)},
                                             dtype)
        if self.gram is not None:
            gram = self.gram.bind(shapes, self._plan)

            def run_gram(*operands):
                core = gram([operands[k] for k in tensor_args],
                            constant if constant is not None else self.factor(operands, sizes))
                return core if plain else write_out(core)
            return run_gram
        contraction = self._plan(self.equation, shapes)
        if constant is not None and isinstance(constant, float) and constant == 1.0 and plain and \
                tensor_args == list(range(len(tensor_args))):
            return contraction   # a plain product of the operands as they come: the contraction itself
        smallest = min(range(len(shapes)), key=lambda k: math.prod(shapes[k]))

        def run(*operands):
            factor = constant if constant is not None else self.factor(operands, sizes)
            arrays = [operands[k] for k in tensor_args]
            if not (isinstance(factor, float) and factor == 1.0):
                arrays[smallest] = arrays[smallest] * factor
            core = contraction(*arrays)
            return core if plain else write_out(core)
        return run

    def _plan(self, equation, shapes):
        return unary_contraction(equation) if len(shapes) == 1 else self.contraction_for(equation, shapes)

    def parts(self, args, sizes):
        """(core, factor): the contraction, with the scalar factor folded into its smallest operand."""
        factor = self.factor(args, sizes)
        if not self.tensor_args:
            return None, factor
        arrays = [args[k] for k in self.tensor_args]
        if self.gram is not None:
            return self.gram(arrays, factor), 1.0
        if not (isinstance(factor, float) and factor == 1.0):
            smallest = min(range(len(arrays)), key=lambda k: arrays[k].size)
            arrays[smallest] = arrays[smallest] * factor
        return self._contract(self.equation, arrays), 1.0

    def __call__(self, args, sizes, dtype):
        core, factor = self.parts(args, sizes)
        if self.plain and factor == 1.0:   # no delta, broadcast or factor to write: the core is the value
            return core
        id_sizes = {i: sizes[d] for i, d in enumerate(self.id_dims)}
        return assemble(core, self.core_ids, self.out_ids, id_sizes, factor, dtype)


class UserFunctionCall:
    """A user's implementation of ``function``: whatever it raises becomes an EvaluationError naming
    the function and the sub-expression it was applied in (``where``: the node, printed only on
    failure, or its label), with the original exception chained. It pickles (for dask's workers)
    with the label instead of the node, as OnSingular does."""

    def __init__(self, impl, function, where):
        self.impl, self.function, self.where = impl, function, where

    def label(self):
        return self.where if isinstance(self.where, str) else short(self.where, 80)

    def __reduce__(self):
        return (UserFunctionCall, (self.impl, self.function, self.label()))

    def __call__(self, x):
        try:
            return self.impl(x)
        except Exception as exc:   # noqa: BLE001 - any failure of user code is reported as its own
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise EvaluationError(f"function {self.function} raised {reason} (evaluating {self.label()})") from exc


class _ApplyStep:
    def __init__(self, node, backend):
        self.fn = node.fn
        self.backend = backend
        self.node = node   # printed only when its user function fails: printing every step is quadratic

    def describe(self):
        return f"elementwise {self.fn.display}"

    def bind(self, sizes, place):
        """A built-in function's step at fixed sizes (specialise.py); a user function's is looked up per call."""
        if self.fn.user or self.backend.name != "numpy":
            return None
        impl, display = self.backend.function(self.fn), self.fn.display

        def run(arg):
            result = np.asarray(impl(arg))
            if result.dtype.kind not in "biuf":
                raise EvaluationError(f"function {display} returned {type(result).__name__} {result!r:.40}, "
                                      "not an array of numbers")
            if result.shape == arg.shape:
                return result
            if result.shape == ():   # a constant, as a derivative like h'(x) = 1 may be written
                return arg * 0 + result
            raise EvaluationError(f"function {display} returned an array of shape {result.shape} for an argument "
                                  f"of shape {arg.shape}: an elementwise function must keep its argument's shape")
        return run

    def __call__(self, args, sizes, dtype, functions=None):
        impl = _implementation(self.fn, functions, self.backend)
        arg = args[0]
        if self.fn.user and isinstance(arg, np.ndarray) and arg.flags.writeable:
            arg = arg.view()   # user code may write into its argument: never into the caller's array
            arg.flags.writeable = False
        if self.fn.user:
            impl = UserFunctionCall(impl, self.fn.display, self.node)
        with self.backend.quiet():
            result = self.backend.apply(impl, arg)
        if self.backend.lazy:
            return result
        if not (hasattr(result, "shape") or isinstance(result, numbers.Real)) or \
                (isinstance(result, np.ndarray) and result.dtype.kind not in "biuf"):
            raise EvaluationError(f"function {self.fn.display} returned {type(result).__name__} {result!r:.40}, "
                                  "not an array of numbers")
        shape, wanted = tuple(getattr(result, "shape", ())), tuple(args[0].shape)
        if shape == wanted:
            return result
        if shape == ():   # a constant, as a derivative like h'(x) = 1 may be written
            return args[0] * 0 + result
        raise EvaluationError(f"function {self.fn.display} returned an array of shape {shape} for an argument of "
                              f"shape {wanted}: an elementwise function must keep its argument's shape")


def _implementation(fn, functions, backend):
    if functions and fn.user:   # a built-in keeps its own: a user function may share its name
        for name in fn.ascii_names:
            if name in functions:
                return _as_callable(functions[name], fn, 0)
        given = functions.get(fn.base)
        if given is not None:
            impl = _as_callable(given, fn, fn.order)
            if impl is not None:
                return impl
    if fn.numeric is None:
        raise EvaluationError(f"function {fn.display} has no numeric implementation: bind one with "
                              f"td.elementwise({fn.base!r}, fn, deriv) or pass functions={{{fn.ascii_names[1]!r}: ...}} "
                              f"(or functions={{{fn.base!r}: [f, f', f'', ...]}})")
    return backend.function(fn)


def _as_callable(given, fn, order):
    if hasattr(given, "numeric") and not callable(getattr(given, "__call__", None)):
        given = given.numeric
    if isinstance(given, (list, tuple)):
        if order >= len(given):
            return None
        if not callable(given[order]):
            raise EvaluationError(f"functions[{fn.base!r}][{order}] must be callable, got {given[order]!r:.40}")
        return given[order]
    if not callable(given):
        raise EvaluationError(f"functions[{fn.base!r}] must be a callable or a list of callables (f, f', ...), "
                              f"got {type(given).__name__} {given!r:.40}")
    if order == 0:
        if hasattr(given, "numeric") and hasattr(given, "display"):
            return given.numeric
        return given
    return None


class _MatrixStep:
    """inv, det, logdet (through slogdet) or a linear solve, by the backend, with the singular-matrix policy."""

    OPERATIONS = {Inv: ("inv", "arg"), Det: ("det", "arg"), LogDet: ("logdet", "arg"), Solve: ("solve", "matrix")}

    def __init__(self, node, backend, singular, conditioning="warn"):
        kind, matrix = self.OPERATIONS[type(node)]
        self.kind = kind
        self.operation = getattr(backend, kind)
        self.on_singular = backends.OnSingular(singular, "inv" if kind == "solve" else kind, getattr(node, matrix),
                                               conditioning)

    def describe(self):
        return self.kind

    def bind(self, sizes, place):
        operation, on_singular = self.operation, self.on_singular
        return lambda *args: operation(*args, on_singular)

    def __call__(self, args, sizes, dtype):
        return self.operation(*args, self.on_singular)


# ---------------------------------------------------------------- planning rewrites

def _program(outputs, single, options=None, nesting=None):
    program = Program(outputs, single, **(options or {}))
    program.nesting = nesting
    return program


def _fusable_terms(nodes, outputs):
    """Einsum terms of sums that nothing else uses: the sum splits them into factors (fusion.py)."""
    uses = {}
    for node in nodes:
        for child in node.children():
            uses[child] = uses.get(child, 0) + 1
    fused = set()
    for node in nodes:
        if isinstance(node, Add):
            fused.update(t for t in node.terms
                         if isinstance(t, Einsum) and uses.get(t) == 1 and t not in outputs)
    return fused


# ---------------------------------------------------------------- programs

class Program:
    """A compiled evaluation plan, made by ``td.compile``; call it with the values of the symbols.

    Calling a program takes the values by keyword (``f(X=..., y=...)``) or as one dict keyed by
    names or symbols, plus ``functions=`` for abstract user functions, exactly as ``td.evaluate``
    does, and returns an array (a tuple for a compiled list). A program is reusable, thread-safe to
    call and picklable; ``print(program)`` lists its steps with their einsums and shapes.

    Parameters
    ----------
    exprs : tuple of Expr
        The expressions (use ``td.compile`` rather than this constructor).
    single : bool
        Whether a call returns one array rather than a tuple.
    backend, singular, memory_limit, chunks, conditioning, progress
        As for ``td.compile``.

    Attributes
    ----------
    specialisations : dict or None
        The program specialised to each signature of values it was called with (names, shapes
        and dtypes; at most 16, made on the first call with each; tensordiff/specialise.py); None
        where the backend is not numpy. Setting it to None runs the step loop instead.

    Raises
    ------
    EvaluationError
        When called: as ``td.evaluate``.
    ShapeError
        When called: as ``td.evaluate``.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    >>> q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    >>> f = td.compile([td.diff(q, X), td.diff(q, X, order=2)])
    >>> rng = np.random.default_rng(0)
    >>> J_value, H_value = f(X=rng.normal(size=(20, 5)), y=rng.normal(size=20), lam=0.5)
    >>> J_value.shape, H_value.shape
    ((5, 20, 5), (5, 20, 5, 20, 5))
    >>> print(td.compile(X.T @ y))
    <tensordiff program: 3 steps, inputs ['X', 'y']>
      %2 = einsum 'ba,b->a'(%0, %1)  shape (p)
    """

    def __init__(self, exprs, single, backend=None, singular="raise", memory_limit="auto", chunks=None,
                 conditioning="warn", progress=None):
        self.progress = validate_progress(progress)
        self.outputs = tuple(exprs)
        self.single = single
        self.nesting = None   # compile's record of nested tuples of outputs (td.hessian(f, [x, y]))
        check_homonyms(*self.outputs)   # values bind by name: two symbols of one name could not both be bound
        self.symmetric = {node.name: node for node in topological(self.outputs)
                          if isinstance(node, Var) and node.symmetric}
        self.follows_inputs = backend is None   # a call with torch/jax/cupy/dask arrays runs a twin on theirs
        self.twins = {}
        self.backend = backends.get_backend("numpy" if backend is None else backend)
        if not (isinstance(singular, str) and singular in backends.SINGULAR_POLICIES):
            raise EvaluationError(f"singular must be one of {', '.join(map(repr, backends.SINGULAR_POLICIES))}, "
                                  f"got {singular!r:.60}")
        if not (isinstance(conditioning, str) and conditioning in conditioning_checks.POLICIES):
            raise EvaluationError(f"conditioning must be one of {', '.join(map(repr, conditioning_checks.POLICIES))}, "
                                  f"got {conditioning!r:.60}")
        self.conditioning = conditioning
        if chunks is not None and not self.backend.lazy:
            raise EvaluationError(f"chunks= is for backend=\"dask\", not {backend!r}" if backend is not None else
                                  "chunks= is for backend=\"dask\": name it (no backend was named)")
        self.singular, self.chunks = singular, chunks
        self.memory_limit = validate_limit(memory_limit, "memory_limit")
        # signature of the values -> the program specialised to it (specialise.py); numpy only
        self.specialisations = {} if self.backend.name == "numpy" else None
        self._prices = {}   # (sizes, itemsize) -> [a bound on the peak, replay() once the bound is over the limit]
        numpy = self.backend.name == "numpy"
        planned, self.index_checks = run_passes(self.outputs)
        planned = tuple(planned)
        base = topological(planned)
        split = _fusable_terms(base, planned)
        if numpy:
            sums = {node: SumPlan(node, split) for node in base if isinstance(node, Add)}
        else:
            sums = {node: backends.SumStep(node, self.backend, [t in split for t in node.terms])
                    for node in base if isinstance(node, Add)}

        # products that read a pair another step computes (reuse.py); found on the program's nodes
        self.reads = reuse_pairs(topological(planned, children=lambda n: sums[n].children if n in sums
                                             else n.children()))

        def children(node):
            return sums[node].children if node in sums else self.reads.get(node, node).children()

        nodes = topological(planned, children=children)
        self.nodes = nodes
        # the dims _peak_bound prices, as plain tuples: torch.compile traces a call and cannot hash nodes
        self.bound_dims = ([node.shape for node in nodes],
                           [self.reads.get(node, node).dims for node in nodes if isinstance(node, Einsum)])
        slot = {node: k for k, node in enumerate(nodes)}
        self.output_slots = tuple(slot[e] for e in planned)
        self.symbols = {node.name: node.dims for node in nodes if isinstance(node, Var)}
        self.user_function_names = {name for node in nodes if isinstance(node, Apply) and node.fn.user
                                    for name in (node.fn.base, *node.fn.ascii_names)}
        dims = set()
        for node in nodes:
            dims.update(node.shape)
            if isinstance(node, Einsum):
                dims.update(node.dims)
            for term in node.terms if isinstance(node, Add) else ():   # a constant term is no node: size(m)
                dims.update(term.dims if isinstance(term, Einsum) else term.shape)
        dims.update(dim for dim, _ in self.index_checks)   # a checked selection planned away (a zero)
        for dim in list(dims):   # a sliced dim's size follows from its base's: "n[2:5]" needs n
            while (parts := slice_of(dim)) is not None:
                dim = parts[0]
                dims.add(dim)
        dims.update(base for dim in list(dims) for base in base_dims(dim))   # n·m and n+m need n and m
        self.dims = dims
        last_use = {}
        inputs = {}
        for k, node in enumerate(nodes):
            inputs[node] = tuple(slot[c] for c in children(node))
            for s in inputs[node]:
                last_use[s] = k
        keep = set(self.output_slots)
        self.steps = []
        for k, node in enumerate(nodes):
            args = inputs[node]
            release = tuple(s for s in set(args) if last_use.get(s) == k and s not in keep)
            if node in sums:
                plan = FusedSumStep(node, sums[node]) if numpy else sums[node]
            elif isinstance(node, Einsum) and not numpy:
                plan = backends.EinsumStep(self.reads.get(node, node), self.backend)
            elif type(node) in _MatrixStep.OPERATIONS:
                plan = _MatrixStep(self.reads.get(node, node), self.backend, singular, conditioning)
            elif type(node) in CONDITIONED_PLANS:
                plan = CONDITIONED_PLANS[type(node)](self.reads.get(node, node), self.backend, singular, conditioning)
            else:
                plan = _PLANS[type(node)](self.reads.get(node, node), self.backend, singular)
            self.steps.append((node, plan, args, release))

    def __reduce__(self):
        options = dict(backend=None if self.follows_inputs else self.backend.name, singular=self.singular,
                       memory_limit=self.memory_limit, chunks=self.chunks, conditioning=self.conditioning,
                       progress=self.progress)
        return (_program, (self.outputs, self.single, options, self.nesting))

    def __repr__(self) -> str:
        lines = [f"<tensordiff program: {len(self.steps)} steps, inputs {sorted(self.symbols)}>"]
        for k, (node, step, args, _) in enumerate(self.steps):
            if isinstance(node, Var):
                continue
            what = step.describe() if hasattr(step, "describe") else type(node).__name__.lower()
            lines.append(f"  %{k} = {what}({', '.join('%' + str(a) for a in args)})  shape {format_dims(node.shape)}")
        return "\n".join(lines)

    def explain(self, dtype: DTypeLike = "float64", **sizes: int) -> str:
        """The plan, a line per step: what it computes, the pass that made it, and its price.

        Each line gives the step's operation and the steps it reads (as ``repr`` does), its shape,
        and in brackets the planning pass that made it (tensordiff/passes.py lists them in order;
        "as derived" is a node of the expression as differentiated). Given every dim's size, each
        step also shows its FLOPs, the bytes it writes and its temporaries, and a last line the
        totals and peak memory that ``td.cost`` reports.

        Parameters
        ----------
        dtype : {"float64", "float32"}, optional
            The dtype to price the bytes in (default "float64").
        **sizes : int
            The size of every dim, by name (none: the plan without prices).

        Returns
        -------
        str
            The plan, one line per step.

        Raises
        ------
        EvaluationError
            If some sizes are given but a dim has none, or a size is not a non-negative int.

        Examples
        --------
        >>> import tensordiff as td
        >>> A, x = td.matrix("A", "n n"), td.vector("x", "n")
        >>> print(td.compile(td.inv(A) @ x).explain(n=100))   # doctest: +ELLIPSIS
        <tensordiff plan: 3 steps, inputs ['A', 'x']>
          passes, in order: composite structures, common factors, inverse→solve, selections, ...
          made steps here: inverse→solve
          %2 = solve(%0, %1)  shape (n) = (100,)  6.87e+05 flops, 800 B + 78.9 KiB temporary  [inverse→solve]
          total 6.87e+05 flops; peak 159 KiB (inputs 78.9 KiB included)
        """
        if not sizes:
            return explain_text(self)
        check_dim_lengths(sizes, self.dims, "size", least=0)
        sizes = dict(sizes)
        bind_selections(self.dims, self.index_checks, sizes)
        missing = sorted(d for d in self.dims - set(sizes) if slice_of(d) is None)
        if missing:
            raise EvaluationError(f"no size for dim(s) {', '.join(map(repr, missing))}: pass them as keywords, "
                                  f"e.g. program.explain({missing[0]}=100)")
        return explain_text(self, sizes, np.dtype(dtype).itemsize)

    def __call__(self, /, *args: Values, functions: Optional[Functions] = None, **values: Any) -> Arrays:   # '/': a symbol may be called self
        try:
            return self._run(*args, functions=functions, **values)
        except MemoryError as exc:   # an array library failed to allocate: name the step that asked
            raise EvaluationError(self._out_of_memory(exc)) from exc

    def _run(self, /, *args, functions=None, **values):
        if args:
            if len(args) > 1 or not isinstance(args[0], dict):
                raise EvaluationError("pass values as keywords or as one dict {name: array}")
            values = {**_by_name(args[0]), **values}
        if self.follows_inputs:
            library = backends.infer_backend(values)
            if library != "numpy":
                return self._twin(library)(values, functions=functions)   # one dict: any symbol name
        if functions is not None and not isinstance(functions, dict):
            raise EvaluationError(f"functions must be a dict {{name: implementation}}, got {type(functions).__name__}")
        built_in = sorted(name for name in functions or () if (name in FUNCTIONS or name == "pow")
                          and name not in self.user_function_names)
        if built_in:   # a different tanh would disagree with tanh's derivative rule
            raise EvaluationError(f"functions= implements user functions (td.elementwise); {built_in[0]!r} is "
                                  "built in and keeps its own implementation")
        delay = delay_for(self.progress)
        key = signature(values, self.dims) if self.specialisations is not None and delay is None else None
        if key is not None:
            return self._run_specialised(key, values, functions)
        arrays, sizes, dtype = self._bind(values)
        if not self.backend.lazy:
            self._check_memory(sizes, dtype)
        arrays, place = self.backend.prepare(arrays, sizes, dtype, self)
        results = [None] * len(self.steps)
        report = None if delay is None else \
            Progress(builtins.sum(not isinstance(node, Var) for node, *_ in self.steps), delay)
        with self.backend.quiet(), report or contextlib.nullcontext():   # inf/nan: IEEE, quietly
            for k, (node, step, arg_slots, release) in enumerate(self.steps):
                if isinstance(node, Var):
                    results[k] = arrays[node.name]
                    continue
                if report is not None:
                    report.step(step.describe() if hasattr(step, "describe") else type(node).__name__.lower())
                operands = [results[s] for s in arg_slots]
                if isinstance(node, Apply):
                    results[k] = step(operands, sizes, place, functions)
                else:
                    results[k] = step(operands, sizes, place)
                for s in release:
                    results[s] = None
        outputs = []
        for s in self.output_slots:
            outputs.append(self.backend.finish(results[s], place, outputs, arrays.values()))
        return outputs[0] if self.single else _nest(tuple(outputs), self.nesting)

    def _run_specialised(self, key, values, functions):
        """A call through the program specialised to the values' signature ``key`` (specialise.py),
        made on the first call with that signature."""
        special = self.specialisations.get(key)
        if special is None:
            arrays, sizes, dtype = self._bind(values)
            self._check_memory(sizes, dtype)
            arrays, place = self.backend.prepare(arrays, sizes, dtype, self)
            special = Specialised(self, values, sizes, dtype, place)
            special.bound = self._peak_bound(sizes, np.dtype(dtype).itemsize)   # _check_memory's first test
            if len(self.specialisations) >= MAX_SIGNATURES:
                self.specialisations.clear()
            self.specialisations[key] = special
        else:
            arrays, sizes, dtype = special.arrays(values), special.sizes, special.dtype
            if not fits(special.bound, self.memory_limit):
                self._check_memory(sizes, dtype)
        with self.backend.quiet():   # inf/nan: IEEE, quietly
            results = special.run(arrays, functions)
        outputs = []
        for result in results:
            outputs.append(self.backend.finish(result, special.place, outputs, arrays.values()))
        return outputs[0] if self.single else _nest(tuple(outputs), self.nesting)

    def _step_text(self, k, sizes):
        node, step = self.steps[k][:2]
        what = step.describe() if hasattr(step, "describe") else type(node).__name__.lower()
        shape = tuple(sizes[d] for d in node.shape)
        text = short(node, 60).lstrip(" =")
        making = f" making {text}" if "; " not in text else ""   # several bindings: too long to read
        return f"step %{k} ({what}){making} of shape {shape}"

    def _out_of_memory(self, exc):
        """The message of a MemoryError raised by an array library while _run ran (numpy's own
        linear algebra raises one with no message when its workspace cannot be allocated). The
        step is read from _run's frame in the traceback, so the run loop carries no bookkeeping."""
        run, line = None, None
        traceback = exc.__traceback__
        while traceback is not None:
            code = traceback.tb_frame.f_code
            if code is Program._run.__code__ or code is Program._run_specialised.__code__:
                run = traceback.tb_frame.f_locals
            elif code.co_filename == PLAN_FILENAME:
                line = traceback.tb_lineno
            traceback = traceback.tb_next
        if run is not None and line is not None and "special" in run:
            run = {**run, "k": run["special"].step_at(line)}
        if run is None or "sizes" not in run:   # while binding or converting the values
            return f"out of memory reading the values: {str(exc) or 'an allocation failed'}"
        sizes, dtype = run["sizes"], run["dtype"]
        if "outputs" in run:
            where = "copying the results out"
        elif run.get("k") is not None:
            where = self._step_text(run["k"], sizes)
        else:
            where = "preparing the values"
        peak = replay(self, sizes, np.dtype(dtype).itemsize) if self.backend.name == "numpy" else None
        estimate = f"; the whole evaluation needs about {format_bytes(peak.peak_bytes - peak.input_bytes)} at its " \
            f"peak" if peak is not None else ""
        reason = str(exc) or "a library could not allocate its workspace"   # numpy's linalg gives no message
        return (f"out of memory in {where}: {reason}{estimate}. Evaluate it lazily in "
                "chunks with backend=\"dask\", or ask for a product (td.hvp, td.jvp, td.vjp) or the entries "
                "you need instead of the full tensor; td.set_memory_limit lowers the limit under which "
                "evaluations are refused before they start")

    def _peak_bound(self, sizes, itemsize):
        """A cheap bound above the peak replay() finds: every node alive at once, room for LAPACK's
        copies and a sum's partial products (2x the nodes), and twice the largest index space of a
        contraction (its intermediates and their transposed copies)."""
        # lists of plain dims, not generators over nodes: torch.compile traces this call
        shapes, contractions = self.bound_dims
        nodes = builtins.sum([math.prod([sizes[d] for d in shape]) for shape in shapes])
        spaces = [math.prod([sizes[d] for d in dims]) for dims in contractions]
        return (3 * nodes + 2 * builtins.max(spaces, default=0)) * itemsize

    def _twin(self, library):
        """This program planned for ``library``'s arrays (made on first use)."""
        twin = self.twins.get(library)
        if twin is None:
            twin = self.twins[library] = Program(self.outputs, self.single, backend=library, singular=self.singular,
                                                 memory_limit=self.memory_limit, conditioning=self.conditioning,
                                                 progress=self.progress)
            twin.nesting = self.nesting
        return twin

    def _check_memory(self, sizes, dtype):
        """Refuse, before allocating anything, a run whose peak (results, intermediates and
        temporaries; pricing.py) is over the memory limit. The inputs are already allocated."""
        itemsize = _itemsize(dtype)
        key = (tuple(sorted(sizes.items())), itemsize)
        known = self._prices.get(key)
        if known is None:
            if len(self._prices) > 64:
                self._prices.clear()
            known = self._prices[key] = [self._peak_bound(sizes, itemsize), None]
        if fits(known[0], self.memory_limit):
            return
        if known[1] is None:
            known[1] = replay(self, sizes, itemsize)
        price = known[1]
        shapes = [tuple(sizes[d] for d in self.nodes[s].shape) for s in self.output_slots]
        result_bytes = builtins.sum([math.prod(shape) for shape in shapes]) * itemsize   # a list: torch.compile traces it

        def describe():
            at = self._step_text(price.peak_step, sizes) if price.peak_step is not None else "copying the results out"
            results = ", ".join(f"shape {shape}" for shape in shapes)
            return f"at its peak, in {at}; the result{'s' if len(shapes) > 1 else ''}: {results}, {dtype}, " \
                f"{format_bytes(result_bytes)}"
        check_allocation(price.peak_bytes - price.input_bytes, describe, self.memory_limit)

    def _bind(self, values):
        arrays, sizes, origin, dtypes = {}, {}, {}, []
        given_sizes = {}
        for name, value in values.items():
            dims = self.symbols.get(name)
            if dims is None and name in self.dims and (isinstance(value, numbers.Integral)
                                                       or declared_dims(name) is None):
                # the size of a dim no value has: eye("n"), n=4 (a float for a symbol so named is its value)
                given_sizes[name] = _dim_size(name, value)
                continue
            if dims is None:
                dims = declared_dims(name)
                if dims is None:
                    raise EvaluationError(f"value given for {name!r}, which is no symbol of this expression "
                                          f"(its symbols: {', '.join(sorted(self.symbols)) or 'none'})")
                dims = value_dims(name, self.dims, getattr(value, "ndim", None))
                if dims is None:   # several symbols of that name, none of them this expression's
                    continue
            array = self.backend.to_array(name, value)
            if array.ndim != len(dims):
                raise ShapeError(f"value for {name!r} has shape {array.shape} but the symbol has dims "
                                 f"{format_dims(dims)} ({len(dims)} axes)")
            for axis, (dim, size) in enumerate(zip(dims, array.shape)):
                if dim in sizes and sizes[dim] != size:
                    raise ShapeError(f"dim {dim!r} is {sizes[dim]} in {origin[dim]} but {size} in axis {axis} of {name!r}")
                sizes[dim] = size
                origin.setdefault(dim, f"axis {axis} of {name!r}")
            if not isinstance(value, (int, float)):
                dtypes.append(array.dtype)
            arrays[name] = array
            if name in self.symmetric and not self.backend.lazy:
                require_symmetric(self.symmetric[name], array)
        for dim, size in given_sizes.items():
            if sizes.setdefault(dim, size) != size:
                raise ShapeError(f"dim {dim!r} is given as {size} but is {sizes[dim]} in {origin[dim]}")
        missing = sorted(set(self.symbols) - set(arrays))
        if missing:
            raise EvaluationError("no value for symbol(s) " + ", ".join(
                f"{m!r} (dims {format_dims(self.symbols[m])})" for m in missing))
        bind_selections(self.dims, self.index_checks, sizes)
        bind_composites(self.dims, self.nodes, sizes)
        unbound = sorted(d for d in self.dims - set(sizes) if slice_of(d) is None)
        if unbound:
            raise EvaluationError(f"the size of dim(s) {', '.join(map(repr, unbound))} is unknown: pass a value "
                                  "for a symbol that has them")
        return arrays, sizes, self.backend.result_type(dtypes)


def _dim_size(dim, value):
    """A dim's size passed by name: an int ≥ 0 (a numpy integer too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise EvaluationError(f"the size of dim {dim!r} must be an int >= 0, got {value!r:.40}")
    return int(value)


def require_symmetric(node, array):
    """Refuse a value of the symmetric symbol ``node`` that is not symmetric, to rounding: the
    largest |S - Sᵀ| must be within √eps of the largest |S| (1.5e-8 in float64, 3.5e-4 in float32).

    A value with NaN entries is not checked (its results are NaN, quietly, as numpy's), nor is
    one being traced (jax.jit), which cannot be inspected."""
    try:
        gap = abs(array - array.T)
        largest, worst = float(abs(array).max()), float(gap.max())
    except TypeError:   # a jax tracer has no concrete value to compare
        return
    if largest != largest or worst != worst:
        return
    itemsize = getattr(array.dtype, "itemsize", 8)
    tolerance = math.sqrt({2: 2.0 ** -10, 4: 2.0 ** -23}.get(itemsize, 2.0 ** -52)) * largest
    if worst > tolerance:
        full = np.asarray(gap.tolist(), dtype=float)   # only to name the entry: numpy, whatever the backend
        where = tuple(int(k) for k in np.unravel_index(int(np.argmax(full)), full.shape))
        raise EvaluationError(f"the value of the symmetric symbol {node.name!r} {format_dims(node.dims)} is not "
                              f"symmetric: |{node.name} - {node.name}ᵀ| is {worst:.3g} at {where}, above the "
                              f"tolerance {tolerance:.3g} (√eps of its largest entry); pass (A + A.T)/2, or "
                              f"declare {node.name!r} without symmetric=True")


def _flatten_outputs(items):
    """Nested lists/tuples of expressions as a flat tuple and the nesting to rebuild them with."""
    flat = []

    def walk(item):
        if isinstance(item, (list, tuple)):
            return tuple(walk(x) for x in item)
        flat.append(as_expr(item))
        return len(flat) - 1
    nesting = walk(items)
    return tuple(flat), nesting


def _nest(outputs, nesting):
    if nesting is None:
        return outputs
    return tuple(_nest(outputs, n) if isinstance(n, tuple) else outputs[n] for n in nesting)


_PLANS = {
    Var: lambda node, backend, singular: None,
    Einsum: lambda node, backend, singular: _EinsumStep(node),
    Apply: lambda node, backend, singular: _ApplyStep(node, backend),
    Inv: _MatrixStep,
    Det: _MatrixStep,
    LogDet: _MatrixStep,
    Solve: _MatrixStep,
    **SELECTION_PLANS,
    **REDUCTION_PLANS,
    **STRUCTURE_PLANS,
}


def compile(exprs: Exprs, *, backend: Optional[Backend] = None, singular: Singular = "raise",
            memory_limit: MemoryLimit = "auto", chunks: Chunks = None,
            conditioning: Conditioning = "warn", progress: Optional[bool] = None) -> Program:
    """Plan the evaluation of one expression or several, once, for calls with many values.

    Nested lists or tuples, such as ``td.hessian(f, [x, y])``'s blocks, come back nested alike;
    every output is planned in one program, so their shared subexpressions are computed once.

    The plan computes each shared subexpression once, contracts along opt_einsum's path with each
    pair of operands as one batched matmul, runs inverses that are applied as linear solves, and
    writes sums of derivative terms in one pass. ``print(program)`` shows its steps.

    Parameters
    ----------
    exprs : Expr or list of Expr
        One expression (the program returns an array) or a list (it returns a tuple, sharing the
        work common to them).
    backend : {None, "numpy", "dask", "torch", "jax", "cupy"}, optional
        The array library. By default (None) each call follows its inputs: torch tensors in, torch
        out (likewise jax, cupy, dask); numpy arrays and numbers give numpy; two libraries in one
        call are an ``EvaluationError`` (docs/interop.md). A named library's program takes and
        returns its arrays (numpy arrays and numbers are converted). Built-in functions run as the library's own;
        functions you bind (``td.elementwise``, ``functions=``) get its arrays (with dask, numpy
        blocks). With "dask" the result is a lazy dask array computed by the active scheduler (a
        ``dask.distributed`` Client if there is one). Each library is imported only when asked for.
    singular : {"raise", "nan"}, optional
        "raise" (default) makes inv, logdet and solve of a singular matrix an ``EvaluationError``
        naming it; "nan" gives NaN inverses and -inf logdets (det is 0 either way). Traced
        (jax.jit/vmap/grad, torch.compile), a singular matrix always takes the NaN path.
    memory_limit : int, None or "auto", optional
        The most memory, in bytes, one evaluation may allocate at its peak (results, intermediates
        and temporaries); an evaluation above it is refused before any work. "auto" (default)
        follows ``td.set_memory_limit``, which is half the available memory unless set; None lifts
        the limit.
    chunks : int, dict or str, optional
        For ``backend="dask"`` only: the chunk length of every dim (an int), per dim
        (``{dim: length}``), or a size such as ``"64MiB"`` that every block must fit (default:
        dask's ``array.chunk-size``).
    conditioning : {"warn", "ignore", "raise"}, optional
        "warn" (default) emits ``td.IllConditionedWarning`` when the reciprocal condition estimate
        of a matrix that inv, solve, det, logdet or cholesky factor is below the machine epsilon of its
        dtype; "raise" makes it an ``EvaluationError``; "ignore" skips the estimate (see
        docs/reliability.md).
    progress : bool or None, optional
        True shows each call's progress on stderr (a tqdm bar when tqdm is installed, else a plain
        line); False or None (default) is silent, except that None follows the command line's
        ``--progress``.

    Returns
    -------
    Program
        The compiled program: call it with the values of the symbols.

    Raises
    ------
    EvaluationError
        If ``backend`` or ``singular`` is not one of the choices, the backend's library is not
        installed, or ``chunks`` is given for a backend other than dask.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> f = td.compile(td.grad(td.logdet(X.T @ X), X))
    >>> Xv = np.random.default_rng(0).normal(size=(6, 3))
    >>> np.allclose(f(X=Xv), 2 * Xv @ np.linalg.inv(Xv.T @ Xv))
    True
    >>> value, gradient = td.compile([td.logdet(X.T @ X), td.grad(td.logdet(X.T @ X), X)])(X=Xv)
    >>> gradient.shape
    (6, 3)
    """
    single = isinstance(exprs, Expr) or not isinstance(exprs, (list, tuple))
    items = (exprs,) if single else tuple(exprs)
    nesting = None
    if any(isinstance(e, (list, tuple)) for e in items):   # td.hessian(f, [x, y]): returned nested alike
        items, nesting = _flatten_outputs(items)
    items = tuple(as_expr(e) for e in items)
    program = Program(items, single, backend=backend, singular=singular, memory_limit=memory_limit, chunks=chunks,
                      conditioning=conditioning, progress=progress)
    program.nesting = nesting
    return program


def _itemsize(dtype):
    """Bytes per entry of a numpy dtype or another library's (torch.float64 is no numpy dtype).
    The attribute is read first: under torch.compile, np.dtype(torch.float64) cannot even fail."""
    size = getattr(dtype, "itemsize", None)   # numpy dtypes, torch >= 2.1
    if isinstance(size, int):
        return size
    try:
        return np.dtype(dtype).itemsize
    except TypeError:
        return np.dtype(str(dtype).rpartition(".")[2]).itemsize


def _by_name(values):
    """A values dict keyed by names; a symbol (``{x: xv}``) stands for its name."""
    named = {}
    for key, value in values.items():
        if isinstance(key, Var):
            key = key.name
        elif not isinstance(key, str):
            raise EvaluationError(f"values are keyed by symbol names or symbols, got the key {key!r:.60}")
        named[key] = value
    return named


def evaluate(expr: Exprs, values: Optional[Values] = None, /, functions: Optional[Functions] = None, *,
             backend: Optional[Backend] = None, singular: Singular = "raise", memory_limit: MemoryLimit = "auto",
             chunks: Chunks = None, conditioning: Conditioning = "warn",
             progress: Optional[bool] = None, **kwargs: Any) -> Arrays:
    """Evaluate an expression (or a list of them) on values.

    This plans anew on each call; ``td.compile`` plans once for many calls and describes the
    options in full.

    Parameters
    ----------
    expr : Expr or list of Expr
        The expression, or a list of expressions (the result is then a tuple).
    values : dict, optional
        Values keyed by symbol name (or by the symbol itself); keywords work too.
    functions : dict, optional
        Implementations of abstract user functions (``td.elementwise("h")``): a list by derivative
        order (``{"h": [h, h_prime, ...]}``), or one callable per printed name
        (``{"h": h, "h'": h_prime}``). Built-in functions keep their own.
    backend, singular, memory_limit, chunks, conditioning, progress
        As for ``td.compile``.
    **kwargs : array_like
        The values of the symbols by name: arrays whose axes match the symbol's dims, or numbers for
        scalars. Sizes of dims are read from them; a dim that no value has (an ``eye`` nothing
        else sizes) is passed by name as an int.

    Returns
    -------
    array or tuple of arrays
        The value, as an array of the backend (numpy by default).

    Raises
    ------
    EvaluationError
        If a symbol has no value, a value is given for an unknown name, a user function has no
        implementation, a matrix is singular (with ``singular="raise"``), or the result is above
        the memory limit.
    ShapeError
        If a value's shape does not match its symbol's dims, or one dim gets two sizes.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "n")
    >>> td.evaluate(X.T @ y, X=np.ones((3, 2)), y=np.ones(3))
    array([3., 3.])
    >>> td.evaluate(X.T @ y, {"X": np.eye(2), "y": np.array([1.0, 2.0])})
    array([1., 2.])
    >>> h = td.elementwise("h")
    >>> td.evaluate(td.diff(h(y), y), y=np.array([0.0, 1.0]), functions={"h": [np.exp, np.exp]})
    array([[1.        , 0.        ],
           [0.        , 2.71828183]])
    """
    if values is not None and not isinstance(values, dict):
        raise EvaluationError(f"the second argument of evaluate must be a dict of values, got {type(values).__name__}")
    merged = {**_by_name(values or {}), **kwargs}
    program = compile(expr, backend=backend, singular=singular, memory_limit=memory_limit, chunks=chunks,
                      conditioning=conditioning, progress=progress)
    return program(merged, functions=functions)   # one dict: a symbol may be called "functions"
