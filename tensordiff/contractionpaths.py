"""opt_einsum's contraction paths, each searched once per equation, operand shapes and search.

Pricing a program's steps (pricing.py: its memory guard and ``td.cost``) and planning their
pairwise contractions (pairwise.py) both ask opt_einsum for the path of the same einsum; deep
programs repeat one pattern many times (u'X^200 v's gradient holds 200 products of one shape).
A path search is a pure function of its arguments, so the answers are kept and shared; callers
only read them.
"""

import functools
import math

import opt_einsum

__all__ = ["contraction_path", "path_search"]

# a path and its PathInfo are a few kilobytes: this bounds the memory to a few tens of megabytes
MAX_KEPT_PATHS = 8192
# dynamic programming over up to 8 operands takes at most a few ms; over 9-12 it takes 8-40 ms each,
# which a third derivative's hundreds of distinct 9-11-operand einsums turn into seconds
DP_CHEAP_OPERANDS = 8
DP_MOST_OPERANDS = 12
# an index space from which the few per cent that dynamic programming saves over a bounded branch
# search are worth its time: below it every pairwise path costs at most (operands - 1) x 2^20 flops
DP_WORTH_INDEX_SPACE = 1 << 20


def path_search(equation, shapes):
    """The opt_einsum search for contracting ``shapes`` by ``equation``: dynamic programming ("dp")
    for the cheapest order where its search is cheap or the contraction is large (opt_einsum's
    "auto" picks a greedy order beyond four operands, which can build a k·n·k intermediate where
    n·k suffices), its bounded branch search ("branch-1", paths within a few per cent of dp's) for
    9-12 operands over a small index space, and "auto" past a dozen operands.

    Every caller that prices or runs a contraction asks here, so that pricing follows the path the
    executor takes.

    >>> from tensordiff.contractionpaths import path_search
    >>> path_search("ab,bc,c->a", [(3, 4), (4, 5), (5,)])
    'dp'
    >>> path_search("ab,bc,cd,de,ef,fg,gh,hi,ij->a", [(3, 3)] * 8 + [(3, 3)])
    'branch-1'
    """
    if len(shapes) <= DP_CHEAP_OPERANDS:
        return "dp"
    if len(shapes) > DP_MOST_OPERANDS:
        return "auto"
    sizes = {}
    for term, shape in zip(equation.split("->")[0].split(","), shapes):
        sizes.update(zip(term, shape))
    return "dp" if math.prod(sizes.values()) >= DP_WORTH_INDEX_SPACE else "branch-1"


@functools.lru_cache(maxsize=MAX_KEPT_PATHS)
def contraction_path(equation, shapes, optimize):
    """``opt_einsum.contract_path(equation, *shapes, shapes=True, optimize=optimize)``, searched once.

    ``shapes`` is a tuple of tuples and ``optimize`` the name of a search ("dp", "auto", ...); the
    returned (path, PathInfo) is shared between callers, who must not change it.

    >>> from tensordiff.contractionpaths import contraction_path
    >>> path, info = contraction_path("ab,bc,c->a", ((3, 4), (4, 5), (5,)), "dp")
    >>> path
    [(1, 2), (0, 1)]
    """
    return opt_einsum.contract_path(equation, *shapes, shapes=True, optimize=optimize)
