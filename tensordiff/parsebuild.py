"""Building the expression of a typed syntax tree (parse.py's second half).

Each node is built by the same builders as Python code (ops.py), a repeated subexpression once; a
chain of '*' is built as one product where that gives the very node the operator-by-operator
products give. The live symbols of the names the text uses are read here too.
"""

from __future__ import annotations

import itertools

from . import ops
from .errors import ParseError, ShapeError, TensorDiffError
from .expr import Apply, Einsum, Inv
from .symboltable import lookup_symbol, symbol, symbol_with_dim
from .indices import merged_dim, parse_dims
from .parseshapes import ONE
from .parsesyntax import fail_at
from .parsewords import COMPARISONS, FUNCTION_TABLE, function_row
from .constantnodes import constant, product
from .einsumnodes import MAX_MERGED_OPERANDS, einsum_node, is_symmetric, plain_product
from .simplify import as_expr
from .sumnodes import add_node
from .composite import STRUCTURES


DIM_NAMES = ("n", "p", "q", "r", "s", "t", "u", "v", "w", "k", "l", "m")


def _dim_names(order, typed):
    """A name for each dim class: its given name, else the next free one of DIM_NAMES, d1, d2, ...

    A class that only identities have (``2*eye`` alone) also skips the dims of declared symbols:
    evaluation would otherwise size it from an unrelated symbol's value instead of asking."""
    sized = [n for n in order if n.kind in ("sym", "eye", "ones", "dim")]   # the nodes whose dims are named here
    taken = {d for dims in typed.given.values() for d in dims} | {n.value for n in sized if n.kind in ("sym", "dim")}
    find, shapes = typed.dims.find, typed.shapes
    of_symbols = {find(d) for n in sized if n.kind == "sym" for d in shapes[n.key]}

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
    for node in sized:   # eye="p" for an identity whose surroundings leave its size open
        if node.kind == "eye" and node.value in typed.given:
            root = typed.dims.find(typed.shapes[node.key][0])
            if root != ONE and typed.dims.name[root] is None:
                names.setdefault(root, typed.given[node.value][0])
    for node in sized:
        for d in shapes[node.key]:
            root = find(d)
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
        shape = op.shape
        if isinstance(op, _REWRITTEN) or isinstance(op, Apply) and op.fn.name == "pow" \
                or len(shape) == 2 and shape[0] == shape[1] and is_symmetric(op):
            return False
    return True


_REWRITTEN = (Inv, *STRUCTURES)   # operands a product rewrites by looking at some of the others


def _whole_product(node, kids, typed, traced=False):
    """``kids[0] * kids[1] * ...`` as one product (its trace if ``traced``): one canonicalisation
    instead of one per operator, and a transposed factor A' read as A with its indices swapped. The
    same interned node as _pairwise_chain (and ops.trace of it): tests/test_parse_products.py builds
    both; None where it might not be."""
    shapes, values = typed.shapes, typed.values
    operands, subs, dims, flat = [], [], [], []
    rows = cols = None   # the product's row and column index so far (None: an axis of size 1)
    merging = False   # whether a factor is an Einsum other than a nonzero scalar constant (no operands, no indices)
    for kid, value, kind in zip(node.kids, kids, ("first", *typed.products[node.key])):
        shape = shapes[kid.key]
        if len(shape) > 2:
            return None
        has_rows, has_cols = shape[0] != ONE, shape[1] != ONE
        transposed = kid.kind == "T"
        if transposed:   # A' is A read with its indices swapped (a vector' is the vector)
            value = values[kid.kids[0].key]
        axes = value.shape
        swapped = transposed and len(axes) == 2
        if isinstance(value, Einsum):
            flat.extend(value.operands)
            merging = merging or bool(value.operands or value.dims) or value.coeff == 0.0   # size(n): dims, no out
        else:
            flat.append(value)
        if len(flat) > MAX_MERGED_OPERANDS or len(axes) != has_rows + has_cols:
            return None
        own_rows = own_cols = None
        if has_rows:
            if kind == "matmul":   # the inner index: the product's columns
                if dims[cols] != axes[-1 if swapped else 0]:
                    return None
                own_rows = cols
            else:
                own_rows = len(dims)
                dims.append(axes[-1 if swapped else 0])
        if has_cols:
            own_cols = len(dims)
            dims.append(axes[0 if swapped else -1])
        sub = _present(own_rows, own_cols)
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
        out = ()
    else:
        out = _present(rows, cols)
    if merging:
        return einsum_node(1.0, operands, subs, out, dims)
    # No factor to merge but nonzero scalar constants (without indices: size(X, 1) has one), which einsum_node would fold into the
    # coefficient left to right, and (by _fuses_alike) nothing for it to rewrite; every index is
    # read by a factor: the canonical product of the rest is the node einsum_node gives.
    coeff, plain, plain_subs = 1.0, [], []
    for value, sub in zip(operands, subs):
        if isinstance(value, Einsum):
            coeff = product(coeff, value.coeff)
        else:
            plain.append(value)
            plain_subs.append(sub)
    return plain_product(coeff, plain, plain_subs, out, dims)


def _present(rows, cols):
    """The indices of a factor's or product's axes (None: an axis of size 1, left out)."""
    if rows is None:
        return () if cols is None else (cols,)
    return (rows,) if cols is None else (rows, cols)


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


def take_live_symbols(order, given, chosen):
    """The live symbols of the names the text uses and ``given`` does not, taken as given. A function
    of its own: a loop variable left in parse would keep the syntax tree's root, and so the whole
    tree, alive until parse returns, for the collector to scan once it is back on."""
    for node in order:
        live = lookup_symbol(node.value) if node.kind == "sym" and node.value not in given else None
        if live is not None:
            chosen[node.value] = live
            given[node.value] = live.dims


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


def _build_node(node, kids, typed):
    try:
        return _BUILD[node.kind](node, kids, typed)
    except TensorDiffError as exc:   # e.g. "1/0": no expression can be built from this text
        fail_at(ShapeError if isinstance(exc, ShapeError) else ParseError, str(exc), typed.text, node.pos)


def build(order, typed):
    """The expression of the syntax tree: a repeated subexpression (the same text, or the same
    interned operands) is built once, since building an interned node costs far more than a lookup."""
    typed.names = _dim_names(order, typed)
    values, built = {}, {}
    typed.values = values   # by node key: _whole_product reads through a transpose to what it transposes
    typed.checked_dims = {}
    needed = {order[-1].key}   # the values read by more than what reads through them (_Deferred)
    for node in order:
        kids = node.kids
        if not kids:
            continue
        kind = node.kind
        if kind == "chain":
            needed.update([kid.key for kid in kids if kid.kind != "T"])
        elif kind == "call" and node.value == "tr":
            needed.update([kid.key for kid in kids if kid.kind != "chain"])
        else:
            needed.update([kid.key for kid in kids])
    for node in order:
        kind = node.kind
        if kind == "sym":   # one node per name (the parser's keys): built once without a build key
            values[node.key] = _build_node(node, (), typed)
            continue
        if kind in ("T", "chain") and node.key not in needed:
            values[node.key] = _Deferred()   # its own object: equal build keys need the same value
            continue
        kids = [values[kid.key] for kid in node.kids]
        key = _build_key(node, kids, typed)
        value = built.get(key)
        if value is None:
            value = built[key] = _build_node(node, kids, typed)
        values[node.key] = value
    return values[order[-1].key]
