"""Text → expression: the matrix notation people type on matrix-calculus pages.

>>> import tensordiff as td
>>> f = td.parse("inv(X'*X + lam*eye)*X'*y", X="n p")   # y a vector (n), lam a scalar, eye p×p
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
Function names are reserved: inv det logdet tr diag sum norm1 norm2 sqrt vector matrix, polygamma1 polygamma2 ..., and every elementwise function of
``functions.FUNCTIONS`` (exp log log1p sin cos tan arcsin arccos arctan sinh cosh tanh sigmoid
softplus erf gelu lgamma digamma abs sign step relu stop_gradient). A user function declared with
td.elementwise reads as h(x), its derivatives as h'(x), h''(x); ``user.h(x)`` reads it too, and is
how a user function named like a reserved word is written (user.softplus(x)). Elementwise
functions take any shape; sum, norm1 (sum of absolute values) and norm2 (2-norm, Frobenius on a
matrix) give a scalar; diag(v) of a vector is a diagonal matrix, diag(A) of a square matrix its
diagonal. The reductions max min mean logsumexp give a scalar, softmax log_softmax work along the
last axis; cholesky, tril and triu take a matrix; maximum(a, b), minimum(a, b) and
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
already (the one declared last, ``expr.lookup_symbol``), keeps them; the others follow these
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
expression here; parsewords.py holds the notation's words.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Union

from . import ops
from .errors import ParseError, ShapeError, TensorDiffError
from .expr import (Apply, Einsum, Inv, Var, describe_symbol, lookup_symbol, symbol, symbol_with_dim,
                   without_cycle_collection)
from .indices import merged_dim, parse_dims
from .matrixnames import expand as expand_names
from .parseshapes import ONE, infer_shapes
from .parsesyntax import MAX_DEPTH, Parser, fail_at, postorder, tokenize
# the notation's words, read here by matrixform.py and the tests
from .parsewords import COMPARISONS, FUNCTION_TABLE, IDENTITY, ONES, function_row  # noqa: F401
from .simplify import MAX_MERGED_OPERANDS, add_node, as_expr, constant, einsum_node, is_symmetric
from .composite import STRUCTURES
from .annotations import Dims
from .expr import Expr

__all__ = ["parse"]

DIM_NAMES = ("n", "p", "q", "r", "s", "t", "u", "v", "w", "k", "l", "m")


# ---------------------------------------------------------------- building

def _dim_names(order, typed):
    """A name for each dim class: its given name, else the next free one of DIM_NAMES, d1, d2, ...

    A class that only identities have (``2*eye`` alone) also skips the dims of declared symbols:
    evaluation would otherwise size it from an unrelated symbol's value instead of asking."""
    taken = {d for dims in typed.given.values() for d in dims} | {n.value for n in order if n.kind in ("sym", "dim")}
    of_symbols = {typed.dims.find(d) for n in order if n.kind == "sym" for d in typed.shapes[n.key]}

    candidates = []   # DIM_NAMES, d1, d2, ..., listed as far as needed
    unfolding = itertools.chain(DIM_NAMES, (f"d{k}" for k in itertools.count(1)))
    first_free = 0    # candidates before it are all taken: each call starts there, so naming is linear

    def fresh(root):
        nonlocal first_free
        k = first_free
        while True:
            if k == len(candidates):
                candidates.append(next(unfolding))
            name = candidates[k]
            if name not in taken and (root in of_symbols or symbol_with_dim(name) is None):
                taken.add(name)
                break
            k += 1
        while first_free < len(candidates) and candidates[first_free] in taken:
            first_free += 1
        return name

    names = {}
    for node in order:   # eye="p" for an identity whose surroundings leave its size open
        if node.kind == "eye" and node.value in typed.given:
            root = typed.dims.find(typed.shapes[node.key][0])
            if root != ONE and typed.dims.name[root] is None:
                names.setdefault(root, typed.given[node.value][0])
    for node in order:
        for d in typed.shapes[node.key] if node.kind in ("sym", "eye", "ones", "dim") else ():
            root = typed.dims.find(d)
            if root != ONE and root not in names:
                names[root] = typed.dims.name[root] or _merged_name(typed.dims, root, names, fresh)
    return names


