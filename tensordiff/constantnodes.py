"""Constant nodes (zeros, numbers broadcast to a shape, deltas) and the checked arithmetic of coefficients.

A coefficient is refused where it overflows to inf or nan, and a product of two nonzero
coefficients where it underflows to 0: either would silently change every value of the term.
"""

from __future__ import annotations

import math

from .errors import TensorDiffError
from .expr import Einsum, make


def zeros(shape):
    """The zero tensor of ``shape``."""
    shape = tuple(shape)
    return make(Einsum, 0.0, (), (), tuple(range(len(shape))), shape)


def constant(value, shape=()):
    """``value`` broadcast to ``shape`` (a tensor of equal entries)."""
    shape = tuple(shape)
    if value == 0:
        return zeros(shape)
    if not math.isfinite(value):
        raise TensorDiffError(f"a constant in the expression is {value}: symbolic constants must be finite numbers")
    return make(Einsum, float(value), (), (), tuple(range(len(shape))), shape)


def delta(dims):
    """The identity between a tensor of ``dims`` and itself: δ[I, J] with I = J, shape dims + dims."""
    dims = tuple(dims)
    n = len(dims)
    return make(Einsum, 1.0, (), (), tuple(range(n)) * 2, dims)


def is_zero(node):
    return isinstance(node, Einsum) and node.coeff == 0.0


def constant_value(node):
    """The number a constant node holds everywhere (a scalar or a broadcast), else None."""
    if isinstance(node, Einsum) and not node.operands and len(set(node.out)) == len(node.out) \
            and len(node.dims) == len(node.out):
        return node.coeff
    return None


def with_coeff(node, coeff):
    """``node`` (an Einsum) with its coefficient replaced."""
    if coeff == 0.0:
        return zeros(node.shape)
    if coeff == 1.0 and len(node.operands) == 1 and node.subscripts[0] == node.out \
            and len(set(node.out)) == len(node.out) == len(node.dims):
        return node.operands[0]
    return make(Einsum, finite(float(coeff)), node.operands, node.subscripts, node.out, node.dims)


def product(a, b):
    """a·b, refused where it underflows to 0: a symbolic zero would drop the term for every value."""
    product = a * b
    if product == 0.0 and a != 0.0 and b != 0.0:
        raise TensorDiffError(f"a constant factor of the expression underflows float64 ({a:g} × {b:g} rounds "
                              "to 0): rescale the expression")
    return product


def finite(coeff):
    """A coefficient, refused when it is inf or nan: a silently infinite term would poison every value."""
    if not math.isfinite(coeff):
        raise TensorDiffError(f"a constant factor of the expression is {coeff}: beyond float64's range (a huge "
                              "constant, or the factorially growing coefficients of a very high-order derivative)")
    return coeff
