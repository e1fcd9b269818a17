"""Evaluation: compile expressions into a straight-line program over numpy and opt_einsum.

``compile`` plans once: the shared graph is ordered so that each common subexpression is one
step computed once; einsum steps cache a contraction plan (opt_einsum's path, pairs run as
matmuls by ``pairwise``) per set of operand shapes;
deltas and broadcasts in an output are written by ``kernels.assemble``; logdet goes through
slogdet. A call binds dims from the arrays, refuses a dense result larger than the memory limit
before allocating anything, runs the steps, and drops each intermediate after its last use.
Other array libraries (``backend=``) run the same plan through the operations of their row in
``backends``.
"""

import builtins
import contextlib
import functools
import math
import numbers
import threading

import numpy as np

from . import backends
from .errors import EvaluationError, ShapeError
from .expr import Add, Apply, Det, Einsum, Expr, Inv, LogDet, Solve, Var, declared_dims, make, topological
from .factoring import factor_sums
from .functions import FUNCTIONS
from .fusion import FusedSumStep, SumPlan
from .gram import gram_plan
from .indices import format_dims, slice_of
from .kernels import assemble
from .memory import check_result_size, validate_limit
from .pairwise import pairwise_contraction, planned_contraction, unary_contraction
from .progress import Progress, delay_for, validate_progress
from .reuse import reuse_pairs
from .select import SELECTION_PLANS, bind_selections, plan_selections
from .simplify import as_expr, einsum_node, einsum_on, substitute

__all__ = ["compile", "evaluate", "Program"]

# keywords of evaluate(): a symbol with one of these names takes its value from the dict argument
RESERVED = ("functions", "backend", "singular", "memory_limit", "chunks", "progress")


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
        key = (equation,) + tuple(a.shape for a in arrays)
        contraction = self._contractions.get(key)
        if contraction is None:
            with self._lock:
                contraction = _contraction(equation, key[1:])
                if len(self._contractions) < 32:
                    self._contractions[key] = contraction
        return contraction(*arrays)

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


class _ApplyStep:
    def __init__(self, node, backend):
        self.fn = node.fn
        self.backend = backend

    def describe(self):
        return f"elementwise {self.fn.display}"

    def __call__(self, args, sizes, dtype, functions=None):
        impl = _implementation(self.fn, functions, self.backend)
        arg = args[0]
        if self.fn.user and isinstance(arg, np.ndarray) and arg.flags.writeable:
            arg = arg.view()   # user code may write into its argument: never into the caller's array
            arg.flags.writeable = False
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
    if functions:
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

    def __init__(self, node, backend, singular):
        kind, matrix = self.OPERATIONS[type(node)]
        self.kind = kind
        self.operation = getattr(backend, kind)
        self.on_singular = backends.OnSingular(singular, "inv" if kind == "solve" else kind, getattr(node, matrix))

    def describe(self):
        return self.kind

    def __call__(self, args, sizes, dtype):
        return self.operation(*args, self.on_singular)


# ---------------------------------------------------------------- planning rewrites

def _use_solve(outputs):
    """Replace an inverse that is only applied, once, by a linear solve.

    c · inv(A)[a,b] · rest, with a in the output and b summed (or the transpose), becomes
    solve(A, B)[a, ...] with B = c · rest contracted to (b, ...): cheaper and more accurate than
    forming inv(A). An inverse used more than once is computed once instead.
    """
    nodes = topological(outputs)
    uses = {}
    for node in nodes:
        for child in node.children():
            uses[child] = uses.get(child, 0) + 1
    mapping = {}
    for node in nodes:
        if not isinstance(node, Einsum):
            continue
        for k, op in enumerate(node.operands):
            if isinstance(op, Inv) and uses.get(op) == 1 and op not in outputs:
                replacement = _solve_form(node, k)
                if replacement is not None:
                    mapping[node] = replacement
                    break
    return [substitute(e, mapping) for e in outputs] if mapping else list(outputs)


def _solve_form(node, k):
    sub = node.subscripts[k]
    if sub[0] == sub[1]:
        return None
    elsewhere = [i for j, s in enumerate(node.subscripts) if j != k for i in s]
    for free, summed, matrix in ((sub[0], sub[1], node.operands[k].arg), (sub[1], sub[0], None)):
        if node.out.count(free) == 1 and free not in elsewhere and summed not in node.out:
            if matrix is None:
                matrix = einsum_node(1.0, (node.operands[k].arg,), ((0, 1),), (1, 0), node.operands[k].shape)
            rest_out = tuple(dict.fromkeys(i for i in node.out if i != free))
            ops = node.operands[:k] + node.operands[k + 1:]
            subs = node.subscripts[:k] + node.subscripts[k + 1:]
            kept = [i for i in range(len(node.dims)) if i != free]  # the node's own orphans stay in rhs
            rhs = einsum_on(node.coeff, ops, subs, (summed,) + rest_out, node.dims, kept)
            if len(rhs.shape) == 0:
                return None
            solved = make(Solve, matrix, rhs)
            return einsum_on(1.0, (solved,), ((free,) + rest_out,), node.out, node.dims, (free,) + rest_out)
    return None


