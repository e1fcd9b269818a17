"""Matrix notation of merged axes: ``vec(X)`` and ``kron(A, B)``, words the parser reads back.

A product holding merges (composite.py) is written as vec or kron when its merges are the
whole story: ``vec(M)`` where a merge of two parts makes the product's one output axis from an
order-2 rest that stays connected (vec(X): R[c, j, i] X[i, j]), ``kron(L, R)`` where the rest
falls apart into a piece on each merge's first parts and a piece on their second parts (the
vectors u[i] v[k] of kron(u, v) are such pieces too). Anything else holding a merge has no matrix
notation here (index notation shows it).
"""

from .composite import STRUCTURES, Merge
from .indices import UnionFind
from .einsumnodes import einsum_on
from .matrixtext import paren

__all__ = ["StructureMatrixForms", "structure_matrix_form"]


class StructureMatrixForms:
    """The bare constants have no matrix notation (None)."""

    def _merge(self, node):
        return None

    _embed = _reinterpret = _reshape = _part = _place = _merge


def structure_matrix_form(write, node):
    """``vec(...)`` or ``kron(..., ...)`` for an einsum ``node`` holding merges; None where it holds
    none (write it as any product); False where it holds some but no vec/kron form fits."""
    ops, subs, out = node.operands, node.subscripts, node.out
    structure = [k for k, op in enumerate(ops) if isinstance(op, STRUCTURES)]
    if not structure:
        return None
    if any(not isinstance(ops[k], Merge) or len(ops[k].parts) != 2 for k in structure):
        return False
    count = {}
    for sub in list(subs) + [out]:
        for i in sub:
            count[i] = count.get(i, 0) + 1
    if len(structure) == 1 and subs[structure[0]][0] not in out:
        return _times_vec(write, node, structure[0], count)
    if len(structure) != len(out) or len(set(out)) != len(out):
        return False
    merged = {subs[k][0]: subs[k][1:] for k in structure}
    if set(merged) != set(out) or any(count[c] != 2 for c in out):
        return False
    rest = [k for k in range(len(ops)) if k not in structure]
    orphans = {i for i in range(len(node.dims)) if i not in count}   # size factors: with the left piece
    pieces = _components(len(node.dims), [subs[k] for k in rest])
    firsts = [merged[c][0] for c in out]
    seconds = [merged[c][1] for c in out]
    side = {}
    for group, name in ((firsts, "first"), (seconds, "second")):
        for i in group:
            side.setdefault(pieces.find(i), set()).add(name)
    if len(out) == 1 and len(side[pieces.find(firsts[0])] | side[pieces.find(seconds[0])]) == 2 \
            and pieces.find(firsts[0]) == pieces.find(seconds[0]):
        # vec(M): R[c, j, i] M[i, j], the rest one connected matrix
        inner = _piece(node, rest, (seconds[0], firsts[0]), orphans)
        return f"vec({write(inner)})"
    if any(len(sides) > 1 for sides in side.values()):
        return False
    left_roots = {pieces.find(i) for i in firsts}
    left = [k for k in rest if subs[k] and pieces.find(subs[k][0]) in left_roots]
    left += [k for k in rest if not subs[k]]   # scalar factors go with the left piece
    right = [k for k in rest if k not in left]
    a = _piece(node, left, tuple(firsts), orphans)
    b = _piece(node, right, tuple(seconds), (), coeff=1.0)
    return f"kron({write(a)}, {write(b)})"


def _times_vec(write, node, k, count):
    """``M*vec(X)``, ``M'*vec(X)`` or ``v'*vec(X)``: a merge whose index meets one other operand."""
    ops, subs, out = node.operands, node.subscripts, node.out
    c, j, i = subs[k]
    holders = [m for m in range(len(ops)) if m != k and c in subs[m]]
    if count[c] != 2 or len(holders) != 1 or len(subs[holders[0]]) > 2 or len(set(subs[holders[0]])) != len(subs[holders[0]]):
        return False
    y = holders[0]
    rest = [m for m in range(len(ops)) if m not in (k, y)]
    other = [a for a in subs[y] if a != c]
    pieces = _components(len(node.dims), [subs[m] for m in rest])
    touching = {pieces.find(a) for m in rest for a in subs[m]}
    if tuple(other) != tuple(out) or pieces.find(i) != pieces.find(j) or other and pieces.find(other[0]) in touching \
            or any(pieces.find(subs[m][0]) != pieces.find(i) for m in rest if subs[m]):
        return False
    inner = _piece(node, rest, (i, j), {a for a in range(len(node.dims)) if a not in count})
    factor = write(ops[y])
    # a sum is bracketed: (C - q)*vec(X), not C - q*vec(X)
    factor = paren(factor) if len(subs[y]) == 2 and subs[y][1] == c else f"{factor}'" if _atomic(factor) else f"({factor})'"
    return f"{factor}*vec({write(inner)})"


def _atomic(text):
    return text.replace("_", "").isalnum()


def _piece(node, positions, out, orphans, coeff=None):
    """The product of the operands at ``positions`` with output ``out`` (an einsum over their indices)."""
    subs = [node.subscripts[k] for k in positions]
    ids = sorted({i for sub in subs for i in sub} | set(out) | set(orphans))
    return einsum_on(node.coeff if coeff is None else coeff, [node.operands[k] for k in positions], subs, out,
                     node.dims, ids)


def _components(size, subs):
    pieces = UnionFind(size)
    for sub in subs:
        for i in sub[1:]:
            pieces.union(sub[0], i)
    return pieces
