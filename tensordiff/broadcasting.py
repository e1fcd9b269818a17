"""numpy's broadcasting by dim names: the shape two operands broadcast to, and spreading one there.

A dim is a name, not a length: trailing axes align, an operand spreads along the leading axes it
lacks, and two dims that differ where the axes align are a ShapeError naming both, unless one of
them is the size-1 dim "1" (``UNIT``: the new axis of ``x[:, None]`` or of ``reshape(x, "n 1")``),
which spreads along the other as numpy's length-1 axes do. arithmetic.py's operators and comparisons.py's maximum, where and comparisons
all broadcast through ``broadcast_operands``.
"""

from __future__ import annotations


from .errors import ShapeError
from .expr import Var
from .symboltable import check_homonyms
from .indices import format_dims, name_words, parse_dims, slice_of
from .printing import short
from .einsumnodes import broadcast, einsum_node
from .simplify import as_expr
from .annotations import Dims, ExprLike, Shape
from .expr import Expr

__all__ = ["broadcast_shapes", "broadcast_to", "broadcast_operands", "slices_hint", "UNIT", "parse_unit_dims"]

# The dim of a length-1 axis (a decimal dim, sized by its name): it broadcasts against any dim.
UNIT = "1"


def parse_unit_dims(dims: object, what: str) -> Shape:
    """``parse_dims`` that also takes the length-1 dim "1" (or the int 1) as an axis of its own."""
    names = tuple(dims.replace(",", " ").split()) if isinstance(dims, str) else dims
    if not isinstance(names, (tuple, list)):
        return parse_dims(dims, what)   # its error
    units = [name == UNIT or (isinstance(name, int) and not isinstance(name, bool) and name == 1) for name in names]
    for name in names:
        if isinstance(name, str) and name != UNIT and UNIT in name_words(name):
            raise ShapeError(f"{what}: dim name {name!r} holds a length-1 dim '1' inside a composite dim; '1' is an "
                             f"axis of its own (a merge with it is the other part: 'n·1' is 'n')")
    named = iter(parse_dims(tuple(name for name, unit in zip(names, units) if not unit), what))
    return tuple(UNIT if unit else next(named) for unit in units)


def broadcast_operands(op: str, *operands: ExprLike) -> list[Expr]:
    """The operands as expressions of the one shape numpy's broadcasting gives them (``op`` names the
    operation in errors); symbols of one name that are different declarations are a ShapeError.

    >>> import tensordiff as td
    >>> from tensordiff.broadcasting import broadcast_operands
    >>> [e.shape for e in broadcast_operands("where", td.vector("m", "k"), td.matrix("X", "n k"), 0)]
    [('n', 'k'), ('n', 'k'), ('n', 'k')]
    """
    operands = [as_expr(x) for x in operands]
    free = [x.free for x in operands]
    if any(free[i] & free[j] for i in range(len(free)) for j in range(i)):
        check_homonyms(*operands)
    shape = operands[0].shape
    for k, x in enumerate(operands[1:], start=2):
        if x.shape != shape:
            try:
                shape = broadcast_shapes(shape, x.shape, op)
            except ShapeError as exc:
                name = x.name if isinstance(x, Var) else short(x, 60)
                raise ShapeError(f"{op}: operand {k} has shape {format_dims(x.shape)}, which does not broadcast with "
                                 f"{format_dims(shape)}: {name}. {exc}") from None
    return [broadcast_to(x, shape) for x in operands]


