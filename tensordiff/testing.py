"""Checking derivatives numerically: central finite differences against the symbolic result.

Used by the test suite and offered to users (``td.check``): a derivative that disagrees with a
numerical check is the most common bug in hand-derived matrix calculus.
"""

from __future__ import annotations

import numbers
from collections import namedtuple
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union, overload

import numpy as np

from .diff import diff
from .differentiate import check_wrt
from .errors import TensorDiffError
from .callchecks import positional_values
from .evaluate import compile
from .expr import Var, topological
from .symboltable import declared_dims
from .indices import base_dims, dim_size
from .simplify import as_expr
from .annotations import ExprLike, Functions, Symbols, Values, Wrt
from .expr import Expr

__all__ = ["check", "numeric_diff", "random_values", "CheckResult"]

CheckResult = namedtuple("CheckResult", "max_abs_error max_rel_error symbolic numeric")


def random_values(exprs: Iterable[Expr], sizes: Optional[Mapping[str, int]] = None, seed: int = 0,
                  extra: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Random well-conditioned values for every symbol of ``exprs``: square matrices near I.

    >>> import tensordiff as td
    >>> from tensordiff.testing import random_values
    >>> A, x = td.matrix("A", "n n"), td.vector("x", "m")
    >>> {name: value.shape for name, value in random_values([A @ A, x]).items()}
    {'A': (2, 2), 'x': (3,)}
    """
    rng = np.random.default_rng(seed)
    symbols, symmetric = {}, set()
    for node in topological(list(exprs)):
        if isinstance(node, Var):
            symbols[node.name] = node.dims
            if node.symmetric:
                symmetric.add(node.name)
    for name in extra:
        if name not in symbols and declared_dims(name) is not None:
            symbols[name] = declared_dims(name)
    sizes = dict(sizes or {})
    for dims in symbols.values():
        for dim in dims:
            for base in base_dims(dim):   # a composite dim (n·m, n+m) takes its size from its parts
                if base not in sizes:
                    sizes[base] = 2 + len(sizes) % 3
    values = {}
    for name, dims in sorted(symbols.items()):
        shape = tuple(dim_size(d, sizes) for d in dims)
        if len(dims) == 2 and dims[0] == dims[1]:
            n = shape[0]
            values[name] = np.eye(n) + 0.3 * rng.standard_normal(shape) / np.sqrt(n)
            if name in symmetric:
                values[name] = (values[name] + values[name].T) / 2
        else:
            values[name] = 0.5 * rng.standard_normal(shape)
    return values


def numeric_diff(expr: Expr, wrt: Expr, values: Mapping[str, Any], eps: float = 1e-6,
                 functions: Optional[Functions] = None) -> np.ndarray:
    """Central finite-difference derivative of ``expr`` w.r.t. symbol ``wrt`` (shape expr + wrt).

    A symmetric ``wrt`` is perturbed symmetrically: entries (i, j) and (j, i) move together, and
    the difference quotient is halved off the diagonal, which gives sym(G) = (G + Gᵀ)/2, the
    derivative tensordiff takes on symmetric matrices.

    >>> import numpy as np, tensordiff as td
    >>> x = td.vector("x", "n")
    >>> np.round(td.testing.numeric_diff(x @ x, x, {"x": np.array([1.0, 2.0])}), 6)
    array([2., 4.])
    """
    if not isinstance(wrt, Var):
        raise TensorDiffError(f"numeric_diff differentiates with respect to a symbol, got {type(wrt).__name__} "
                              f"{wrt!r:.60}")
    program = compile(as_expr(expr))
    base = {k: (np.array(v, dtype=np.float64) if not isinstance(v, (int, float)) else v)   # an int may size a dim
            for k, v in values.items()}
    x0 = np.array(base[wrt.name], dtype=np.float64)
    f0 = np.asarray(program(functions=functions, **base))
    result = np.zeros(f0.shape + x0.shape)
    for index in np.ndindex(*x0.shape):
        if wrt.symmetric and index[0] > index[1]:
            result[(Ellipsis,) + index] = result[(Ellipsis,) + index[::-1]]
            continue
        step = np.zeros_like(x0)
        step[index] = eps
        if wrt.symmetric:
            step[index[::-1]] = eps
        f_plus = program(functions=functions, **{**base, wrt.name: x0 + step})
        f_minus = program(functions=functions, **{**base, wrt.name: x0 - step})
        moved = 2 if wrt.symmetric and index[0] != index[1] else 1   # two entries moved: G[i,j] + G[j,i]
        result[(Ellipsis,) + index] = (f_plus - f_minus) / (2 * eps * moved)
    return result


@overload
def check(expr: ExprLike, wrt: Expr, order: Union[int, Values] = 1, functions: Optional[Functions] = None, eps: float = 1e-6,
          seed: int = 0, **values: Any) -> CheckResult: ...
@overload
def check(expr: ExprLike, wrt: Symbols, order: Union[int, Values] = 1, functions: Optional[Functions] = None, eps: float = 1e-6,
          seed: int = 0, **values: Any) -> tuple[CheckResult, ...]: ...
def check(expr: ExprLike, wrt: Wrt, order: Union[int, Values] = 1, functions: Optional[Functions] = None, eps: float = 1e-6,
          seed: int = 0, **values: Any) -> Union[CheckResult, tuple[CheckResult, ...]]:
    """Compare a symbolic derivative with central finite differences.

    Values not given are drawn at random (square matrices near the identity). For order k the
    finite differences are taken of the symbolic derivative of order k-1. A symmetric symbol is
    given a symmetric value and perturbed symmetrically (see numeric_diff). With a list of
    symbols the result is a tuple of CheckResults, one per symbol. ``max_rel_error`` is
    the largest difference over max(largest entry of either result, 1): relative for derivatives
    of size 1 and more, absolute below, so a derivative that is zero does not divide noise by noise.

    Parameters
    ----------
    expr : Expr
        The expression whose derivative is checked.
    wrt : Expr
        The symbol to differentiate with respect to.
    order : int or dict, optional
        The order of the derivative checked (default 1). A dict here is taken as the values of
        symbols, as ``td.evaluate``'s second argument: ``td.check(f, x, {"x": v})`` checks order 1;
        with another order, pass the values as keywords.
    functions : dict, optional
        Implementations of abstract user functions, as for ``td.evaluate``.
    eps : float, optional
        The finite-difference step (default 1e-6).
    seed : int, optional
        The seed of the random values drawn for symbols not given (default 0).
    **values : array_like
        Values of symbols; the others are drawn at random (square matrices near the identity, so
        that inverses and log-determinants are well conditioned). An int under a dim's name
        sizes that dim in the values drawn, as in ``td.evaluate``.

    Returns
    -------
    CheckResult
        A named tuple ``(max_abs_error, max_rel_error, symbolic, numeric)``: the two errors and
        the two derivative arrays compared.

    Raises
    ------
    TensorDiffError
        If ``wrt`` is not a symbol or ``order`` is not a positive int.
    EvaluationError
        As ``td.evaluate``, for the values given.

    Examples
    --------
    >>> import tensordiff as td
    >>> W, s = td.matrix("W", "n m"), td.scalar("s")
    >>> result = td.check(td.logdet(W @ W.T + s**2 * td.eye("n")), W)
    >>> result.max_rel_error < 1e-6
    True
    >>> result.symbolic.shape == result.numeric.shape
    True
    >>> td.check(td.sum(td.tanh(W) ** 3), W, order=2).max_rel_error < 1e-6
    True
    """
    if isinstance(order, dict):   # td.check(f, x, {"x": v}): the values dict in order's place, as td.evaluate takes it
        values, order = positional_values("td.check", order, "order", 3, values), 1
    if isinstance(wrt, (list, tuple)):   # several symbols: one result each, on the same random values
        return tuple(check(expr, w, order, functions, eps, seed, **values) for w in wrt)
    expr = as_expr(expr)
    check_wrt(wrt)
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 1:
        raise TensorDiffError(f"check's order must be a positive int, got {order!r}")
    order = int(order)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < float("inf"):
        raise TensorDiffError(f"check's eps (the finite-difference step) must be a positive number, got {eps!r:.40}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TensorDiffError(f"check's seed must be an int ≥ 0, got {seed!r:.40}")
    symbols = {node.name for node in topological([expr, wrt]) if isinstance(node, Var)}
    sizes = {k: v for k, v in values.items()   # dims by name (a bool is left to evaluate, which refuses it)
             if k not in symbols and isinstance(v, numbers.Integral) and not isinstance(v, bool)}
    values = {**random_values([expr, wrt], sizes, seed=seed, extra=values.keys() - sizes.keys()), **values}
    lower = diff(expr, wrt, order - 1)
    symbolic = np.asarray(compile(diff(lower, wrt))(functions=functions, **values))
    numeric = numeric_diff(lower, wrt, values, eps=eps, functions=functions)
    if not symbolic.size:
        return CheckResult(0.0, 0.0, symbolic, numeric)
    error = float(np.max(np.abs(symbolic - numeric)))
    # relative to the larger result, but never to less than 1: where the true derivative is 0,
    # finite differences are rounding noise (~1e-10), and noise over noise is no relative error
    scale = max(float(np.max(np.abs(numeric))), float(np.max(np.abs(symbolic))), 1.0)
    return CheckResult(error, error / scale, symbolic, numeric)
