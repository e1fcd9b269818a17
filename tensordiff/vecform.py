"""Jacobians of vec(F) written with the Magnus–Neudecker matrix: ∂vec(AXB)/∂X = unvec(kron(B', A)).

td.vec is column-major, so ∂vec(F)/∂X (F of shape (m, s), X of shape (p, q)) has the axes
(s·m, p, q): vec(F)'s merged axis, then X's. Its matrix is the textbook Jacobian
J = ∂vec(F)/∂vec(X), of shape (s·m, q·p), and two words of the parser split J's column axis back
into X's two axes:

    unvec(J)[a, k, l]  = J[a, l·p + k]    J's columns index vec(X)   (J's column dim q·p)
    unvecT(J)[a, k, l] = J[a, k·q + l]    J's columns index vec(X')  (J's column dim p·q)

so unvec of a row vector is vec's inverse, and ∂vec(AXB)/∂X = unvec(kron(B', A)), ∂vec(X)/∂X =
unvec(kron(eye, eye)), ∂vec(X')/∂X = unvecT(kron(eye, eye)). ``vec_form`` writes an order-3
expression whose first axis is a merged dim of two parts so whenever the order-4 tensor with that
axis split (∂F/∂X) has a tensor-product form (kronform.py): tprod(A, B) is unvec(kron(B, A)),
tbox(A, B) is unvecT(kron(B, A)) and outer(A, B) is unvec(vec(A)*vec(B)'). docs/guide/notation.md
defines the words; printed, each eye carries its size (unvec(kron(eye(size(X, 2)), eye(size(X, 1))))).
"""

from __future__ import annotations

from .composite import merge
from .errors import ShapeError
from .expr import Expr
from .indices import merged_parts
from .kronform import TENSOR_PRODUCTS
from .ops import einsum
from .simplify import simplify

__all__ = ["unvec_columns", "vec_form", "UNVEC_WORDS"]

# The parser's words: whether J's columns index vec(X') (C order of X's axes) rather than vec(X).
UNVEC_WORDS = {"unvec": False, "unvecT": True}


def unvec_columns(jacobian: Expr, transposed: bool = False) -> Expr:
    """``jacobian`` (a matrix or a vector) with its last axis, a merged dim of two parts, split into X's axes:
    the parts reversed (vec(X) is column-major) unless ``transposed`` (its columns index vec(X'))."""
    parts = merged_parts(jacobian.shape[-1]) if jacobian.ndim in (1, 2) else None
    word = "unvecT" if transposed else "unvec"
    if parts is None or len(parts) != 2:
        raise ShapeError(f"{word}: the last axis must be a merged dim of two parts (as kron's or vec's), got "
                         f"shape ({', '.join(jacobian.shape)})")
    lead = "a" if jacobian.ndim == 2 else ""
    out = "kl" if transposed else "lk"
    return einsum(f"{lead}c,c{out}->{lead}kl", jacobian, merge(parts))


def vec_form(expr, write):
    """``expr`` (order 3, its first axis vec(F)'s merged dim) in unvec/kron notation, or None.

    ``write`` writes an order-4 tensor in tensor-product notation (kronform.tensor_form's text) or
    returns None; each of its products becomes the matching Kronecker matrix."""
    if expr.ndim != 3:
        return None
    parts = merged_parts(expr.shape[0])
    if parts is None or len(parts) != 2 or any(merged_parts(d) is not None for d in expr.shape[1:]):
        return None
    cols, rows = parts   # vec(F) of F (rows, cols) has the dim cols·rows
    split = simplify(einsum("ckl,cji->ijkl", expr, merge((cols, rows))))
    text = write(split)
    if text is None:
        return None
    return _rewritten(text)


def _rewritten(text):
    """The tensor-product text of ∂F/∂X as unvec(...) of Kronecker matrices: each product call
    replaced, the terms of one word gathered under one unvec/unvecT."""
    out, k, words = [], 0, set()
    while k < len(text):
        word = next((w for w in TENSOR_PRODUCTS if text.startswith(w + "(", k)
                     and (k == 0 or not (text[k - 1].isalnum() or text[k - 1] in "_."))), None)
        if word is None:
            out.append(text[k])
            k += 1
            continue
        first, second, end = _arguments(text, k + len(word))
        words.add("unvecT" if word == "tbox" else "unvec")
        if word == "outer":
            out.append(f"unvec(vec({first})*vec({second})')")
        else:
            out.append(f"{'unvecT' if word == 'tbox' else 'unvec'}(kron({second}, {first}))")
        k = end
    return "".join(out)


def _arguments(text, open_at):
    """The two top-level arguments of the call whose '(' is at ``open_at``, and the index past its ')'."""
    depth, split = 0, None
    for k in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        if depth == 1 and text[k] == "," and split is None:
            split = k
        if depth == 0:
            return text[open_at + 1:split].strip(), text[split + 1:k].strip(), k + 1
    raise ValueError("unbalanced tensor-product text")

