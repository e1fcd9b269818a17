"""Where finite differences cannot be trusted: the branches an expression takes, and whether a step changes them.

maximum/minimum, max/min reductions, comparisons, ``where`` and the functions of the table with
a kink (abs, relu, sign, step) are smooth only between the points where the branch they take
changes. A central difference whose step crosses such a point differences two branches, and
says nothing about the derivative on either; ``crosses_kink`` tells whether it does, so a check
can take another step rather than report a false alarm.
"""

import numpy as np

from .evaluate import compile
from .expr import Apply, topological
from .reductionnodes import Compare, Max, Maximum, Where

__all__ = ["branch_points", "crosses_kink"]

TIE = 1e-12    # relative: two values closer than this are a tie made by rounding, not a branch taken


def branch_points(exprs):
    """The quantities whose signs decide the branches in ``exprs``: (a, b, axes) triples.

    ``a - b`` decides maximum and comparisons; ``a`` alone (b None) decides ``where``'s mask and
    a kinked function; for a max reduction ``a`` is its operand, ``b`` the max and ``axes`` the
    reduced axes (the branch is which entries attain the max).
    """
    found = []
    for node in topological(list(exprs)):
        if isinstance(node, (Compare, Maximum)):
            found.append((node.a, node.b, None))
        elif isinstance(node, Where):
            found.append((node.mask, None, None))
        elif isinstance(node, Apply) and node.fn.domain == "kink":
            found.append((node.arg, None, None))
        elif isinstance(node, Max):
            found.append((node.arg, node, node.axes))
    return found


def _branches(points, outputs):
    """The branch each point takes: -1, 0 (a tie) or 1 per entry, or for a max which entries attain it."""
    result = []
    values = iter(outputs)
    for _, b, axes in points:
        left = np.asarray(next(values), dtype=float)
        right = np.asarray(next(values), dtype=float) if b is not None else np.zeros_like(left)
        if axes is not None:
            right = np.expand_dims(right, tuple(axes))
        tie = TIE * (np.abs(left) + np.abs(right) + 1.0)
        difference = left - right
        result.append(np.where(np.abs(difference) <= tie, 0, np.sign(difference)))
    return result


def crosses_kink(exprs, wrt, values, step, functions=None):
    """Whether moving symbol ``wrt`` by ±``step``, one entry at a time as ``testing.numeric_diff``
    does (entries (i, j) and (j, i) together for a symmetric one), changes a branch of ``exprs``.

    >>> import numpy as np, tensordiff as td
    >>> x = td.vector("x", "n")
    >>> crosses_kink([td.abs(x)], x, {"x": np.array([1.0, 1e-8])}, 1e-6)
    True
    >>> crosses_kink([td.abs(x)], x, {"x": np.array([1.0, 1e-3])}, 1e-6)
    False
    """
    points = branch_points(exprs)
    if not points:
        return False
    program = compile([n for a, b, _ in points for n in ((a, b) if b is not None else (a,))])
    x0 = np.array(values[wrt.name], dtype=np.float64)
    as_value = (lambda v: v) if x0.shape else float
    if not program.user_function_names:   # implementations of functions these branches never call
        functions = None
    taken = _branches(points, program(functions=functions, **values))
    for index in np.ndindex(*x0.shape):
        if wrt.symmetric and index[0] > index[1]:
            continue
        move = np.zeros_like(x0)
        move[index] = step
        if wrt.symmetric:
            move[index[::-1]] = step
        for sign in (1.0, -1.0):
            moved = program(functions=functions, **{**values, wrt.name: as_value(x0 + sign * move)})
            if any(not np.array_equal(t, m) for t, m in zip(taken, _branches(points, moved))):
                return True
    return False
