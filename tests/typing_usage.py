"""User code, type-checked by mypy (pyproject.toml's [tool.mypy] files) and never run.

It pins what a type checker infers from tensordiff's hints (py.typed): builders and operators give
an ``Expr``, a list of symbols gives a tuple, the function table's rows are callables, and values
pass as a dict. A change to the hints that breaks user code like this fails ``mypy`` in CI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

import tensordiff as td

if TYPE_CHECKING:
    from typing_extensions import assert_type


def usage() -> None:
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    assert_type(q, td.Expr)
    assert_type(q.shape, tuple[str, ...])
    assert_type(X.ndim, int)
    assert_type(td.diff(q, X), td.Expr)
    assert_type(td.diff(q, [X, y]), tuple[Any, ...])
    assert_type(td.grad(td.sum(X * X), [X, lam]), tuple[td.Expr, ...])
    assert_type(td.hessian(td.sum(X * X), X), td.Expr)
    e = td.exp(X) + 2.0 * X - X / 3 + (-X) ** 2 - 1
    assert_type(e, td.Expr)
    assert_type(td.tanh, td.Elementwise)
    assert_type(td.where(X > 0, X, 0.0)[0, 1:], td.Expr)
    assert_type(e.subs(X, X.T.T), td.Expr)
    assert_type(td.substitute(e, {X: 2 * X, "y": y}), td.Expr)
    assert_type(td.parse("X'*y", X="n p", y="n"), td.Expr)
    program = td.compile([q, td.diff(q, X)])
    assert_type(program, td.Program)
    values = {"X": np.ones((3, 2)), "y": np.ones(3), "lam": np.float64(0.5)}
    program(values)
    td.evaluate(q, values, backend="numpy", singular="nan")
    td.evaluate(q, {X: np.ones((3, 2))}, y=np.ones(3), lam=0.5)
    assert_type(td.check(td.sum(X * X), X).max_rel_error, Any)
    assert_type(td.latex(q), str)
    assert_type(td.codegen([q], target="jax"), str)
    assert_type(td.cost(q, n=10, p=3), td.Cost)
    objective = td.scipy_objective(td.sum(X * X), [X])
    assert_type(objective.jac(np.zeros(6)), np.ndarray)
    h = td.elementwise("h", np.tanh)
    assert_type(h(y), td.Expr)
    assert_type(td.einsum("ij,j->i", X, td.vector("v", "p")), td.Expr)
    assert_type(td.softmax(X, axis=(0, 1)) + td.max(X, axis=None) + td.norm(y, ord=1), td.Expr)
    assert_type(td.broadcast_shapes("n p", ("p",)), tuple[str, ...])
    assert_type(td.matrix_notation(q), td.MatrixNotation)
    assert_type(td.polygamma(1, lam) + td.sqrt(lam) + abs(lam), td.Expr)
    td.set_memory_limit(None)
    assert_type(td.get_memory_limit(), Optional[float])
