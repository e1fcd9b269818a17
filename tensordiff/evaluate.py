"""Evaluation: ``td.compile`` and ``td.evaluate``, and the Program they make and call.

``compile`` plans once (planning.py: the steps of the program's backend, in order, each computing
one common subexpression once). A call binds dims from the values (binding.py), refuses a result
whose peak is over the memory limit before allocating anything (guard.py), runs the steps, and
drops each intermediate after its last reader. A call with numpy, torch or (untraced) jax arrays
runs the program specialised to its input shapes (``specialise``: one generated function per
signature); a lazy (dask) or traced call runs the step loop.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
from typing import Any, Optional

from . import backends
from .binding import bind_values, by_name, flatten_outputs, nest
from .callchecks import check_function_names, merged_values
from .errors import EvaluationError
from .expr import Apply, Einsum, Expr, Var, without_cycle_collection
from .functions import FUNCTIONS
from .guard import check_memory, itemsize_of, out_of_memory_message, peak_bound
from .memory import fits
from .progress import Progress, delay_for
from .simplify import as_expr
from .incremental import Incremental
from .partial import ProgramPart
from .planning import ProgramPlan
from .specialise import MAX_SIGNATURES, Specialised, signature
from .annotations import Arrays, Backend, Chunks, Conditioning, Exprs, Functions, MemoryLimit, Singular, Values

__all__ = ["compile", "evaluate", "Program"]

# keywords of evaluate(): a symbol with one of these names takes its value from the dict argument
RESERVED = ("functions", "backend", "singular", "memory_limit", "chunks", "conditioning", "progress")


# ---------------------------------------------------------------- pickling

def _program(outputs, single, options=None, nesting=None):
    program = Program(outputs, single, **(options or {}))
    program.nesting = nesting
    return program


# ---------------------------------------------------------------- programs

class Program(ProgramPlan):
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
        where the backend is lazy (dask). Setting it to None runs the step loop instead.

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

    def __reduce__(self):
        options = dict(backend=None if self.follows_inputs else self.backend.name, singular=self.singular,
                       memory_limit=self.memory_limit, chunks=self.chunks, conditioning=self.conditioning,
                       progress=self.progress)
        return (_program, (self.outputs, self.single, options, self.nesting))

    def __call__(self, /, *args: Values, functions: Optional[Functions] = None, **values: Any) -> Arrays:   # '/': a symbol may be called self
        try:
            if not args and functions is None and self.specialisations:   # the common call: skip _run's checks
                key = signature(values, self.backend, self.dims)   # None unless arrays it keys and numbers alone
                special = self.specialisations.get(key) if key is not None else None
                if special is not None and delay_for(self.progress) is None and not self.backend.compiling():
                    if special.compiled_run is not None and fits(special.bound, self.memory_limit):
                        results = special.compiled_run(values, None)   # jax.jit's: it converts and finishes
                        return results[0] if self.single else nest(results, self.nesting)
                    if not special.direct:
                        return self._run_specialised(key, values, None, special)
                    # _run_specialised's work for a signature seen before, without its frame (names as there:
                    # guard.py reads them from this frame after a MemoryError)
                    arrays, sizes, dtype = special.arrays(values), special.sizes, special.dtype
                    if not fits(special.bound, self.memory_limit):
                        check_memory(self, sizes, dtype)
                    with self.backend.quiet():   # inf/nan: IEEE, quietly
                        results = special.run(arrays, None)
                    outputs: list = []
                    special.finish(results, arrays, outputs)
                    return outputs[0] if self.single else nest(tuple(outputs), self.nesting)
            return self._run(*args, functions=functions, **values)
        except MemoryError as exc:   # an array library failed to allocate: name the step that asked
            raise EvaluationError(out_of_memory_message(self, exc, (Program.__call__.__code__, Program._run.__code__,
                                                                    Program._run_specialised.__code__))) from exc

    def _run(self, /, *args, functions=None, **values):
        if args:
            if len(args) > 1 or not isinstance(args[0], dict):
                raise EvaluationError("pass values as keywords or as one dict {name: array}")
            values = merged_values(by_name(args[0]), values)
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
        if functions:
            check_function_names(functions, self.user_function_names, self.symbols)
        delay = delay_for(self.progress)
        key = signature(values, self.backend, self.dims) if self.specialisations is not None and delay is None \
            and not self.backend.compiling() else None
        if key is not None:
            return self._run_specialised(key, values, functions)
        arrays, sizes, dtype = bind_values(self, values)
        if not self.backend.lazy:
            check_memory(self, sizes, dtype)
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
        return outputs[0] if self.single else nest(tuple(outputs), self.nesting)

    def _run_specialised(self, key, values, functions, special=None):
        """A call through the program specialised to the values' signature ``key`` (specialise.py),
        made on the first call with that signature (``special``: the one stored for ``key``)."""
        if special is None:
            special = self.specialisations.get(key)
        if special is None:
            arrays, sizes, dtype = bind_values(self, values)
            check_memory(self, sizes, dtype)
            arrays, place = self.backend.prepare(arrays, sizes, dtype, self)
            with without_cycle_collection():   # binding a deep program allocates a closure per step: no rescans meanwhile
                special = Specialised(self, values, sizes, dtype, place)
            special.bound = peak_bound(self, sizes, itemsize_of(dtype))   # check_memory's first test
            if len(self.specialisations) >= MAX_SIGNATURES:
                self.specialisations.clear()
            self.specialisations[key] = special
        else:
            arrays, sizes, dtype = special.arrays(values), special.sizes, special.dtype
            if not fits(special.bound, self.memory_limit):
                check_memory(self, sizes, dtype)
        with self.backend.quiet():   # inf/nan: IEEE, quietly
            results = special(arrays, functions) if special.compiler is not None else special.run(arrays, functions)
        outputs = []   # named before the copies: guard.py reads a MemoryError from here on as theirs
        special.finish(results, arrays, outputs)
        return outputs[0] if self.single else nest(tuple(outputs), self.nesting)

    def part(self, outputs: Any) -> ProgramPart:
        """Some of this program's outputs, running only the steps they need (``td.ProgramPart``).

        Parameters
        ----------
        outputs : int, Expr, or list of them
            Positions in the outputs (a nested compile counted flat; negative from the end) or
            the output expressions themselves; one gives an array per call, a list a tuple.

        Returns
        -------
        ProgramPart
            Callable as the program, with the values of the symbols the chosen outputs read.

        Raises
        ------
        EvaluationError
            If no output is chosen, a position is out of range, or an expression is not an output.

        Examples
        --------
        >>> import numpy as np
        >>> import tensordiff as td
        >>> x, p = td.vector("x", "n"), td.vector("p", "n")
        >>> f = td.sum(td.exp(x))
        >>> program = td.compile([f, td.hvp(f, x, p)])
        >>> program.part(0)(x=np.zeros(3))   # no p needed
        array(3.)
        """
        return ProgramPart(self, outputs)

    def incremental(self, fixed: Optional[Values] = None) -> Incremental:
        """This program for repeated calls that reuse the steps whose inputs did not change (``td.Incremental``).

        Parameters
        ----------
        fixed : dict, optional
            Values bound once ({name: array}, copied): constants that later calls leave out.

        Returns
        -------
        Incremental
            Callable as the program; ``part(outputs)`` gives some outputs sharing its kept values.

        Raises
        ------
        EvaluationError
            When called: as ``td.evaluate``, and for a value of a fixed name.

        Examples
        --------
        >>> import numpy as np
        >>> import tensordiff as td
        >>> X, w = td.matrix("X", "n k"), td.vector("w", "k")
        >>> run = td.compile(td.sum(td.exp(X @ w))).incremental({"X": np.eye(2)})
        >>> run(w=np.zeros(2)), run(w=np.zeros(2)), run.steps_run
        (array(2.), array(2.), 0)
        """
        return Incremental(self, fixed)

    def planned_for(self, library: str) -> Program:
        """This program as it runs a call with ``library``'s arrays: itself, or its twin planned for them.

        Parameters
        ----------
        library : str
            "numpy", "torch", "jax", "cupy" or "dask".

        Returns
        -------
        Program
            Itself where it was compiled for ``library`` or for numpy values; else (no backend
            named) its twin for ``library``, made on first use.

        Examples
        --------
        >>> import tensordiff as td
        >>> program = td.compile(td.vector("x", "n") * 2)
        >>> program.planned_for("numpy") is program
        True
        """
        if library == self.backend.name or not self.follows_inputs:
            return self
        return self._twin(library)

    def restricted(self, steps: list, output_slots: tuple, symbols: dict, dims: set) -> Program:
        """A program running ``steps``, a part of this plan (partial.py): a view sharing its step
        plans, with its own specialisations and memory prices; it returns a tuple of
        ``output_slots`` and binds ``symbols`` ({name: dims}) and ``dims``."""
        view = copy.copy(self)
        view.steps, view.output_slots, view.symbols, view.dims = steps, output_slots, symbols, dims
        view.nodes = [node for node, *_ in steps]
        view.symmetric = {name: node for name, node in self.symmetric.items() if name in symbols}
        view.bound_dims = ([node.shape for node in view.nodes],
                           [self.reads.get(node, node).dims for node in view.nodes if isinstance(node, Einsum)])
        view.specialisations = None if self.specialisations is None else {}
        view.prices, view.twins, view.follows_inputs = {}, {}, False
        view.single, view.nesting = False, None
        return view

    def _twin(self, library):
        """This program planned for ``library``'s arrays (made on first use)."""
        twin = self.twins.get(library)
        if twin is None:
            twin = self.twins[library] = Program(self.outputs, self.single, backend=library, singular=self.singular,
                                                 memory_limit=self.memory_limit, conditioning=self.conditioning,
                                                 progress=self.progress)
            twin.nesting = self.nesting
        return twin


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
        items, nesting = flatten_outputs(items)
    items = tuple(as_expr(e) for e in items)
    program = Program(items, single, backend=backend, singular=singular, memory_limit=memory_limit, chunks=chunks,
                      conditioning=conditioning, progress=progress)
    program.nesting = nesting
    return program



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
        scalars; nested lists or tuples of numbers are read as ``np.array`` reads them. Bools (Python's, numpy's, bool arrays) count as 1 and 0 and ints are promoted to
        float64, as numpy's arithmetic reads them. Sizes of dims are read from them; a dim that no
        value has (an ``eye`` nothing else sizes) is passed by name as an int.

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
    merged = merged_values(by_name(values or {}), kwargs)
    program = compile(expr, backend=backend, singular=singular, memory_limit=memory_limit, chunks=chunks,
                      conditioning=conditioning, progress=progress)
    return program(merged, functions=functions)   # one dict: a symbol may be called "functions"
