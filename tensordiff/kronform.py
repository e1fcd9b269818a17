"""Tensor-product notation: results of order 3 and 4 written with matrices, vectors and identities.

Three products build a tensor of order 3 or 4 from two factors, each a matrix or a vector:

    tprod(A, B)[i,j,k,l] = A[i,k] B[j,l]    axes (rows A, rows B, cols A, cols B)    A ⊗ B
    tbox(A, B)[i,j,k,l]  = A[i,l] B[j,k]    axes (rows A, rows B, cols B, cols A)    A ⊠ B
    outer(A, B)[i,j,k,l] = A[i,j] B[k,l]    axes (axes of A, axes of B)              A ∘ B

A vector is a column x (n×1) or a row x' (1×n), and its axis of size 1 is left out of the result:
tprod(A, x)[i,j,k] = A[i,k] x[j], tprod(A, x')[i,k,l] = A[i,k] x[l]. A derivative ∂F/∂X has F's
axes then X's (diff.py), so ``tprod`` pairs F's rows with X's rows and F's columns with X's columns
(a vector F is a column): ∂X/∂X = tprod(eye, eye), ∂(A*X*B)/∂X = tprod(A, B'), ∂(A*x)/∂A =
tprod(eye, x'); ``tbox`` pairs them crosswise (∂X'/∂X = tbox(eye, eye)) and ``outer`` F's axes
together (the Hessian of (a'Xb)² is 2*outer(a*b', a*b')). A factor along an axis where the
result is constant is the all-ones vector(1) (∂(X*W + b')/∂b = tprod(vector(1), eye)). Printed, an
identity or all-ones factor carries its size (tprod(eye(size(X, 1)), eye(size(X, 2)))), as nothing
beside it in a product of these words sizes it; a zero is outer(matrix(0, ...), matrix(0, ...)).
``tensor_form`` writes an expression of
order 3 or 4 so when each of its terms is a product of two such factors and scalars; the factors
are written by the matrix notation, which matrixform.py passes in. The parser reads the three
words (parse.py), td.latex writes ⊗, ⊠ and ∘ (matrixlatex.py); docs/guide/notation.md defines them.
"""

from __future__ import annotations

from .annotations import ExprLike
from .errors import ShapeError
from .expr import Einsum, Expr
from .indices import UnionFind
from .matrixsums import MAX_DISTRIBUTED_TERMS, distributed
from .ops import einsum, outer
from .constantnodes import constant
from .einsumnodes import einsum_on
from .simplify import as_expr
from .sumnodes import terms_of

__all__ = ["tprod", "tbox", "tensor_product", "tensor_form", "TENSOR_PRODUCTS", "TENSOR_LATEX"]


def tensor_product(word, a, b, rows=(False, False)):
    """``word``'s product (tprod, tbox or outer) of ``a`` and ``b``; ``rows[k]``: factor k, a vector,
    is a row (the parser's x'), its axis among the columns."""
    a, b = as_expr(a), as_expr(b)
    for which, factor in (("first", a), ("second", b)):
        if factor.ndim > 2:
            raise ShapeError(f"{word}: the {which} factor must be a matrix, a vector or a scalar, got shape "
                             f"({', '.join(factor.shape)})")
    if word == "outer":
        return outer(a, b)
    letters = []
    for factor, (row, col), is_row in zip((a, b), _LETTERS[word], rows):
        letters.append(row + col if factor.ndim == 2 else (col if is_row else row) if factor.ndim == 1 else "")
    out = "".join(letter for letter in "ijkl" if letter in letters[0] + letters[1])
    return einsum(f"{letters[0]},{letters[1]}->{out}", a, b)


# The (row, column) index of each factor, the result's axes being i, j, k, l.
_LETTERS = {"tprod": (("i", "k"), ("j", "l")), "tbox": (("i", "l"), ("j", "k"))}


def tprod(a: ExprLike, b: ExprLike) -> Expr:
    """The tensor product of two matrices with unmerged axes: T[i,j,k,l] = A[i,k]·B[j,l].

    The axes are (rows of A, rows of B, cols of A, cols of B), so it is the notation of a
    derivative ∂F/∂X whose first axis pairs F's rows with X's rows and second F's columns with
    X's columns: ∂(A @ X @ B)/∂X = tprod(A, B.T). A vector is one column, its axis of size 1
    left out: tprod(A, x)[i,j,k] = A[i,k]·x[j] (the parser's tprod(A, x') puts a row vector's
    axis among the columns: tprod(A, x')[i,k,l] = A[i,k]·x[l], as td.outer(A, x)). Reshaping
    tprod(A, B) (shape (m, p, n, q)) in C order to (m·p, n·q) gives the Kronecker product
    kron(A, B); with column-major vec, vec(dF) = kron(B, A) @ vec(dX) where ∂F/∂X = tprod(A, B).

    Parameters
    ----------
    a, b : Expr or number
        Matrices, vectors (a column) or scalars.

    Returns
    -------
    Expr
        The product, of order 4 for two matrices (3 with a vector).

    Raises
    ------
    ShapeError
        If a factor has more than two axes.

    Examples
    --------
    >>> import tensordiff as td
    >>> A, X = td.matrix("A", "m n"), td.matrix("X", "n p")
    >>> td.tprod(A, td.eye("p")).shape
    ('m', 'p', 'n', 'p')
    >>> td.simplify(td.diff(A @ X, X) - td.tprod(A, td.eye("p"))).is_constant
    True
    >>> print(td.matrix_notation(td.diff(A @ X, X)), td.matrix_notation(td.diff(A @ X, X), sized_by=X))
    tprod(A, eye(size(p))) tprod(A, eye(size(X, 2)))
    """
    return tensor_product("tprod", a, b)