def _program(outputs, single, options=None):
    return Program(outputs, single, **(options or {}))


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
    """A compiled evaluation plan: call it with values (keywords or one dict) for the symbols.

    >>> f = td.compile([J, H])
    >>> J_value, H_value = f(X=X_value, y=y_value, lam=0.5)
    """

    def __init__(self, exprs, single, backend=None, singular="raise", memory_limit="auto", chunks=None,
                 progress=None):
        self.progress = validate_progress(progress)
        self.outputs = tuple(exprs)
        self.single = single
        self.follows_inputs = backend is None   # a call with torch/jax/cupy/dask arrays runs a twin on theirs
        self.twins = {}
        self.backend = backends.get_backend("numpy" if backend is None else backend)
        if not (isinstance(singular, str) and singular in backends.SINGULAR_POLICIES):
            raise EvaluationError(f"singular must be one of {', '.join(map(repr, backends.SINGULAR_POLICIES))}, "
                                  f"got {singular!r:.60}")
        if chunks is not None and not self.backend.lazy:
            raise EvaluationError(f"chunks= is for backend=\"dask\", not {backend!r}" if backend is not None else
                                  "chunks= is for backend=\"dask\": name it (no backend was named)")
        self.singular, self.chunks = singular, chunks
        self.memory_limit = validate_limit(memory_limit, "memory_limit")
        numpy = self.backend.name == "numpy"
        planned, self.index_checks = plan_selections(_use_solve(factor_sums(self.outputs)))
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
        slot = {node: k for k, node in enumerate(nodes)}
        self.output_slots = tuple(slot[e] for e in planned)
        self.symbols = {node.name: node.dims for node in nodes if isinstance(node, Var)}
        dims = set()
        for node in nodes:
            dims.update(node.shape)
            if isinstance(node, Einsum):
                dims.update(node.dims)
        dims.update(dim for dim, _ in self.index_checks)   # a checked selection planned away (a zero)
        for dim in list(dims):   # a sliced dim's size follows from its base's: "n[2:5]" needs n
            while (parts := slice_of(dim)) is not None:
                dim = parts[0]
                dims.add(dim)
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
            else:
                plan = _PLANS[type(node)](self.reads.get(node, node), self.backend, singular)
            self.steps.append((node, plan, args, release))

    def __reduce__(self):
        options = dict(backend=None if self.follows_inputs else self.backend.name, singular=self.singular,
                       memory_limit=self.memory_limit, chunks=self.chunks, progress=self.progress)
        return (_program, (self.outputs, self.single, options))

    def __repr__(self):
        lines = [f"<tensordiff program: {len(self.steps)} steps, inputs {sorted(self.symbols)}>"]
        for k, (node, step, args, _) in enumerate(self.steps):
            if isinstance(node, Var):
                continue
            what = step.describe() if hasattr(step, "describe") else type(node).__name__.lower()
            lines.append(f"  %{k} = {what}({', '.join('%' + str(a) for a in args)})  shape {format_dims(node.shape)}")
        return "\n".join(lines)

    def __call__(self, /, *args, functions=None, **values):   # '/': a symbol may be called self
        if args:
            if len(args) > 1 or not isinstance(args[0], dict):
                raise EvaluationError("pass values as keywords or as one dict {name: array}")
            values = {**_by_name(args[0]), **values}
        if self.follows_inputs:
            library = backends.infer_backend(values)
            if library != "numpy":
                return self._twin(library)(functions=functions, **values)
        if functions is not None and not isinstance(functions, dict):
            raise EvaluationError(f"functions must be a dict {{name: implementation}}, got {type(functions).__name__}")
        built_in = sorted(name for name in functions or () if name in FUNCTIONS or name == "pow")
        if built_in:   # a different tanh would disagree with tanh's derivative rule
            raise EvaluationError(f"functions= implements user functions (td.elementwise); {built_in[0]!r} is "
                                  "built in and keeps its own implementation")
        arrays, sizes, dtype = self._bind(values)
        if not self.backend.lazy:
            self._check_memory(sizes, dtype)
        arrays, place = self.backend.prepare(arrays, sizes, dtype, self)
        results = [None] * len(self.steps)
        delay = delay_for(self.progress)
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
        return outputs[0] if self.single else tuple(outputs)

    def _twin(self, library):
        """This program planned for ``library``'s arrays (made on first use)."""
        twin = self.twins.get(library)
        if twin is None:
            twin = self.twins[library] = Program(self.outputs, self.single, backend=library, singular=self.singular,
                                                 memory_limit=self.memory_limit, progress=self.progress)
        return twin

    def _check_memory(self, sizes, dtype):
        """Refuse, before allocating, outputs that together exceed the memory limit."""
        shapes = [self.nodes[s].shape for s in self.output_slots]
        nbytes = builtins.sum([math.prod([sizes[d] for d in shape]) for shape in shapes]) * dtype.itemsize  # lists:
        # torch.compile traces them, not generators
        check_result_size(nbytes, lambda: ", ".join(
            f"shape {tuple(sizes[d] for d in shape)}" for shape in shapes) + f", {dtype}", self.memory_limit)

    def _bind(self, values):
        arrays, sizes, origin, dtypes = {}, {}, {}, []
        for name, value in values.items():
            dims = self.symbols.get(name)
            if dims is None:
                dims = declared_dims(name)
                if dims is None:
                    raise EvaluationError(f"value given for {name!r}, which is no symbol of this expression "
                                          f"(its symbols: {', '.join(sorted(self.symbols)) or 'none'})")
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
        missing = sorted(set(self.symbols) - set(arrays))
        if missing:
            raise EvaluationError("no value for symbol(s) " + ", ".join(
                f"{m!r} (dims {format_dims(self.symbols[m])})" for m in missing))
        bind_selections(self.dims, self.index_checks, sizes)
        unbound = sorted(d for d in self.dims - set(sizes) if slice_of(d) is None)
        if unbound:
            raise EvaluationError(f"the size of dim(s) {', '.join(map(repr, unbound))} is unknown: pass a value "
                                  "for a symbol that has them")
        return arrays, sizes, self.backend.result_type(dtypes)


