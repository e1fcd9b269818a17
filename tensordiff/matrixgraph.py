"""Series-parallel reduction of an einsum's index graph, for matrix notation.

matrixform.py sees each matrix operand of an einsum term as an edge between its two indices. Two
paths of edges that join the same two indices, through indices used by nothing else, are one
Hadamard product of two matrix products: Σ_l R[k,l] W[j,l] · H[k,j] is ((R*W') .* H)[k,j]. This
is how a backpropagated gradient, X'*((t*W2 - Y)*W2' .* t .* (1 - t)), gets its matrix form.
Each merge replaces two or more edges by one, so the reduction ends.
"""

from .indices import index_uses
from .matrixtext import atom, hadamard, paren

__all__ = ["merge_parallel_paths"]


def merge_parallel_paths(items, out):
    """Merge, in place, pairs of paths of matrix factors that join the same two indices.

    ``items`` are matrixform's factors ``[text, indices, symmetric]``; a path runs through
    indices that exactly two matrix factors use and that are not output indices. Returns whether
    anything merged.
    """
    merged_any = False
    while _merge_one(items, out):
        merged_any = True
    return merged_any


def _merge_one(items, out):
    count = {}
    for item in items:
        for i in item[1]:
            count[i] = count.get(i, 0) + 1
    for i in out:
        count[i] = count.get(i, 0) + 1
    edges = [k for k, item in enumerate(items) if len(item[1]) == 2 and item[1][0] != item[1][1]]

    def inner(i):   # an index a path runs through: two matrix factors, nothing else
        return count[i] == 2 and i not in out and sum(i in items[k][1] for k in edges) == 2

    for start in dict.fromkeys(i for k in edges for i in items[k][1]):
        if inner(start):
            continue
        reached = {}
        for k in edges:
            if start not in items[k][1]:
                continue
            path, texts, here = [k], [], start
            while True:
                text, ids, symmetric = items[path[-1]]
                forward = ids[0] == here
                texts.append(text if forward or symmetric else atom(text) + "'")
                here = ids[1] if forward else ids[0]
                if not inner(here):
                    break
                path.append(next(j for j in edges if j not in path and here in items[j][1]))
            if here == start:
                continue
            if here in reached and not set(reached[here][0]) & set(path):
                first, first_texts = reached[here]
                text = hadamard(_product(first_texts), _product(texts))
                for j in sorted(first + path, reverse=True):
                    del items[j]
                items.append([atom(text), (start, here), False])
                return True
            reached.setdefault(here, (path, texts))
    return False


def _product(texts):
    return "*".join(paren(text) for text in texts)


def pendant_groups(subscripts, out):
    """[(index j, positions of the operands in a pendant)]: a pendant is a piece of the index graph
    that meets the rest only at j, a busy index (used more than twice, the output counting once),
    holds no output index, and is more than one vector on j. It is a vector over j
    (X[j,l] B[l,m] y[m] is (X*B*y)[j]; X[j,k] C[k,l] X[j,l] is diag(X*C*X')[j]), which matrixform
    writes on its own and puts back as one factor."""
    count = index_uses(subscripts, out)
    groups, taken = [], set()
    for j in sorted(i for i, c in count.items() if c > 2):
        touching = [k for k, sub in enumerate(subscripts) if j in sub and k not in taken]
        for piece in _pieces_without(subscripts, j, touching):
            indices = {i for k in piece for i in subscripts[k]} - {j}
            slots = sum(subscripts[k].count(j) for k in piece)
            if indices & set(out) or len(piece) < 2 and slots < 2 or piece & taken or len(piece) == len(subscripts):
                continue
            if any(k not in piece and indices & set(sub) for k, sub in enumerate(subscripts)):
                continue
            groups.append((j, sorted(piece)))
            taken |= piece
    return groups


def _pieces_without(subscripts, j, starts):
    """The sets of operand positions connected to each of ``starts`` without passing through index j."""
    seen, pieces = set(), []
    for start in starts:
        if start in seen:
            continue
        piece, stack = set(), [start]
        while stack:
            k = stack.pop()
            if k in piece:
                continue
            piece.add(k)
            links = set(subscripts[k]) - {j}
            stack.extend(m for m, sub in enumerate(subscripts) if m not in piece and links & set(sub))
        seen |= piece
        pieces.append(piece)
    return pieces
