"""Gram contractions: Σ_S G[S,I] w[S] G[S,J] whose two halves are one tensor up to renaming.

A Gauss–Newton Hessian is GᵀG: the operands pair up (X[m,i] with X[m,k], h′[m,j] with h′[m,l]),
identical nodes whose indices agree on the summed ones (S) and differ by a renaming φ elsewhere.
Contracting one half G[S,(I)] once and forming G.T @ G lets BLAS do a symmetric rank-k update
(syrk): half the multiplications, the other triangle mirrored — the symmetric-half saving for
Hessians. Operands that carry only indices of S (weights w) are folded into one side.

Memory: a weighted product needs w·G, a copy of G. It is made a block of rows at a time
(``ROW_BLOCK_ENTRIES`` entries at most) and the blocks' products are added, so the copy never
exceeds a few MiB however tall G is. Where every weight is ≥ 0 (a Gauss–Newton or logistic
Hessian) the block is √w·G and its product a syrk as well. A scalar factor multiplies the small
result, not G.

A narrow, small G (``narrow``: at most ``GEMM_COLS`` columns and ``GEMM_ENTRIES`` entries) is the
exception: there OpenBLAS's general product (gemm) of Gᵀ with a copy of G runs in 0.8–0.9× the
time of its syrk on one thread (20 columns of 50–500 rows), the copy costing less than the
difference, and a weighted product is Gᵀ(w·G), one gemm without the square roots. The sum is
the same; its rounding may leave the result unsymmetric in the last bit, as any product
written by hand is.
"""

import math
from itertools import product

import numpy as np
import opt_einsum

__all__ = ["gram_plan", "GramPlan", "gram_product", "operand_is_view", "narrow", "ROW_BLOCK_ENTRIES"]

MAX_PAIRS = 4  # orientations tried: 2**4
ROW_BLOCK_ENTRIES = 2 ** 20   # entries of the weighted copy of G made at once (8 MiB of float64)
GEMM_COLS = 32   # at most this many columns (and GEMM_ENTRIES entries) a G's product is a gemm, not a syrk
GEMM_ENTRIES = 2 ** 15