def _merged_name(dims, root, names, fresh):
    """The name of a dim variable: a merged one's from its parts' ("n·m"), another fresh."""
    if root not in dims.made:
        return fresh(root)
    parts = []
    for part in dims.made[root]:
        part = dims.find(part)
        if part not in names:
            names[part] = dims.name[part] or _merged_name(dims, part, names, fresh)
        parts.append(names[part])
    return merged_dim(tuple(parts))


class _Deferred:
    """The value of a transpose that only chains read (they read what it transposes), or of a chain
    that only traces read (tr(A*B) is one product): built only where they need it after all."""

    __slots__ = ()


def _build_call(node, kids, typed):
    """A function of its arguments; the trace of a chain is built as one product where it can be."""
    if isinstance(kids[0], _Deferred):   # tr(chain)
        chain = node.kids[0]
        chain_kids = [typed.values[kid.key] for kid in chain.kids]
        product = _whole_product(chain, chain_kids, typed, traced=True) \
            if all(op == "*" for op, _ in chain.value) else None
        if product is not None:
            return product
        try:
            kids = [_build_chain(chain, chain_kids, typed)]
        except TensorDiffError as exc:   # the chain's own message and caret, as when built on its own
            fail_at(ShapeError if isinstance(exc, ShapeError) else ParseError, str(exc), typed.text, chain.pos)
    return function_row(node.value)[1](*kids, **typed.products.get(node.key, {}))


def _build_chain(node, kids, typed):
    """A chain of factors: a run of '*' alone is one product (_whole_product), else pairwise."""
    if all(op == "*" for op, _ in node.value):
        product = _whole_product(node, kids, typed)
        if product is not None:
            return product
    kids = [typed.values[kid.kids[0].key].T if isinstance(value, _Deferred) else value
            for kid, value in zip(node.kids, kids)]
    return _pairwise_chain(node, kids, typed)


def _pairwise_chain(node, kids, typed):
    """The chain built operator by operator, left to right, as ``a * b`` and ``a @ b`` build it."""
    acc, kinds = kids[0], iter(typed.products[node.key])
    for (op, _), kid in zip(node.value, kids[1:]):
        if op == "*":
            kind = next(kinds)
            acc = acc * kid if kind == "scale" else ops.outer(acc, kid) if kind == "outer" else acc @ kid
        else:
            acc = acc * kid if op == ".*" else acc / kid
    return acc


def _fuses_alike(operands):
    """Whether a product over ``operands`` (its factors' own operands, flattened) canonicalises to the
    node the pairwise products give. It does when the operands are distinct and none is a symmetric
    matrix: then simplify's sort keys have no ties, so the canonical order is the same from any
    grouping (equal operands joined by summed indices only, as in x'XX'x·x'XX'x, are ordered by
    colour refinement, which can tell two groupings apart), and when none sets off a rewrite that
    looks at some operands only (A⁻¹A, x^a·x^b, structure pairs)."""
    if len(set(map(id, operands))) != len(operands):
        return False
    for op in operands:
        if isinstance(op, (Inv, *STRUCTURES)) or isinstance(op, Apply) and op.fn.name == "pow" \
                or op.ndim == 2 and op.shape[0] == op.shape[1] and is_symmetric(op):
            return False
    return True


