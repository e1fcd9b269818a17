"""opt_einsum's contraction paths, each searched once per equation, operand shapes and search.

Pricing a program's steps (pricing.py: its memory guard and ``td.cost``) and planning their
pairwise contractions (pairwise.py) both ask opt_einsum for the path of the same einsum; deep
programs repeat one pattern many times (u'X^200 v's gradient holds 200 products of one shape).
A path search is a pure function of its arguments, so the answers are kept and shared; callers
only read them.
"""

import functools

import opt_einsum

__all__ = ["contraction_path"]

# a path and its PathInfo are a few kilobytes: this bounds the memory to a few tens of megabytes
MAX_KEPT_PATHS = 8192


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