class GramPlan:
    """Computes the core of an einsum (axes ``core_ids``) from its tensor operands as G.T @ (w·G)."""

    def __init__(self, subs, half, weights, shared, core_ids, renaming, contract):
        symbol = opt_einsum.get_symbol
        left = [i for i in core_ids if i in renaming]
        self.half = [k for k, _ in half]
        self.weights = weights
        self.half_equation = ",".join("".join(symbol(i) for i in subs[k]) for k, _ in half) + "->" + \
            "".join(symbol(i) for i in shared + left)
        # the weights may leave some shared ids out (w[j] beside G[i,j]): they are broadcast there
        self.weight_carried = [i in {j for k in weights for j in subs[k]} for i in shared]
        self.weight_equation = ",".join("".join(symbol(i) for i in subs[k]) for k in weights) + "->" + \
            "".join(symbol(i) for i, carried in zip(shared, self.weight_carried) if carried) if weights else None
        self.shared_count = len(shared)
        self.left_count = len(left)
        self.shared_ids, self.left_ids = tuple(shared), tuple(left)
        self.half_is_operand = len(half) == 1 and operand_is_view(subs[half[0][0]], shared, left)
        order = left + [renaming[i] for i in left]
        self.permutation = [order.index(i) for i in core_ids]
        self.contract = contract

    def temporary_entries(self, size, unit_factor=False):
        """Entries of the temporaries of one run, ``size`` giving each index id's length: G (unless
        it is a view of an operand, ``operand_is_view``), and for weights a block of w·G and the block's product
        (``unit_factor``: the factor is 1, so a wide G is not scaled)."""
        rows = math.prod(size[i] for i in self.shared_ids)
        cols = math.prod(size[i] for i in self.left_ids)
        entries = 0 if self.half_is_operand else rows * cols
        if not self.weights and narrow(rows, cols):   # the copy of G that gemm reads
            entries += rows * cols
        if self.weights:
            entries += min(rows, max(1, ROW_BLOCK_ENTRIES // max(cols, 1))) * cols + cols * cols
        elif cols > rows and not unit_factor:   # a wide G is scaled by the factor
            entries += rows * cols
        return entries

    def bind(self, shapes, plan):
        """This plan as a function of (arrays, factor) for operands of ``shapes``, its contractions
        planned once by ``plan(equation, shapes)``; the arithmetic is __call__'s."""
        half_shapes = [shapes[k] for k in self.half]
        half_contraction = plan(self.half_equation, half_shapes)
        inputs, output = self.half_equation.split("->")
        letters = {}
        for term, shape in zip(inputs.split(","), half_shapes):
            letters.update(zip(term, shape))
        half_shape = tuple(letters[c] for c in output)
        shared_shape, left_shape = half_shape[:self.shared_count], half_shape[self.shared_count:]
        rows, cols = math.prod(shared_shape), math.prod(left_shape)
        weight_contraction = plan(self.weight_equation, [shapes[k] for k in self.weights]) if self.weights else None
        weight_shape = [n if carried else 1 for n, carried in zip(shared_shape, self.weight_carried)]
        half_args, weight_args, permutation = self.half, self.weights, self.permutation
        # a weight that carries every shared id is its own broadcast: reshaped alone, the same entries
        weight_spans = all(self.weight_carried)
        result_shape = left_shape + left_shape
        in_order = permutation == sorted(permutation)
        dtypes = {}   # the result's dtype, by what decides it: the operands' dtypes and the factor's kind

        plain_copy = narrow(rows, cols)   # gram_product's choice for an unweighted G of these sizes
        scale_result = cols <= rows

        def unweighted(arrays, factor):
            """``run`` for a Gram product without weights and a float factor (the common case): gram_product's
            operations for these sizes, chosen once, on a float64 G (whose dtype a Python float keeps)."""
            g = half_contraction(*[arrays[k] for k in half_args]).reshape(rows, cols)
            if type(factor) is not float or g.dtype.char != "d" or not (factor == 1.0 or scale_result):
                return run(arrays, factor, g)
            result = np.empty(result_shape, dtype=g.dtype)
            matrix = result.reshape(cols, cols)
            np.matmul(g.T, g.copy(order="K") if plain_copy else g, out=matrix)
            if factor != 1.0:
                matrix *= factor
            return result if in_order else np.transpose(result, permutation)

        def run(arrays, factor, g=None):
            if g is None:
                g = half_contraction(*[arrays[k] for k in half_args]).reshape(rows, cols)
            weight = None
            if weight_args:
                weight = weight_contraction(*[arrays[k] for k in weight_args])
                weight = weight.reshape(rows, 1) if weight_spans else \
                    np.broadcast_to(weight.reshape(weight_shape), shared_shape).reshape(rows, 1)
            key = (g.dtype, None if weight is None else weight.dtype, type(factor), getattr(factor, "dtype", None))
            dtype = dtypes.get(key)
            result = gram_product(g, weight, factor, result_shape, dtype)
            if dtype is None and len(dtypes) < 16:
                dtypes[key] = result.dtype
            return result if in_order else np.transpose(result, permutation)
        return run if weight_args else unweighted

    def __call__(self, arrays, factor):
        half = self.contract(self.half_equation, [arrays[k] for k in self.half])
        rows = int(np.prod(half.shape[:self.shared_count], dtype=np.int64))
        left_shape = half.shape[self.shared_count:]
        g = half.reshape(rows, int(np.prod(left_shape, dtype=np.int64)))   # not -1: rows may be 0
        weight = None
        if self.weights:
            weight = self.contract(self.weight_equation, [arrays[k] for k in self.weights])
            shared_shape = half.shape[:self.shared_count]
            weight = weight.reshape([n if carried else 1 for n, carried in zip(shared_shape, self.weight_carried)])
            weight = np.broadcast_to(weight, shared_shape).reshape(rows, 1)
        return _permuted(gram_product(g, weight, factor, tuple(left_shape) * 2), self.permutation)


def operand_is_view(sub, shared, left):
    """Whether G, the operand of subscripts ``sub`` with its axes ordered as ``shared + left`` and
    reshaped to (rows, cols), is a view of the operand: a transposition of its axes, each group of
    which lies side by side and in order in the operand (reshaping merges a group's axes without a
    copy then, for an operand laid out in C order, as values and fresh intermediates are); WWᵀ's
    half is Wᵀ, a view.

    >>> operand_is_view((0, 1), [1], [0]), operand_is_view((0, 1, 2), [2], [0, 1]), operand_is_view((0, 1, 2), [2], [1, 0])
    (True, True, False)
    >>> operand_is_view((0,), [0], [])   # Σ x²: G is x as one column
    True
    """
    if len(set(sub)) != len(sub) or sorted(sub) != sorted(list(shared) + list(left)):
        return False
    for group in (list(shared), list(left)):
        start = list(sub).index(group[0]) if group else 0
        if list(sub[start:start + len(group)]) != group:
            return False
    return True


def _permuted(result, permutation):
    """``result`` with its axes permuted; itself (an array owning its buffer) when they are in order."""
    return result if permutation == sorted(permutation) else np.transpose(result, permutation)


def gram_dtype(g, weight, factor):
    """The dtype of gram_product's result: G's and the weight's (None: none), and the factor's where
    it scales the result (None where it does not)."""
    dtype = np.result_type(g, weight) if weight is not None else g.dtype
    return dtype if factor is None else np.result_type(dtype, factor)


def gram_product(g, weight, factor, shape=None, dtype=None):
    """factor · G.T @ (w·G) for ``g`` (rows × cols) and ``weight`` (rows × 1, or None: all ones),
    in a new array of ``shape`` (default cols × cols) that owns its buffer; ``dtype``: its dtype
    (gram_dtype's), where the caller knows it.

    The weighted copy of G is made ``ROW_BLOCK_ENTRIES`` at a time and the blocks' products are
    summed (Σ_S splits into blocks of S: the same sum, in another order); weights that are all ≥ 0
    make each block √w·G, whose product with itself BLAS runs as a syrk. The factor scales the
    cols × cols result, or G where G is the smaller.

    >>> import numpy as np
    >>> g, w = np.arange(6.0).reshape(3, 2), np.array([[1.0], [2.0], [3.0]])
    >>> np.allclose(gram_product(g, w, -2.0), -2.0 * g.T @ (w * g))
    True
    """
    rows, cols = g.shape
    unit = isinstance(factor, float) and factor == 1.0
    scale_result = not unit and cols <= rows
    if not unit and not scale_result:   # a wide G: the factor scales the weights, not the larger result
        if weight is None:
            weight = factor
        else:
            weight = weight * factor
    if dtype is None:
        dtype = gram_dtype(g, weight, factor if scale_result else None)
    result = np.empty((cols, cols) if shape is None else shape, dtype=dtype)
    matrix = result.reshape(cols, cols)   # a view of result's buffer: matmul writes it in place
    if weight is None:
        # gemm with a copy of G in its own layout (a plain copy), or syrk on G itself
        np.matmul(g.T, g.copy(order="K") if narrow(rows, cols) else g, out=matrix)
    elif np.ndim(weight) == 0 or rows == 0:
        np.matmul(g.T, g * weight, out=matrix)
    else:
        # False with a NaN, as (w >= 0).all(); a narrow G takes gemm, without the roots
        nonnegative = not narrow(rows, cols) and np.isrealobj(weight) and bool(weight.min() >= 0)
        root = np.sqrt(weight) if nonnegative else None
        block = max(1, ROW_BLOCK_ENTRIES // max(cols, 1))
        if rows <= block:   # one block: its product written straight into the result (the same BLAS call)
            if nonnegative:
                half = g * root
                _write_product(matrix, half.T, half)                 # syrk
            else:
                _write_product(matrix, g.T, g * weight)
        else:
            for start in range(0, rows, block):
                stop = start + block
                if nonnegative:
                    half = g[start:stop] * root[start:stop]
                    part = half.T @ half                             # syrk
                else:
                    part = g[start:stop].T @ (g[start:stop] * weight[start:stop])
                if start == 0:
                    matrix[...] = part
                else:
                    matrix += part
    if scale_result:
        matrix *= factor
    return result


def narrow(rows, cols):
    """Whether G's product with itself is a gemm on a copy (see the module's docstring), not a syrk.

    >>> narrow(500, 20), narrow(500, 100), narrow(10 ** 6, 20)
    (True, False, False)
    """
    return cols <= GEMM_COLS and rows * cols <= GEMM_ENTRIES


def _write_product(matrix, a, b):
    """matrix[...] = a @ b, by matmul straight into ``matrix`` where the product has its dtype (the
    same BLAS call, without the temporary)."""
    if matrix.dtype == np.result_type(a, b):
        np.matmul(a, b, out=matrix)
    else:
        matrix[...] = a @ b


def gram_plan(operands, subs, core_ids, contract):
    """A GramPlan for the tensor ``operands`` (index lists ``subs``) and result axes ``core_ids``, or None."""
    positions = {}
    for k, op in enumerate(operands):
        positions.setdefault(op, []).append(k)
    pairs, weights = [], []
    for ks in positions.values():
        if len(ks) == 1:
            weights.append(ks[0])
        elif len(ks) == 2:
            pairs.append(tuple(ks))
        else:
            return None
    if not pairs or len(pairs) > MAX_PAIRS:
        return None
    for flips in product((False, True), repeat=len(pairs)):
        oriented = [(q, p) if flip else (p, q) for (p, q), flip in zip(pairs, flips)]
        plan = _oriented_plan(subs, oriented, weights, core_ids)
        if plan is not None:
            shared, renaming = plan
            return GramPlan(subs, oriented, weights, shared, core_ids, renaming, contract)
    return None


def _oriented_plan(subs, pairs, weights, core_ids):
    """(shared ids, renaming left -> right) if the left operands of ``pairs`` form one half."""
    renaming, shared = {}, set()
    for a, b in pairs:
        for x, y in zip(subs[a], subs[b]):
            if x == y:
                shared.add(x)
            elif renaming.setdefault(x, y) != y:
                return None
    images = set(renaming.values())
    if not shared or len(images) != len(renaming) or images & set(renaming) or \
            (shared & set(renaming)) or (shared & images):
        return None
    core = set(core_ids)
    if shared & core or any((x in core) != (y in core) for x, y in renaming.items()):
        return None
    if core - set(renaming) - images:
        return None
    if any(not set(subs[k]) <= shared for k in weights):
        return None
    return sorted(shared), renaming
