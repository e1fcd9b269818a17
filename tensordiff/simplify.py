"""Rewrite rules of the matrix functions, reductions and masks, and rebuilding whole graphs canonically.

Every node is built in canonical form: products by ``einsumnodes``, sums by ``sumnodes``, constants
by ``constantnodes``. Each rewrite rule for the other nodes is a small function returning ``None``
when it does not apply; every rule returns a node with fewer operations, so rebuilding terminates.
"""

from __future__ import annotations

import numpy as np

from .errors import ShapeError, TensorDiffError
from .expr import (Add, Apply, Cholesky, Det, Einsum, Expr, Inv, LogDet, Pinv, Select, Solve, Take, Var, make,
                   topological)
from .reductionnodes import Compare, CumSum, Diff, LogSumExp, Max, Maximum, Softmax, Triangle, Where
from .spectralnodes import EigVals, EigVecs
from .composite import REBUILD as STRUCTURE_REBUILD
from .constantnodes import constant, constant_value, zeros
from .einsumnodes import apply_node, einsum_node, scale, transpose
from .indices import format_dims
from .sumnodes import add_node
from .annotations import ExprLike


# ---------------------------------------------------------------- functions

def _check_square(arg, what):
    if len(arg.shape) != 2 or arg.shape[0] != arg.shape[1]:
        raise ShapeError(f"{what} needs a square matrix with dims (d, d), got shape {format_dims(arg.shape)}")


def _single_scaled(arg):
    """(coeff, operand, transposed) when arg is c·B or c·Bᵀ for a matrix B, else None."""
    if isinstance(arg, Einsum) and len(arg.operands) == 1 and len(arg.dims) == 2 and len(set(arg.out)) == 2:
        (sub,) = arg.subscripts
        if sorted(sub) == [0, 1]:
            return arg.coeff, arg.operands[0], sub != arg.out
    return None


def inv_node(arg):
    """Canonical matrix inverse: the first of INV_RULES that applies, else Inv(arg)."""
    _check_square(arg, "inv")
    return _first_rule(INV_RULES, arg, Inv)


def _is_identity(arg):
    return isinstance(arg, Einsum) and not arg.operands and arg.out == (0, 0) and len(arg.dims) == 1 \
        and arg.coeff == 1.0


def det_node(arg):
    """Canonical determinant: the first of DET_RULES that applies, else Det(arg)."""
    _check_square(arg, "det")
    return _first_rule(DET_RULES, arg, Det)


def logdet_node(arg):
    """Canonical log-determinant: the first of LOGDET_RULES that applies, else LogDet(arg)."""
    _check_square(arg, "logdet")
    return _first_rule(LOGDET_RULES, arg, LogDet)


def _first_rule(rules, arg, node_type):
    """The result of the first rule that applies to ``arg``, else the plain node_type(arg)."""
    for rule in rules:
        result = rule(arg)
        if result is not None:
            return result
    return make(node_type, arg)


# Rules on matrix functions: each takes the argument and returns a node with fewer operations, or
# None when it does not apply.

def inverse_of_inverse(arg):
    """inv(inv(A)) = A."""
    return arg.arg if isinstance(arg, Inv) else None


def inverse_of_scaled_identity(arg):
    """inv(c I) = I / c."""
    if isinstance(arg, Einsum) and not arg.operands and arg.out == (0, 0) and len(arg.dims) == 1:
        return make(Einsum, 1.0 / arg.coeff, (), (), (0, 0), arg.dims)
    return None


def inverse_of_scaled(arg):
    """inv(c Bᵀ) = inv(B)ᵀ / c."""
    scaled = _single_scaled(arg)
    if scaled is None or scaled[1].ndim != 2:
        return None
    coeff, base, transposed = scaled
    result = scale(make(Inv, base), 1.0 / coeff) if coeff != 1.0 else make(Inv, base)
    return transpose(result, (1, 0)) if transposed else result


def determinant_of_identity(arg):
    """det(I) = 1 whatever the size."""
    return constant(1.0) if _is_identity(arg) else None


def determinant_of_transpose(arg):
    """det(Bᵀ) = det(B)."""
    scaled = _single_scaled(arg)
    return det_node(scaled[1]) if scaled is not None and scaled[0] == 1.0 and scaled[1].ndim == 2 else None


def logdet_of_identity(arg):
    """log det(I) = 0."""
    return constant(0.0) if _is_identity(arg) else None


def logdet_of_inverse(arg):
    """log det(inv(A)) = -log det(A)."""
    return scale(logdet_node(arg.arg), -1.0) if isinstance(arg, Inv) else None


