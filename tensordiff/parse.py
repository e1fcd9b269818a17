"""Text → expression: the matrix notation people type on matrix-calculus pages.

>>> import tensordiff as td
>>> f = td.parse("inv(X'*X + lam*eye)*X'*y", X="n p", y="n", lam="")   # eye p×p
>>> f.shape
('p',)

Grammar (EBNF; MATLAB's precedence, loosest first; binary operators group left to right):

    expr     = sum { ("<" | "<=" | ">" | ">=") sum }         a 0/1 mask: where(x > 0, x, 0)
    sum      = chain { ("+" | "-") chain }
    chain    = unary { ("*" | ".*" | "./" | "/") unary }
    unary    = { "+" | "-" } power                          -x^2 is -(x^2)
    power    = postfix { ("^" | ".^") exponent }            x^2^3 is (x^2)^3, as MATLAB
    exponent = { "+" | "-" } postfix                        a number: a constant power
    postfix  = primary { "'" | ".'" }                       transpose
    primary  = number | "True" | "False" | name | function [ "'"... ] "(" expr { "," expr } ")" | ones | along
             | "eye" "(" size ")" | "(" expr ")"
    along    = ("sum" | "max" | "min" | "mean" | "logsumexp" | "size") "(" expr "," ("1" | "2") ")"
    ones     = ("vector" | "matrix") "(" [ "+" | "-" ] number { "," size } ")"   every entry the number
    size     = "size" "(" expr "," ("1" | "2") ")"     eye(size(X, 2)), vector(1, size(X, 1)): sized so
             | "size" "(" name ")"                     size(n): the size of the dim named n
    function = a function word | "user." name                          user.h: a user function
    number   = digits [ "." [ digits ] ] [ ("e" | "E") [ "+" | "-" ] digits ] | "." digits
    name     = ASCII letter or "_", then ASCII letters, digits, "_"

``*`` is the matrix product, or a scaling when one side is a scalar; ``.*`` and ``./`` are
elementwise (a scalar broadcasts, and a row vector x' spreads over the rows of a matrix, as
numpy broadcasts a vector; a column vector does not), as are ``+`` and ``-``; ``/`` divides by a
scalar; ``^`` raises a scalar to a scalar power, ``.^`` any shape elementwise. A number exponent
is a constant power (x^2); any other exponent is exp(log(base)·exponent), for a positive base
(a^b, 2^x). ``eye`` and ``I`` are the identity, and ``vector(c)``/``matrix(c)`` the vector/matrix
whose entries are all c (vector(1): all ones), their sizes taken from their surroundings, or for
eye from ``**dims`` (eye="p") where none do; ``eye(size(X, 2))``, ``vector(c, size(X, 1))`` and
``matrix(c, size(X, 1), size(Y, 2))`` take theirs from X and Y (matrix notation prints them where
nothing else sizes a constant). ``True`` and ``False`` are 1 and 0, as numpy counts them.
Function names are reserved: inv pinv det logdet tr diag sum norm1 norm2 sqrt vector matrix, polygamma1 polygamma2 ..., and every elementwise function of
``functions.FUNCTIONS`` (exp log log1p sin cos tan arcsin arccos arctan sinh cosh tanh sigmoid
softplus log_sigmoid erf gelu lgamma digamma abs sign step relu stop_gradient). A user function declared with
td.elementwise reads as h(x), its derivatives as h'(x), h''(x); ``user.h(x)`` reads it too, and is
how a user function named like a reserved word is written (user.softplus(x)). Elementwise
functions take any shape; sum, norm1 (sum of absolute values) and norm2 (2-norm, Frobenius on a
matrix) give a scalar; diag(v) of a vector is a diagonal matrix, diag(A) of a square matrix its
diagonal. The reductions max min mean logsumexp give a scalar, softmax log_softmax work along the
last axis; cholesky, tril and triu take a matrix, and pinv(A) of an (m, n) A is (n, m); maximum(a, b), minimum(a, b) and
where(mask, a, b) are elementwise (scalars broadcast). A comparison ``<`` ``<=`` ``>`` ``>=`` binds
loosest (x + 1 > y is (x + 1) > y) and gives the 0/1 mask of where it holds, elementwise, with
derivative 0: where(x > 0, x, 0), (A >= B) .* A.

Tensors of order 3 and 4 (kronform.py, docs/guide/notation.md): tprod(A, B)[i,j,k,l] = A[i,k] B[j,l],
tbox(A, B)[i,j,k,l] = A[i,l] B[j,k] and outer(A, B)[i,j,k,l] = A[i,j] B[k,l], of matrices and
vectors; a column vector's axis is a row's, a row vector x' (1, n) a column's, and the axes of
size 1 are left out (tprod(A, x')[i,k,l] = A[i,k] x[l]). unvec(J)[a,k,l] = J[a, k + p·l] splits the merged
columns (q·p) of a Jacobian J = ∂vec(F)/∂vec(X) into X's axes (p, q), unvecT(J) columns p·q (vecform.py). Such a tensor is typed as the tuple of
its dims; it adds to and combines elementwise with one of its shape, is scaled by a scalar, and
goes into elementwise functions, but not into matrix products, transposes or matrix functions.

As in MATLAB, ``sum(X, 1)``, max, min, mean
and logsumexp with a dimension 1 reduce down the columns to a row vector, and with 2 along the
rows to a column vector; ``size(X, 1)`` is the number of rows of X, ``size(X, 2)`` of columns.

Shapes are inferred in a matrix world: every value is (rows, cols), each a dim variable or the
literal 1 (a column vector is (n, 1), a row vector (1, n), a scalar (1, 1)), and dim variables
unify by union-find. ``*`` scales when a side is (1, 1), else it unifies the inner dims. A symbol
passed in ``symbols=`` or as its dims (X=X), given dims in ``**dims`` ("n p", "n", ""), or alive
already (the one declared last, ``symboltable.lookup_symbol``), keeps them; the others follow these
conventions:
  - an upper-case name (X, W, A1) is a matrix;
  - a lower-case name is a scalar unless its use makes it a column vector: it is transposed
    (x'); multiplied by a matrix or row vector on its left (A*x, y'*x); followed by a row vector
    (x*y' is an outer product, while lam*w'*w keeps lam a scalar); added to, or combined
    elementwise with, a column vector (X*w - y); or the argument of diag, sum or norm2; but a
    name raised with ^ (s^2), or an exponent of ^ (a^b), stays a scalar;
  - where the uses leave a name of one letter (with a subscript: x1, x_i) open, matrixcalculus.org's
    convention decides: h to z are vectors (a to g stay scalars), in order of appearance, each
    as long as the expression still types with it (x alone is a vector; in a*x + b, x is a vector
    and b, added to it, one by its use; s*X keeps s a scalar, and so does lam*w'*w: lam is no letter);
  - dims override the conventions: lam="" keeps lam a scalar in X*lam; N="" makes N a scalar.
The rules run to a fixed point: each pass turns some scalars into vectors, never back, so there
are at most as many passes as names (the convention then tries its names all at once, or one by
one for the first MAX_CONVENTION_TRIES of them). Inferred dims are named n, p, q, r, ... in order of
appearance, skipping the dim names in ``**dims`` and the expression's symbol names.

The text is read into a syntax tree by parsesyntax.py, typed by parseshapes.py, and built into the
expression by parsebuild.py; parsewords.py holds the notation's words.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

from .errors import ParseError, ShapeError
from .expr import Var, without_cycle_collection
from .symboltable import describe_symbol
from .indices import parse_dims
from .matrixnames import expand as expand_names
from .parsebuild import build, take_live_symbols
from .parseshapes import infer_shapes
from .parsesyntax import MAX_DEPTH, read_syntax
from .annotations import Dims
from .expr import Expr

__all__ = ["parse"]


def _given_symbols(symbols, dims):
    """({name: dims}, {name: symbol}) from parse's ``symbols=`` and dim keywords."""
    if symbols is None:
        symbols = {}
    elif isinstance(symbols, Var):
        symbols = [symbols]
    if isinstance(symbols, dict):
        for key, node in symbols.items():
            if not isinstance(node, Var) or key != node.name:
                held = describe_symbol(node) if isinstance(node, Var) else f"{node!r:.60}"
                raise ShapeError(f"symbols= maps each name to the symbol of that name, but {key!r} maps to {held}")
        symbols = list(symbols.values())
    if not isinstance(symbols, (list, tuple, set, frozenset)) or not all(isinstance(n, Var) for n in symbols):
        raise ShapeError(f"symbols= takes symbols (td.matrix(...), ...) in a list or a dict, got {symbols!r:.60}")
    chosen = {}
    for node in list(symbols) + [value for value in dims.values() if isinstance(value, Var)]:
        if chosen.setdefault(node.name, node) is not node:
            raise ShapeError(f"two different symbols named {node.name!r} given to parse: "
                             f"{describe_symbol(chosen[node.name])} and {describe_symbol(node)}")
    given = {name: node.dims for name, node in chosen.items()}
    for name, value in dims.items():
        if isinstance(value, Var):
            if value.name != name:
                raise ShapeError(f"{name}= was given the symbol {value.name!r}: a symbol passed by keyword "
                                 "stands for its own name")
        elif name in chosen:
            raise ShapeError(f"{name!r} is given both as a symbol and as dims {value!r}")
        else:
            given[name] = parse_dims(value, f"dims of {name!r}")
    return given, chosen