def _whole_product(node, kids, typed, traced=False):
    """``kids[0] * kids[1] * ...`` as one product (its trace if ``traced``): one canonicalisation
    instead of one per operator, and a transposed factor A' read as A with its indices swapped. The
    same interned node as _pairwise_chain (and ops.trace of it): tests/test_parse_products.py builds
    both; None where it might not be."""
    kinds, shapes, values = typed.products[node.key], typed.shapes, typed.values
    operands, subs, dims, flat = [], [], [], []
    rows = cols = None   # the product's row and column index so far (None: an axis of size 1)
    for k, (kid, value) in enumerate(zip(node.kids, kids)):
        shape = shapes[kid.key]
        if len(shape) > 2:
            return None
        if kid.kind == "T":   # A' is A read with its indices swapped (a vector' is the vector)
            value = values[kid.kids[0].key]
        swapped = kid.kind == "T" and value.ndim == 2
        flat.extend(value.operands if isinstance(value, Einsum) else (value,))
        if len(flat) > MAX_MERGED_OPERANDS or value.ndim != (shape[0] != ONE) + (shape[1] != ONE):
            return None
        axes = value.shape[::-1] if swapped else value.shape
        kind = kinds[k - 1] if k else "first"
        own_rows = None
        if shape[0] != ONE:
            if kind == "matmul":   # the inner index: the product's columns
                if dims[cols] != axes[0]:
                    return None
                own_rows = cols
            else:
                own_rows = len(dims)
                dims.append(axes[0])
        own_cols = None
        if shape[1] != ONE:
            own_cols = len(dims)
            dims.append(axes[-1])
        sub = tuple(i for i in (own_rows, own_cols) if i is not None)
        operands.append(value)
        subs.append(sub[::-1] if swapped else sub)
        if kind in ("first", "matmul", "outer") or rows is None and cols is None:
            rows = own_rows if kind in ("first", "scale") else rows
            cols = own_cols
    if not _fuses_alike(flat):
        return None
    if traced:   # the column index becomes the row index
        if rows is None or cols is None or dims[rows] != dims[cols]:
            return None
        renumber = [i - (i > cols) for i in range(len(dims))]
        renumber[cols] = renumber[rows]
        subs = [tuple([renumber[i] for i in sub]) for sub in subs]
        del dims[cols]
        return einsum_node(1.0, operands, subs, (), dims)
    return einsum_node(1.0, operands, subs, tuple(i for i in (rows, cols) if i is not None), dims)


def _build_sum(node, kids, typed):
    shape = max((kid.shape for kid in kids), key=len)
    signed = {}   # a term repeated in the sum (x + y - x - x) is broadcast and negated once: kids are interned
    for kid, (sign, _) in zip(kids, node.value):
        if (id(kid), sign) not in signed:
            term = kid if kid.shape == shape else ops.broadcast_to(kid, shape)
            signed[id(kid), sign] = -term if sign == "-" else term
    return add_node([signed[id(kid), sign] for kid, (sign, _) in zip(kids, node.value)], shape)


def _build_compare(node, kids, typed):
    acc = kids[0]
    for (op, _), kid in zip(node.value, kids[1:]):   # a < b < c is (a < b) < c, as MATLAB reads it
        acc = COMPARISONS[op](acc, kid)
    return acc


def _dims_of(typed, shape):
    return tuple(typed.names[typed.dims.find(d)] for d in shape if d != ONE)


def _build_symbol(node, kids, typed):
    """The symbol of a name, as ops.tensor makes it; each dim name is checked once."""
    checked = typed.checked_dims
    dims = []
    for d in typed.symbols[node.value]:
        if d != ONE:
            name = typed.names[typed.dims.find(d)]
            if name not in checked:
                checked[name] = parse_dims((name,), f"dims of {node.value!r}")[0]
            dims.append(checked[name])
    return symbol(node.value, tuple(dims), node.value in typed.symmetric)


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


def _take_live_symbols(order, given, chosen):
    """The live symbols of the names the text uses and ``given`` does not, taken as given. A function
    of its own: a loop variable left in parse would keep the syntax tree's root, and so the whole
    tree, alive until parse returns, for the collector to scan once it is back on."""
    for node in order:
        live = lookup_symbol(node.value) if node.kind == "sym" and node.value not in given else None
        if live is not None:
            chosen[node.value] = live
            given[node.value] = live.dims


def _symmetric_names(symmetric):
    names = (symmetric,) if isinstance(symmetric, str) else symmetric
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(
            isinstance(n, str) and n.isidentifier() for n in names):
        raise ShapeError(f"symmetric= takes a symbol name or a list of names, got {symmetric!r:.60}")
    return frozenset(names)


def _build_along(node, kids, typed):
    name, dim = node.value
    (arg,) = kids
    along = typed.dims.find(typed.shapes[node.kids[0].key][dim - 1])
    if along == ONE:   # a dimension of size 1: its size, or the reduction of one entry
        return constant(1.0) if name == "size" else arg
    axis = 0 if arg.ndim < 2 else dim - 1
    if name == "size":
        return einsum_node(1.0, (), (), (), (arg.shape[axis],))
    return FUNCTION_TABLE[name][1](arg, axis=axis)