def logdet_of_transpose(arg):
    """log det(Bᵀ) = log det(B)."""
    scaled = _single_scaled(arg)
    return logdet_node(scaled[1]) if scaled is not None and scaled[0] == 1.0 and scaled[1].ndim == 2 else None


INV_RULES = [inverse_of_inverse, inverse_of_scaled_identity, inverse_of_scaled]
DET_RULES = [determinant_of_identity, determinant_of_transpose]   # matrixrules.py adds det(inv(A)) = 1/det(A)
LOGDET_RULES = [logdet_of_identity, logdet_of_inverse, logdet_of_transpose]


# ---------------------------------------------------------------- reductions, soft maxima, masks

def max_node(arg, axes):
    """Canonical max of ``arg`` along ``axes`` (sorted positions); over no axis it is ``arg``."""
    if not axes:
        return arg
    value = constant_value(arg)
    if value is not None:
        return constant(value, tuple(d for k, d in enumerate(arg.shape) if k not in axes))
    return make(Max, arg, tuple(axes))


def logsumexp_node(arg, axes):
    """Canonical log Σ exp(arg) along ``axes``; over no axis it is ``arg``."""
    return make(LogSumExp, arg, tuple(axes)) if axes else arg


def softmax_node(arg, axes):
    """Canonical softmax of ``arg`` along ``axes``; over no axis every entry is 1."""
    if not axes:
        return constant(1.0, arg.shape)
    return make(Softmax, arg, tuple(axes))


_COMPARISONS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "==": float.__eq__}


def compare_node(op, a, b):
    """Canonical 0/1 mask ``a op b`` of two expressions of one shape; two constants fold."""
    left, right = constant_value(a), constant_value(b)
    if left is not None and right is not None:
        return constant(float(_COMPARISONS[op](left, right)), a.shape)
    if a is b and op in ("<", ">"):   # x <= x is not folded: it is 0 where x is nan
        return zeros(a.shape)
    return make(Compare, op, a, b)


def where_node(mask, a, b):
    """Canonical ``where(mask, a, b)`` of three expressions of one shape."""
    if a is b:
        return a
    value = constant_value(mask)
    if value is not None:
        return a if value != 0.0 else b
    return make(Where, mask, a, b)


def maximum_node(a, b):
    """Canonical elementwise maximum of two expressions of one shape."""
    if a is b:
        return a
    left, right = constant_value(a), constant_value(b)
    if left is not None and right is not None:
        return constant(max(left, right), a.shape)
    return make(Maximum, a, b)


def cumsum_node(arg, axis):
    """The running sums of ``arg`` along ``axis``; of zeros, zeros."""
    if constant_value(arg) == 0.0:
        return arg
    return make(CumSum, arg, (axis,))


def diff_node(arg, axis):
    """The differences of neighbours of ``arg`` along ``axis``; of a constant along it, zeros."""
    node = make(Diff, arg, (axis,))
    return zeros(node.shape) if constant_value(arg) is not None else node


def triangle(rows, cols, k, lower):
    """The 0/1 matrix of numpy's tril (``lower``) or triu of ones over (rows, cols), diagonal ``k``."""
    return make(Triangle, rows, cols, int(k), bool(lower))


def cholesky_node(arg):
    """The lower Cholesky factor of a symmetric (d, d) matrix."""
    _check_square(arg, "cholesky")
    if _is_identity(arg):
        return arg
    return make(Cholesky, arg)


def eigvals_node(arg):
    """The ascending eigenvalues of a symmetric (d, d) matrix."""
    _check_square(arg, "eigvalsh")
    return make(EigVals, arg)


def eigvecs_node(arg):
    """The orthonormal eigenvectors (columns) of a symmetric (d, d) matrix."""
    _check_square(arg, "eigh")
    return make(EigVecs, arg)


def pinv_node(arg):
    """The canonical pseudo-inverse of an (m, n) matrix: pinv(pinv(B)) = B, pinv(c Bᵀ) = pinv(B)ᵀ / c,
    pinv(c I) = I / c, and the zero matrix's is the zero matrix of dims (n, m)."""
    if len(arg.shape) != 2:
        raise ShapeError(f"pinv needs a matrix with two dims, got shape {format_dims(arg.shape)}")
    if constant_value(arg) == 0.0:
        return zeros(arg.shape[::-1])
    if isinstance(arg, Einsum) and not arg.operands and arg.out == (0, 0) and len(arg.dims) == 1:
        return make(Einsum, 1.0 / arg.coeff, (), (), (0, 0), arg.dims)
    scaled = _single_scaled(arg)
    coeff, base, transposed = scaled if scaled is not None and scaled[1].ndim == 2 else (1.0, arg, False)
    result = base.arg if isinstance(base, Pinv) else make(Pinv, base)
    result = scale(result, 1.0 / coeff) if coeff != 1.0 else result
    return transpose(result, (1, 0)) if transposed else result