def _symmetric_names(symmetric):
    names = (symmetric,) if isinstance(symmetric, str) else symmetric
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(
            isinstance(n, str) and n.isidentifier() for n in names):
        raise ShapeError(f"symmetric= takes a symbol name or a list of names, got {symmetric!r:.60}")
    return frozenset(names)


def parse(text: str, /, *, symbols: Union[Expr, list[Expr], tuple[Expr, ...], set[Expr], dict[str, Expr], None] = None,
          symmetric: Union[str, Iterable[str]] = (), **dims: Union[Dims, Expr]) -> Expr:
    """Read an expression typed in matrix notation.

    The notation is that of matrix-calculus pages, with MATLAB's precedence: ``'`` transpose, ``*``
    matrix product (or scaling by a scalar), ``.*`` ``./`` ``.^`` elementwise, ``^`` power,
    ``eye``/``I`` the identity, and the function names ``inv det logdet tr diag sum norm2`` and the
    elementwise functions; the module docstring holds the grammar. Symbols given dims here, or alive
    already (declared with the same name and still referenced), keep their dims; the others are
    inferred: upper-case names are matrices, lower-case ones scalars unless their use makes them
    column vectors (``X*w - y``, ``x'``, ``diag(v)``).

    How a name in ``text`` finds its symbol, first match first:
      1. a symbol passed in ``symbols=`` (a list of symbols, or a dict {name: symbol}) or as the
         value of a dim keyword (``X=X``): that very symbol, with its dims and kind;
      2. dims given as a keyword (``X="n p"``, ``y="n"``, ``lam=""``): the symbol with those dims;
      3. the symbol last declared under that name and still alive (td.matrix("X", "n p") earlier);
      4. the conventions of the module docstring: upper-case names are matrices, lower-case
         ones scalars or vectors by their use.
    Symbols are values (name, dims and kind), so the same name and dims give the same symbol as
    td.matrix/td.vector do. ``symmetric=`` names the symbols that are symmetric matrices (a name
    or a list of names), as td.matrix(..., symmetric=True) does; a symmetric symbol passed in
    ``symbols=`` is symmetric already. The keywords ``symbols`` and ``symmetric`` are therefore
    no symbol names here: pass such a symbol in ``symbols=``.

    Parameters
    ----------
    text : str
        The expression; lines (or ';'-separated parts) ``name = expression`` before it name
        subexpressions it uses, as td.matrix_notation writes a repeated one.
    **dims : str or tuple of str
        Dims of symbols by name (``X="n p"``, ``lam=""``); ``eye="p"`` sizes an identity that
        nothing else sizes. A symbol may be given instead of dims (``X=X``).
    symbols : list or dict of Expr, optional
        Symbols to use by name: a list of symbols or a dict {name: symbol}.
    symmetric : str or list of str, optional
        The names of symbols that are symmetric matrices; a symbol passed (in ``symbols=`` or as
        ``X=X``) that is not symmetric may not be named here (ShapeError).

    Returns
    -------
    Expr
        The expression; a parsed ``X`` is the same symbol as ``td.matrix("X", ...)`` with the same
        dims.

    Raises
    ------
    ParseError
        If the text is not well formed, with a caret under the column at fault.
    ShapeError
        If the operands' dims do not fit (``X*Y`` with mismatched inner dims), with a caret; or if
        ``symmetric=`` names a symbol the text does not use.

    Examples
    --------
    >>> import tensordiff as td
    >>> f = td.parse("logdet(W*W' + s^2*eye)", W="n k")     # s a scalar, eye n×n
    >>> f.shape, sorted(f.free)
    ((), ['W', 's'])
    >>> print(td.matrix_notation(td.grad(f, td.matrix("W", "n k"))))
    2*inv(s^2*eye + W*W')*W
    >>> td.parse("inv(X'*X")
    Traceback (most recent call last):
        ...
    tensordiff.errors.ParseError: unclosed '('
      inv(X'*X
         ^
    >>> S = td.matrix("S", "n n", symmetric=True)
    >>> td.matrix_notation(td.grad(td.parse("x'*S*x", S=S), td.vector("x", "n")))
    '2*S*x'
    """
    if not isinstance(text, str):
        raise ParseError(f"parse takes a string, got {type(text).__name__}")
    text = expand_names(text)   # "t1 = sigmoid(X*W)\n t1 .* (1 - t1)": matrix notation's named parts
    given, chosen = _given_symbols(symbols, dims)
    wanted = _symmetric_names(symmetric)
    for name in sorted(wanted & set(chosen)):
        if not chosen[name].symmetric:
            raise ShapeError(f"symmetric= names {name!r}, but the symbol {name!r} passed to parse is not symmetric: "
                             f"declare it with symmetric=True, or leave {name!r} out of symmetric=")
    try:
        with without_cycle_collection():
            order = read_syntax(text)   # children first, one node per key; the last is the whole text's
            used = {node.value for node in order if node.kind == "sym"} if wanted else ()
            for name in sorted(set(wanted) - set(used)):   # a typo would leave a matrix non-symmetric
                raise ShapeError(f"symmetric= names {name!r}, which the text does not use (its symbols: "
                                 f"{', '.join(sorted(used)) or 'none'})")
            take_live_symbols(order, given, chosen)
            marked = wanted | {name for name, node in chosen.items() if node.symmetric}
            for name in sorted(wanted & set(given)):
                if len(given[name]) != 2 or given[name][0] != given[name][1]:
                    raise ShapeError(f"symmetric symbol {name!r} must be a square matrix with one dim twice, got "
                                     f"dims ({', '.join(given[name])})")
            result = build(order, infer_shapes(order, text, given, frozenset(marked)))
            del order   # the syntax tree goes now: the collector, back on, would scan all of it once
        return result
    except RecursionError:
        raise ParseError(f"expression too deeply nested (more than {MAX_DEPTH} levels)") from None