def broadcast_shapes(shape_a: Dims, shape_b: Dims, op: str = "+") -> Shape:
    """The shape numpy's broadcasting gives two shapes of dim names (trailing axes aligned).

    Parameters
    ----------
    shape_a, shape_b : str or tuple of str
        Dim names, as a tuple or a space-separated string.
    op : str, optional
        The operator named in the error message.

    Returns
    -------
    tuple of str
        The broadcast shape.

    Raises
    ------
    ShapeError
        If two aligned dims differ and neither is the length-1 dim "1".

    Examples
    --------
    >>> import tensordiff as td
    >>> td.broadcast_shapes(("n", "k"), ("k",))
    ('n', 'k')
    >>> td.broadcast_shapes("i j k", "j k")
    ('i', 'j', 'k')
    >>> td.vector("x", "n")[:, None].shape, td.broadcast_shapes(("n", "1"), ("m",))   # a length-1 axis spreads
    (('n', '1'), ('n', 'm'))
    """
    shape_a, shape_b = (parse_unit_dims(s, "a shape") if isinstance(s, str) else tuple(s) for s in (shape_a, shape_b))
    common = min(len(shape_a), len(shape_b))
    tail_a, tail_b = tuple(shape_a[len(shape_a) - common:]), tuple(shape_b[len(shape_b) - common:])
    tail = []
    for position, (dim_a, dim_b) in enumerate(zip(tail_a, tail_b)):
        if dim_a == dim_b or UNIT in (dim_a, dim_b):
            tail.append(dim_b if dim_a == UNIT else dim_a)
        else:
            raise ShapeError(f"'{op}' cannot broadcast {format_dims(shape_a)} with {format_dims(shape_b)}: aligned "
                             f"from the right (as numpy), axis {position - common} is dim {dim_a!r} in the first and "
                             f"{dim_b!r} in the second; dims broadcast only when their names agree or one is the "
                             "length-1 dim '1', and an operand spreads along the leading axes it lacks (x[:, None] "
                             "adds a length-1 axis; transpose it, or use td.einsum, to spread it along another)"
                             + slices_hint(tail_a, tail_b))
    longer = shape_a if len(shape_a) >= len(shape_b) else shape_b
    return tuple(longer[:len(longer) - common]) + tuple(tail)


def broadcast_to(a: ExprLike, dims: Dims) -> Expr:
    """``a`` repeated along the leading axes of ``dims`` it lacks and along its length-1 axes (dim "1"),
    as numpy's broadcast_to, by dim names.

    Parameters
    ----------
    a : Expr or array_like
        The operand.
    dims : str or tuple of str
        The target dims; ``a``'s dims must be its trailing ones, where a dim "1" of ``a`` stands for any.

    Returns
    -------
    Expr
        ``a`` repeated along the new leading axes, of shape ``dims``.

    Raises
    ------
    ShapeError
        If ``a`` does not broadcast to ``dims``.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.broadcast_to(td.vector("b", "k"), "n k").shape
    ('n', 'k')
    >>> td.broadcast_to(td.vector("x", "n")[:, None], "n m").shape
    ('n', 'm')
    """
    node, shape = as_expr(a), parse_unit_dims(dims, "dims of broadcast_to")
    if node.shape == shape:
        return node
    if broadcast_shapes(node.shape, shape, "broadcast_to") != shape:
        raise ShapeError(f"broadcast_to: {format_dims(node.shape)} has more axes than {format_dims(shape)}")
    if node.shape == ():
        return broadcast(node, shape)
    ids, dims = tuple(range(len(shape))), list(shape)
    sub = []
    for axis, dim in zip(ids[len(shape) - node.ndim:], node.shape):
        if dim != shape[axis]:   # a length-1 axis, read at its one entry (summed) and spread along shape[axis]
            dims.append(UNIT)
            axis = len(dims) - 1
        sub.append(axis)
    return einsum_node(1.0, (node,), (tuple(sub),), ids, dims)


def slices_hint(shape_a: Shape, shape_b: Shape) -> str:
    """Why two slices of one dim do not line up, when that is the mismatch."""
    for dim_a, dim_b in zip(shape_a, shape_b):
        parts_a, parts_b = slice_of(dim_a), slice_of(dim_b)
        if dim_a != dim_b and parts_a and parts_b and parts_a[0] == parts_b[0]:
            return (f"; each slice is a dim of its own, so {dim_a!r} and {dim_b!r} differ even where their lengths "
                    "agree (elementwise operations between different slices of one dim are not supported: declare "
                    "the parts as separate symbols)")
    return ""