def tbox(a: ExprLike, b: ExprLike) -> Expr:
    """The box product of two matrices: T[i,j,k,l] = A[i,l]·B[j,k].

    The axes are (rows of A, rows of B, cols of B, cols of A): the tensor product with its last
    two axes swapped, the form of a derivative that pairs F's rows with X's columns, such as
    ∂X'/∂X = tbox(eye, eye) and ∂(X' X)/∂X = tbox(eye, X') + tprod(X', eye). A vector is one
    column, its axis of size 1 left out. With column-major vec, vec(dF) = kron(B, A) @ K @ vec(dX)
    where ∂F/∂X = tbox(A, B) and K is the commutation matrix (K @ vec(dX) = vec(dX')).

    Parameters
    ----------
    a, b : Expr or number
        Matrices, vectors (a column) or scalars.

    Returns
    -------
    Expr
        The product, of order 4 for two matrices (3 with a vector).

    Raises
    ------
    ShapeError
        If a factor has more than two axes.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> td.tbox(td.eye("p"), td.eye("n")).shape
    ('p', 'n', 'n', 'p')
    >>> print(td.matrix_notation(td.diff(X.T, X), sized_by=X))
    tbox(eye(size(X, 2)), eye(size(X, 1)))
    """
    return tensor_product("tbox", a, b)


# The parser's words for these products, and their LaTeX operators.
TENSOR_PRODUCTS = ("tprod", "tbox", "outer")
TENSOR_LATEX = {"tprod": r"\otimes", "tbox": r"\boxtimes", "outer": r"\circ"}

# Which product writes a term whose two factors sit on these output axes (the factor holding
# axis 0 first, and written first).
# A vector factor is a column (x) or, among the columns, a row (x'), as for a vector F in ∂F/∂X:
# F is a column, so each axis of X pairs with a column of a factor.
_LAYOUTS = {
    ((0, 2), (1, 3)): "tprod",
    ((0, 3), (1, 2)): "tbox",
    ((0, 1), (2, 3)): "outer",
    ((0, 2), (1,)): "tprod",     # M[i,k] v[j]:  tprod(M, v)
    ((0, 1), (2,)): "tprod",     # M[i,j] v[k]:  tprod(M, v')
    ((0,), (1, 2)): "tprod",     # v[i] M[j,k]:  tprod(v, M)
}
_ROW = ((0, 1), (2,))


def tensor_form(expr, write):
    """``expr`` (order 3 or 4) in tensor-product notation, or None where a term has no such form.

    ``write`` writes an expression of order ≤ 2 in matrix notation, or returns None."""
    if expr.ndim not in (3, 4):
        return None
    terms, pending, budget = [], list(terms_of(expr)), MAX_DISTRIBUTED_TERMS
    while pending:
        term = pending.pop(0)
        written = _term(term, write)
        if written is None:   # a product over a sum of order 3 or 4: its terms, each written (matrixsums.py)
            expanded = distributed(term, budget)
            if expanded is None:
                return None
            budget -= len(expanded)
            pending[:0] = expanded
            continue
        terms.append(written)
    if not terms:
        return _zero(expr, write)
    for side in (1, 0):   # tprod(A, C) + tprod(B, C) is tprod(A + B, C); then a shared first factor
        terms = _collect(terms, side)
    terms.sort(key=lambda term: term[0].startswith("-"))   # a positive term first: A - B, not -B + A
    unsigned = {prefix.removeprefix("-") for prefix, *_ in terms}
    common = unsigned.pop() if len(terms) > 1 and len(unsigned) == 1 else ""
    if common:   # det(X)*outer(...) - det(X)*tbox(...) is det(X)*(outer(...) - tbox(...))
        negative = all(prefix.startswith("-") for prefix, *_ in terms)
        terms = [(prefix[:len(prefix) - len(common)] if not negative else "", *rest) for prefix, *rest in terms]
        return ("-" if negative else "") + common + "(" + _sum([_text(*term) for term in terms]) + ")"
    return _sum([_text(*term) for term in terms])


def _zero(expr, write):
    """A zero tensor as the outer product of two zeros, each sized: outer(matrix(0, ...), matrix(0, ...))
    of order 4, outer(matrix(0, ...), vector(0, ...)) of order 3; None where a factor has no size."""
    factors = [write(constant(0.0, expr.shape[:2])), write(constant(0.0, expr.shape[2:]))]
    if any(factor is None or factor.endswith("(0)") for factor in factors):   # unsized: nothing beside it sizes it
        return None
    return f"outer({factors[0]}, {factors[1]})"