_PLANS = {
    Var: lambda node, backend, singular: None,
    Einsum: lambda node, backend, singular: _EinsumStep(node),
    Apply: lambda node, backend, singular: _ApplyStep(node, backend),
    Inv: _MatrixStep,
    Det: _MatrixStep,
    LogDet: _MatrixStep,
    Solve: _MatrixStep,
    **SELECTION_PLANS,
}


def compile(exprs, *, backend=None, singular="raise", memory_limit="auto", chunks=None, progress=None):
    """Compile one expression (the program returns an array) or a list (it returns a tuple).

    >>> f = td.compile(td.grad(td.logdet(X.T @ X), X))
    >>> f(X=np.random.randn(6, 3))

    ``backend``: "numpy", "dask", "torch", "jax" or "cupy"; the program takes and
    returns that library's arrays (numpy arrays and numbers are converted). By default (None)
    each call follows its inputs: torch tensors in, torch out (likewise jax, cupy, dask);
    numpy arrays and numbers give numpy; two libraries in one call are an EvaluationError
    (docs/interop.md). Built-in functions
    run as the library's own; functions you bind (td.elementwise, functions=) get its arrays —
    with dask, numpy blocks. With "dask" the result is a lazy dask array computed by the active
    scheduler (a dask.distributed Client if there is one); ``chunks`` sets its chunk length per
    dim: an int, a dict {dim: length}, or a size such as "64MiB" that every block must fit
    (default: dask's array.chunk-size).
    ``singular``: "raise" (default) makes inv/logdet/solve of a singular matrix an
    EvaluationError naming it; "nan" gives NaN inverses, -inf logdets (det is 0 either way).
    Traced (jax.jit/vmap/grad, torch.compile), a singular matrix always takes the NaN path.
    ``memory_limit``: bytes, None or "auto" (default: td.set_memory_limit's setting, which is
    half the available memory unless set): a dense result above it is refused before any work.
    ``progress``: True shows each call's progress on stderr (a tqdm bar when tqdm is installed,
    else a plain line); False or None (default) is silent, except that None follows the command
    line's --progress (which shows evaluations that run over half a second).
    """
    single = isinstance(exprs, Expr) or not isinstance(exprs, (list, tuple))
    items = (exprs,) if single else tuple(exprs)
    items = tuple(as_expr(e) for e in items)
    return Program(items, single, backend=backend, singular=singular, memory_limit=memory_limit, chunks=chunks,
                   progress=progress)


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


def evaluate(expr, values=None, /, functions=None, *, backend=None, singular="raise", memory_limit="auto",
             chunks=None, progress=None, **kwargs):
    """Evaluate ``expr`` (or a list of expressions) on values; plans anew each call (use
    ``compile`` to plan once and call many times; it documents the other arguments).

    >>> td.evaluate(X.T @ y, X=np.ones((3, 2)), y=np.ones(3))
    array([3., 3.])
    """
    if values is not None and not isinstance(values, dict):
        raise EvaluationError(f"the second argument of evaluate must be a dict of values, got {type(values).__name__}")
    merged = {**_by_name(values or {}), **kwargs}
    program = compile(expr, backend=backend, singular=singular, memory_limit=memory_limit, chunks=chunks,
                      progress=progress)
    return program(functions=functions, **merged)
