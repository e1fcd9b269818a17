"""Gram contractions: Σ_S G[S,I] w[S] G[S,J] whose two halves are one tensor up to renaming.

A Gauss–Newton Hessian is GᵀG: the operands pair up (X[m,i] with X[m,k], h′[m,j] with h′[m,l]),
identical nodes whose indices agree on the summed ones (S) and differ by a renaming φ elsewhere.
Contracting one half G[S,(I)] once and forming G.T @ G lets BLAS do a symmetric rank-k update
(syrk): half the multiplications, the other triangle mirrored — the symmetric-half saving for
Hessians. Operands that carry only indices of S (weights w) are folded into one side.
"""

import math
from itertools import product

import numpy as np
import opt_einsum

__all__ = ["gram_plan", "GramPlan"]

MAX_PAIRS = 4  # orientations tried: 2**4


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
        order = left + [renaming[i] for i in left]
        self.permutation = [order.index(i) for i in core_ids]
        self.contract = contract

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

        def run(arrays, factor):
            g = half_contraction(*[arrays[k] for k in half_args]).reshape(rows, cols)
            if weight_args:
                weight = weight_contraction(*[arrays[k] for k in weight_args]).reshape(weight_shape)
                weight = np.broadcast_to(weight, shared_shape).reshape(rows, 1)
                result = g.T @ (g * (weight * factor))
            elif isinstance(factor, float) and factor == 1.0:
                result = g.T @ g                                   # syrk
            elif np.isrealobj(factor) and factor > 0:
                g = g * np.sqrt(factor)
                result = g.T @ g                                   # syrk
            else:
                result = g.T @ (g * factor)
            return np.transpose(result.reshape(left_shape + left_shape), permutation)
        return run

    def __call__(self, arrays, factor):
        half = self.contract(self.half_equation, [arrays[k] for k in self.half])
        rows = int(np.prod(half.shape[:self.shared_count], dtype=np.int64))
        left_shape = half.shape[self.shared_count:]
        g = half.reshape(rows, int(np.prod(left_shape, dtype=np.int64)))   # not -1: rows may be 0
        if self.weights:
            weight = self.contract(self.weight_equation, [arrays[k] for k in self.weights])
            shared_shape = half.shape[:self.shared_count]
            weight = weight.reshape([n if carried else 1 for n, carried in zip(shared_shape, self.weight_carried)])
            weight = np.broadcast_to(weight, shared_shape).reshape(rows, 1)
            result = g.T @ (g * (weight * factor))
        elif isinstance(factor, float) and factor == 1.0:
            result = g.T @ g                                   # syrk
        elif np.isrealobj(factor) and factor > 0:
            g = g * np.sqrt(factor)
            result = g.T @ g                                   # syrk
        else:
            result = g.T @ (g * factor)
        result = result.reshape(left_shape + left_shape)
        return np.transpose(result, self.permutation)


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
