"""A bridge to scipy.optimize: a scalar expression as fun/jac/hess/hessp of one flat vector.

``scipy_objective(f, [W, b], **constants)`` lays the symbols W, b end to end in one float64
vector x (each raveled in C order) and compiles, once, one program: the value, the gradients,
the Hessian-vector product (with a direction symbol per wrt symbol) and the Hessian's blocks,
sharing their work. It runs incrementally (``Program.incremental``, incremental.py) with the
constants fixed: each of ``fun``, ``jac``, ``hessp`` and ``hess`` runs only the steps its outputs
need, and the steps that depend on the point alone are kept while the point stays the same, so
``fun(x)`` then ``jac(x)`` is one evaluation and the many ``hessp(x, p)`` of a trust-region step
run only the steps that read p. scipy itself is not needed here; the object is what
``scipy.optimize.minimize`` takes.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .numpyarrays import sequence_array
from .diff import diff, grad, jvp
from .errors import EvaluationError, ShapeError, TensorDiffError
from .evaluate import compile
from .expr import Var, topological
from .indices import format_dims
from .ops import tensor
from .simplify import as_expr
from .annotations import ExprLike, Wrt

__all__ = ["scipy_objective", "ScipyObjective"]


def scipy_objective(f: ExprLike, wrt: Wrt, **constants: Any) -> ScipyObjective:
    """fun/jac/hess/hessp of one flat vector for ``scipy.optimize.minimize``.

    ``f`` is a scalar expression, ``wrt`` a symbol or a list of symbols (laid end to end, each
    raveled, in that order), ``constants`` the values of every other symbol of ``f``.

    Parameters
    ----------
    f : Expr
        A scalar expression.
    wrt : Expr or list of Expr
        The symbols optimised over, laid end to end in the flat vector, each raveled (C order).
    **constants : array_like
        The values of every other symbol of ``f``, by name.

    Returns
    -------
    ScipyObjective
        With ``fun(x)``, ``jac(x)``, ``hess(x)``, ``hessp(x, p)``, ``x0(**values)`` and ``unflatten(x)``, all on one flat vector; one compiled program shares work between them.

    Raises
    ------
    ShapeError
        If ``f`` is not a scalar, or a constant's shape does not match its symbol's dims.
    TensorDiffError
        If ``wrt`` is not a symbol or a non-empty list of distinct symbols, or a wrt symbol is also given as a constant.
    EvaluationError
        If a constant is missing or names no symbol of ``f``; a flat vector of the wrong length is a ShapeError naming the expected length.

    Examples
    --------
    >>> import numpy as np, tensordiff as td
    >>> from scipy.optimize import minimize
    >>> A, b, x = td.matrix("A", "m n"), td.vector("b", "m"), td.vector("x", "n")
    >>> f = td.norm(A @ x - b) ** 2 + 0.1 * (x @ x)
    >>> obj = td.scipy_objective(f, [x], A=np.eye(3), b=np.ones(3))
    >>> result = minimize(obj.fun, obj.x0(x=np.zeros(3)), jac=obj.jac, hessp=obj.hessp, method="trust-ncg")
    >>> np.round(obj.unflatten(result.x)["x"], 6)
    array([0.909091, 0.909091, 0.909091])
    """
    return ScipyObjective(f, wrt, constants)


class ScipyObjective:
    """The objective ``td.scipy_objective`` returns: value, gradient and Hessian of one flat vector.

    Make it with ``td.scipy_objective(f, wrt, **constants)``. ``layout`` lists (name, shape, slice)
    of each wrt symbol in the flat vector and ``size`` its length; ``fun``, ``jac``, ``hess`` and
    ``hessp`` are the callables ``scipy.optimize.minimize`` takes, ``x0(**values)`` flattens a
    starting point and ``unflatten(x)`` splits a flat vector back into arrays by name.

    Examples
    --------
    >>> import numpy as np, tensordiff as td
    >>> W, b = td.matrix("W", "k n"), td.vector("b", "k")
    >>> x = td.vector("x", "n")
    >>> obj = td.scipy_objective(td.sum(td.tanh(W @ x + b) ** 2), [W, b], x=np.ones(3))
    >>> isinstance(obj, td.ScipyObjective)
    True
    >>> x0 = obj.x0(W=np.zeros((2, 3)), b=np.full(2, 0.5))
    >>> obj.size, obj.jac(x0).shape, obj.hess(x0).shape
    (8, (8,), (8, 8))
    >>> sorted(obj.unflatten(x0))
    ['W', 'b']
    """

    def __init__(self, f, wrt, constants):
        f = as_expr(f)
        if f.shape != ():
            raise ShapeError(f"scipy_objective needs a scalar expression, got shape {format_dims(f.shape)}")
        wrt = [wrt] if isinstance(wrt, Var) else list(wrt) if isinstance(wrt, (list, tuple)) else wrt
        if not isinstance(wrt, list) or not wrt or not all(isinstance(w, Var) for w in wrt):
            raise TensorDiffError(f"scipy_objective's wrt must be a symbol or a non-empty list of symbols, "
                                  f"got {wrt!r:.60}")
        names = [w.name for w in wrt]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise TensorDiffError(f"scipy_objective: {repeated[0]!r} appears twice in wrt")
        symbols = {node.name: node.dims for node in topological([f, *wrt]) if isinstance(node, Var)}
        for name in constants:
            if name in names:
                raise TensorDiffError(f"{name!r} is optimized over (it is in wrt), so it cannot also be a constant")
            if name not in symbols:
                raise EvaluationError(f"constant given for {name!r}, which is no symbol of f (its symbols: "
                                      f"{', '.join(sorted(symbols))})")
        missing = sorted(set(symbols) - set(names) - set(constants))
        if missing:
            raise EvaluationError("scipy_objective needs a constant for " + ", ".join(
                f"{m!r} (dims {format_dims(symbols[m])})" for m in missing))
        self.wrt = tuple(wrt)
        self.constants = {name: _as_float_array(name, value) for name, value in constants.items()}
        self.sizes, self._layout = {}, None
        for name, value in self.constants.items():
            self._bind_sizes(name, symbols[name], value.shape)

        gradients = [grad(f, w) for w in wrt]
        taken = set(symbols)
        self.directions = [_fresh_symbol(w.name + "_direction", w.dims, taken) for w in wrt]
        # block i of H·p is Σ_j ∂g_i/∂w_j · p_j: one directional derivative of each gradient per symbol
        products = [sum((jvp(g, w, v) for w, v in zip(wrt[1:], self.directions[1:])),
                        jvp(g, wrt[0], self.directions[0])) for g in gradients]
        self.hessian_blocks = [(i, j) for i in range(len(wrt)) for j in range(i, len(wrt))]
        blocks = [diff(gradients[i], wrt[j]) for i, j in self.hessian_blocks]
        # one program: the value, the gradients, the products and the Hessian's blocks share their
        # work; its incremental evaluation keeps what depends on the point alone, so that fun(x),
        # jac(x), hess(x) and the many hessp(x, p) at one x compute it once and each hessp runs
        # only the steps that read p
        self.program = compile([f, *gradients, *products, *blocks], backend="numpy")
        self.evaluation = self.program.incremental(self.constants)
        count = len(wrt)
        self.value_and_gradients = self.evaluation.part(list(range(1 + count)))
        self.hessian_products = self.evaluation.part(list(range(1 + count, 1 + 2 * count)))
        self.hessian_parts = self.evaluation.part(list(range(1 + 2 * count, 1 + 2 * count + len(blocks))))
        self.f, self.gradients = f, gradients
        self.evaluations = 0   # calls that ran some of the program's steps, to see the reuse at work

    # ---- the flat layout
    @property
    def layout(self) -> list[tuple[str, tuple[int, ...], slice]]:
        """[(name, shape, slice of x)] for each wrt symbol, once every dim's size is known."""
        if self._layout is not None:
            return list(self._layout)
        layout, start = [], 0
        for w in self.wrt:
            unknown = [d for d in w.dims if d not in self.sizes]
            if unknown:
                raise EvaluationError(f"the size of dim {unknown[0]!r} of {w.name!r} is not known yet: call x0("
                                      f"{w.name}=...) first, or pass a constant that has that dim")
            shape = tuple(self.sizes[d] for d in w.dims)
            size = math.prod(shape)
            layout.append((w.name, shape, slice(start, start + size)))
            start += size
        self._layout = layout
        return layout

    @property
    def size(self) -> int:
        """The length of the flat vector."""
        return self.layout[-1][2].stop

    def x0(self, **values: Any) -> np.ndarray:
        """The flat vector of ``values`` ({wrt name: array}), which also fixes dims only wrt symbols have."""
        names = [w.name for w in self.wrt]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise EvaluationError(f"x0 takes values for the wrt symbols {', '.join(map(repr, names))}, not "
                                  f"{', '.join(map(repr, unknown))}")
        missing = [n for n in names if n not in values]
        if missing:
            raise EvaluationError(f"x0 needs a value for {', '.join(map(repr, missing))}")
        arrays = {w.name: _as_float_array(w.name, values[w.name]) for w in self.wrt}
        for w in self.wrt:
            self._bind_sizes(w.name, w.dims, arrays[w.name].shape)
        return np.concatenate([arrays[w.name].ravel() for w in self.wrt])

    def unflatten(self, x: Any) -> dict[str, np.ndarray]:
        """{name: array} for the flat vector ``x``, each of its symbol's shape."""
        x = self._flat(x, "x")
        return {name: x[part].reshape(shape) for name, shape, part in self.layout}

    # ---- what scipy calls
    def fun(self, x: Any) -> float:
        """The value of f at ``x``."""
        return float(self._run(self.value_and_gradients, x)[0])

    def jac(self, x: Any) -> np.ndarray:
        """The gradient at ``x``, flat."""
        return np.concatenate([np.ravel(g) for g in self._run(self.value_and_gradients, x)[1:]])

    def hessp(self, x: Any, p: Any) -> np.ndarray:
        """The Hessian at ``x`` times ``p``, flat, without forming the Hessian."""
        directions = self.unflatten(self._flat(p, "p"))
        products = self._run(self.hessian_products, x, {v.name: directions[w.name]
                                                       for w, v in zip(self.wrt, self.directions)})
        return np.concatenate([np.ravel(h) for h in products])

    def hess(self, x: Any) -> np.ndarray:
        """The whole Hessian at ``x``: a symmetric (size, size) array, blocks in the layout's order."""
        layout = self.layout
        out = self._run(self.hessian_parts, x)
        n = layout[-1][2].stop
        hessian = np.empty((n, n))
        for (i, j), block in zip(self.hessian_blocks, out):
            rows, cols = layout[i][2], layout[j][2]
            block = np.reshape(block, (rows.stop - rows.start, cols.stop - cols.start))
            hessian[rows, cols] = block
            hessian[cols, rows] = block.T
        return hessian

    # ---- internals
    def _run(self, part, x, directions=None):
        """The outputs of ``part`` (of the incremental evaluation) at the flat point ``x``."""
        out = part({**self.unflatten(x), **(directions or {})})
        self.evaluations += self.evaluation.steps_run > 0
        return out

    def _flat(self, x, what):
        n = self.size
        if np.iscomplexobj(x):   # float64 would drop the imaginary part silently
            raise EvaluationError(f"{what} is complex: tensordiff's functions are the real ones; pass a real vector "
                                  f"of {n} numbers")
        try:
            array = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"{what} must be a flat vector of {n} numbers: {exc}") from None
        if array.shape != (n,):
            parts = ", ".join(f"{name} {shape}" for name, shape, _ in self.layout)
            raise ShapeError(f"{what} has shape {array.shape}, expected a flat vector of length {n} ({parts}, "
                             "raveled in that order)")
        return array

    def _bind_sizes(self, name, dims, shape):
        if len(shape) != len(dims):
            raise ShapeError(f"value for {name!r} has shape {shape} but the symbol has dims {format_dims(dims)}")
        for axis, (dim, size) in enumerate(zip(dims, shape)):
            if self.sizes.get(dim, size) != size:
                raise ShapeError(f"dim {dim!r} is {self.sizes[dim]} elsewhere but {size} in axis {axis} of {name!r}")
            self.sizes[dim] = size
        self._layout = None


def _fresh_symbol(name, dims, taken):
    """A symbol of ``dims`` named ``name`` (plus underscores) that no symbol of ``taken`` or elsewhere has."""
    while True:
        if name not in taken:
            try:
                symbol = tensor(name, dims)
            except ShapeError:   # the name is in use with other dims
                symbol = None
            if symbol is not None:
                taken.add(name)
                return symbol
        name += "_"


def _as_float_array(name, value):
    if isinstance(value, (list, tuple)):   # nested numbers, as td.evaluate reads them
        value = sequence_array(name, value)
    if not isinstance(value, (numbers.Number, np.ndarray, np.generic)) and not hasattr(value, "__array__"):
        raise EvaluationError(f"value for {name!r} must be a number or an array, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the caller's bad value
        raise EvaluationError(f"value for {name!r} cannot be read as a numpy array: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise EvaluationError(f"value for {name!r} must hold real numbers, got dtype {array.dtype}")
    return array.astype(np.float64)