_BUILD = {
    "along": _build_along,
    "num": lambda node, kids, typed: as_expr(node.value),
    "sym": _build_symbol,
    "eye": lambda node, kids, typed: ops.eye(_dims_of(typed, typed.shapes[node.key][:1])),
    "neg": lambda node, kids, typed: -kids[0],
    "T": lambda node, kids, typed: kids[0].T,
    "pow": lambda node, kids, typed: kids[0] ** (node.value[1] if len(kids) == 1 else kids[1]),
    "ones": lambda node, kids, typed: constant(node.value[1], _dims_of(typed, typed.shapes[node.key])),
    "dim": lambda node, kids, typed: constant(1.0, _dims_of(typed, typed.shapes[node.key])),   # size(n)
    "call": _build_call,
    "sum": _build_sum,
    "chain": _build_chain,
    "compare": _build_compare,
}


def _build_key(node, kids, typed):
    """What ``_BUILD`` reads of a node, without source positions: equal keys build the same expression."""
    kind = node.kind
    if kind in ("sum", "chain", "compare"):
        products = typed.products.get(node.key)
        value = tuple([op for op, _ in node.value]), products if products is None else tuple(products)
    elif kind in ("sym", "along") or kind == "call" and node.key not in typed.products:
        value = node.value   # names and ints: no float to tell apart by its text
    elif kind in ("eye", "ones"):
        value = repr((node.value, _dims_of(typed, typed.shapes[node.key])))
    elif kind == "call":   # tprod(A, x) and tprod(A, x'): x is built alike
        value = repr((node.value, typed.products[node.key]))
    else:
        value = repr(node.value)   # repr: -0.0 is not 0.0
    return kind, value, tuple(map(id, kids))   # kids are interned


def _build(order, typed):
    """The expression of the syntax tree: a repeated subexpression (the same text, or the same
    interned operands) is built once, since building an interned node costs far more than a lookup."""
    typed.names = _dim_names(order, typed)
    values, built = {}, {}
    typed.values = values   # by node key: _whole_product reads through a transpose to what it transposes
    typed.checked_dims = {}
    needed = {order[-1].key}   # the values read by more than what reads through them (_Deferred)
    for node in order:
        traces = node.kind == "call" and node.value == "tr"
        needed.update(kid.key for kid in node.kids if not (node.kind == "chain" and kid.kind == "T"
                                                             or traces and kid.kind == "chain"))
    for node in order:
        kind = node.kind
        if kind in ("T", "chain") and node.key not in needed:
            values[node.key] = _Deferred()   # its own object: equal build keys need the same value
            continue
        kids = [values[kid.key] for kid in node.kids]
        key = (kind, node.value, ()) if kind == "sym" else _build_key(node, kids, typed)   # a name: its own key
        value = built.get(key)
        if value is None:
            try:
                value = built[key] = _BUILD[kind](node, kids, typed)
            except TensorDiffError as exc:   # e.g. "1/0": no expression can be built from this text
                fail_at(ShapeError if isinstance(exc, ShapeError) else ParseError, str(exc), typed.text, node.pos)
        values[node.key] = value
    return values[order[-1].key]


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
        The names of symbols that are symmetric matrices.

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
        If the operands' dims do not fit (``X*Y`` with mismatched inner dims), with a caret.

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
    try:
        with without_cycle_collection():
            try:
                tree = Parser(text).parse()
            except ParseError:
                tokenize(text)   # a bad character or number anywhere in the text is the error reported, as ever
                raise
            order = postorder(tree)
            del tree
            _take_live_symbols(order, given, chosen)
            marked = wanted | {name for name, node in chosen.items() if node.symmetric}
            for name in sorted(wanted & set(given)):
                if len(given[name]) != 2 or given[name][0] != given[name][1]:
                    raise ShapeError(f"symmetric symbol {name!r} must be a square matrix with one dim twice, got "
                                     f"dims ({', '.join(given[name])})")
            result = _build(order, infer_shapes(order, text, given, frozenset(marked)))
            del order   # the syntax tree goes now: the collector, back on, would scan all of it once
        return result
    except RecursionError:
        raise ParseError(f"expression too deeply nested (more than {MAX_DEPTH} levels)") from None