def _sum(texts):
    return texts[0] + "".join(" - " + t[1:] if t.startswith("-") else " + " + t for t in texts[1:])


def _term(node, write):
    """(scalar prefix, word, layout, [first factor, second factor]) of one einsum term, or None."""
    if not isinstance(node, Einsum) or any(len(sub) > 2 for sub in node.subscripts):
        return None
    uf = UnionFind(len(node.dims))
    for sub in node.subscripts:
        for i in sub[1:]:
            uf.union(sub[0], i)
    used = {i for sub in node.subscripts for i in sub} | set(node.out)
    if len(used) < len(node.dims):
        return None   # a factor size(dim): no symbol for it
    axes = {}   # component root -> the output axes it holds
    for axis, i in enumerate(node.out):
        axes.setdefault(uf.find(i), []).append(axis)
    if any(len(held) > 2 for held in axes.values()):
        return None
    pairs = sorted(tuple(held) for held in axes.values() if len(held) == 2)
    singles = sorted(held[0] for held in axes.values() if len(held) == 1)
    while len(pairs) + len(singles) > 2:
        pairs.append((singles.pop(0), singles.pop(0)))   # two vectors make a matrix: x*y'
    groups = tuple(sorted(pairs + [(axis,) for axis in singles]))
    if groups not in _LAYOUTS:
        return None
    root = [uf.find(sub[0]) if sub else None for sub in node.subscripts]
    factors = []
    for group in groups:
        roots = [uf.find(node.out[axis]) for axis in group]
        if len(group) == 2 and roots[0] != roots[1] and not all(r in root for r in roots):
            # two vectors, one of them all ones (constant along an axis: ∂(X*W + b')/∂b): u*v'
            u, v = (_vector(node, axis, root, uf, write) for axis in group)
            factors.append(None if None in (u, v) else f"{_grouped(u)}*{_transposed(v)}")
        elif len(group) == 1:
            factors.append(_vector(node, group[0], root, uf, write))
        else:
            factors.append(_part(node, 1.0, [k for k, r in enumerate(root) if r in roots],
                                 tuple(node.out[axis] for axis in group), write))
    scalar = _part(node, node.coeff, [k for k, r in enumerate(root) if r not in axes], (), write)
    if None in factors or scalar is None:
        return None
    if groups == _ROW:
        factors[1] = _transposed(factors[1])
    return _prefix(scalar), _LAYOUTS[groups], groups, factors


def _vector(node, axis, root, uf, write):
    """The vector factor on output ``axis``: its operands' product, or vector(1, size(X, 1)) where it has none."""
    here = uf.find(node.out[axis])
    return _part(node, 1.0, [k for k, r in enumerate(root) if r == here], (node.out[axis],), write)


def _part(node, coeff, keep, out, write):
    """The matrix notation of ``coeff`` times the operands ``keep`` of ``node``, with output ``out``."""
    ids = sorted({i for k in keep for i in node.subscripts[k]} | set(out))
    return write(einsum_on(coeff, [node.operands[k] for k in keep], [node.subscripts[k] for k in keep], out,
                           node.dims, ids))


def _transposed(text):
    """The row vector x' of a vector written as ``text``."""
    plain = text.replace("_", "").replace(".", "").isalnum()
    call = text.endswith(")") and text[:text.find("(")].isidentifier() and _closes_at_end(text, text.find("("))
    return text + "'" if plain or call else "(" + text + ")'"


def _closes_at_end(text, start):
    depth = 0
    for k in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        if depth == 0:
            return k == len(text) - 1
    return False


def _prefix(scalar):
    """The text that scales a product by the scalar written as ``scalar``: "", "-", "2*", "(a + b)*"."""
    if scalar == "1":
        return ""
    if scalar == "-1":
        return "-"
    return _grouped(scalar) + "*"


def _grouped(text):
    """``text`` in brackets where a top-level + or - (past its sign) would split a product."""
    depth = 0
    for k, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and k > 0 and ch in "+-" and text[k - 1] not in "e*/^(":
            return "(" + text + ")"
    return text


def _scaled(prefix, text):
    return text if not prefix else "-" + _grouped(text) if prefix == "-" else prefix + _grouped(text)


def _collect(terms, side):
    """Terms with one product and layout and the same factor on ``side`` written as one: the
    other factors summed, each with its term's scalar."""
    groups = {}
    for prefix, word, layout, factors in terms:
        groups.setdefault((word, layout, factors[side]), []).append((prefix, factors[1 - side]))
    collected = []
    for (word, layout, shared), members in groups.items():
        if len(members) == 1:
            prefix, other = members[0]
        else:
            texts = [_scaled(p, f) for p, f in members]
            prefix, other = "", _sum(texts)
        collected.append((prefix, word, layout, [other, shared] if side == 1 else [shared, other]))
    return collected


def _text(prefix, word, layout, factors):
    return f"{prefix}{word}({factors[0]}, {factors[1]})"