# ---------------------------------------------------------------- whole graphs

_REBUILD = {
    Var: lambda node, new: node,
    Einsum: lambda node, new: einsum_node(node.coeff, [new[o] for o in node.operands], node.subscripts, node.out, node.dims),
    Add: lambda node, new: add_node([new[t] for t in node.terms], node.shape),
    Apply: lambda node, new: apply_node(node.fn, new[node.arg]),
    Inv: lambda node, new: inv_node(new[node.arg]),
    Det: lambda node, new: det_node(new[node.arg]),
    LogDet: lambda node, new: logdet_node(new[node.arg]),
    Solve: lambda node, new: make(Solve, new[node.matrix], new[node.rhs]),
    Select: lambda node, new: node,
    Take: lambda node, new: make(Take, new[node.arg], node.keys),
    Max: lambda node, new: max_node(new[node.arg], node.axes),
    LogSumExp: lambda node, new: logsumexp_node(new[node.arg], node.axes),
    Softmax: lambda node, new: softmax_node(new[node.arg], node.axes),
    CumSum: lambda node, new: cumsum_node(new[node.arg], node.axes[0]),
    Diff: lambda node, new: diff_node(new[node.arg], node.axes[0]),
    Compare: lambda node, new: compare_node(node.op, new[node.a], new[node.b]),
    Where: lambda node, new: where_node(new[node.mask], new[node.a], new[node.b]),
    Maximum: lambda node, new: maximum_node(new[node.a], new[node.b]),
    Triangle: lambda node, new: node,
    Cholesky: lambda node, new: cholesky_node(new[node.arg]),
    Pinv: lambda node, new: pinv_node(new[node.arg]),
    EigVals: lambda node, new: eigvals_node(new[node.arg]),
    EigVecs: lambda node, new: eigvecs_node(new[node.arg]),
    **STRUCTURE_REBUILD,
}


def simplify(expr: ExprLike) -> Expr:
    """Rebuild an expression bottom-up through the canonical constructors.

    Expressions are put in canonical form as they are built (nested products merged, constants
    folded, equal terms collected, Kronecker deltas eliminated), so derivatives come out simplified
    and this is rarely needed; it is idempotent.

    Parameters
    ----------
    expr : Expr or number
        The expression.

    Returns
    -------
    Expr
        The canonical expression, equal in value.

    Examples
    --------
    >>> import tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> td.simplify(td.inv(td.inv(A))) is A
    True
    >>> x = td.vector("x", "n")
    >>> print(td.simplify(x + x - 2 * x))
    out[i] = 0
    """
    expr = as_expr(expr)   # a number is a constant; anything else is refused clearly
    new = {}
    for node in topological([expr]):
        new[node] = _REBUILD[type(node)](node, new)
    return new[expr]


def substitute(expr, mapping):
    """``expr`` with the nodes in ``mapping`` replaced (rebuilt canonically)."""
    new = {}
    for node in topological([expr]):
        if node in mapping:
            new[node] = mapping[node]
        elif all(new[child] is child for child in node.children()):
            new[node] = node   # nothing below it changed: rebuilding would canonicalise it again to itself
        else:
            new[node] = _REBUILD[type(node)](node, new)
    return new[expr]


def rewrite(exprs, rule):
    """``exprs`` rebuilt bottom-up, each rebuilt node replaced by ``rule(node)`` unless that is None."""
    new = {}
    for node in topological(list(exprs)):
        built = _REBUILD[type(node)](node, new)
        replaced = rule(built)
        new[node] = built if replaced is None else replaced
    return [new[e] for e in exprs]


def as_expr(value: object) -> Expr:
    """An expression from an expression or a Python/numpy number (a scalar constant)."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, (bool, np.bool_)) or isinstance(value, np.ndarray) and value.shape == () \
            and value.dtype.kind == "b":   # True and False are 1 and 0, as numpy and jax count them
        return constant(float(value))
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        try:
            return constant(float(value))
        except OverflowError:
            raise TensorDiffError(f"an int of {len(str(abs(int(value))))} digits is too large for a float64 "
                                  "constant") from None
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return constant(float(value))
    raise ShapeError(f"cannot use {type(value).__name__} {value!r:.60} in an expression: only tensordiff "
                     "expressions and numbers mix; make arrays symbols (td.tensor) and pass them at evaluation")
