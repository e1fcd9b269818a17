"""The words of parse's notation: its functions and how each types and builds, the identity, the
all-ones constants, comparisons and the reductions along a dimension (parse.py's docstring)."""

from __future__ import annotations

import functools

from . import ops, reductions, reshaping
from .functions import FUNCTIONS, USER_PREFIX, builtin_function, registered_user_function, reserve_words
from .kronform import TENSOR_PRODUCTS, tensor_product
from .vecform import UNVEC_WORDS, unvec_columns

IDENTITY = ("eye", "I")
BOOL_WORDS = {"True": 1.0, "False": 0.0}   # numbers, as numpy counts them (X*True is X*1): never a symbol
ONES = ("vector", "matrix")   # vector(1), matrix(1): all-ones (any number c: every entry c), sized like eye

# name: (shape rule, builder). Shape rules: "same" (elementwise), "square" (square in, same out),
# "trace" (square in, scalar out), "reduce" (any in, scalar out), "diag" (vector <-> square), "pinv"
# (a matrix's dims swapped).
# A (1, 1) argument is a scalar to the builders: inv(s) = 1/s, det(s) = tr(s) = s.
FUNCTION_TABLE = {
    **{name: ("same", fn) for name, fn in FUNCTIONS.items()},
    "sqrt": ("same", ops.sqrt),
    "inv": ("square", lambda e: e ** -1.0 if e.ndim == 0 else ops.inv(e)),
    "pinv": ("pinv", lambda e: e ** -1.0 if e.ndim == 0 else ops.pinv(e)),
    "tr": ("trace", lambda e: e if e.ndim == 0 else ops.trace(e)),
    "det": ("trace", lambda e: e if e.ndim == 0 else ops.det(e)),
    "logdet": ("trace", lambda e: FUNCTIONS["log"](FUNCTIONS["abs"](e)) if e.ndim == 0 else ops.logdet(e)),
    "sum": ("reduce", ops.sum),
    "norm2": ("reduce", ops.norm),
    "norm1": ("reduce", lambda e: ops.sum(FUNCTIONS["abs"](e))),
    "diag": ("diag", lambda e: e if e.ndim == 0 else ops.diag(e) if e.ndim == 1 else ops.diagonal(e)),
    # reductions.py: "vector" is elementwise on a vector (a lower-case name becomes one), "elementwise"
    # takes ARITY[name] arguments of one shape (scalars broadcast)
    "max": ("reduce", reductions.max),
    "min": ("reduce", reductions.min),
    "mean": ("reduce", reductions.mean),
    "logsumexp": ("reduce", reductions.logsumexp),
    "softmax": ("vector", reductions.softmax),
    "log_softmax": ("vector", reductions.log_softmax),
    "cholesky": ("square", lambda e: e ** 0.5 if e.ndim == 0 else reductions.cholesky(e)),
    "tril": ("same", reductions.tril),
    "triu": ("same", reductions.triu),
    "maximum": ("elementwise", reductions.maximum),
    "minimum": ("elementwise", reductions.minimum),
    "where": ("elementwise", reductions.where),
    # reshaping.py: vec(X) of an (m, n) matrix is a vector over the merged dim n·m; kron(A, B) merges
    # A's and B's rows and their columns (parseshapes.py's merged dims type them)
    "vec": ("vec", lambda e: e if e.ndim == 0 else reshaping.vec(e)),
    "kron": ("kron", lambda a, b: a * b if 0 in (a.ndim, b.ndim) else reshaping.kron(a, b)),
}
ARITY = {"maximum": 2, "minimum": 2, "where": 3, "kron": 2}   # the functions of several arguments
COMPARISONS = {"<": reductions.less, "<=": reductions.less_equal, ">": reductions.greater, ">=": reductions.greater_equal}
# kronform.py's products of two matrices or vectors, of order 3 and 4 (typed by _type_tensor_call)
FUNCTION_TABLE.update({word: ("tensor", functools.partial(tensor_product, word)) for word in TENSOR_PRODUCTS})
ARITY.update(dict.fromkeys(TENSOR_PRODUCTS, 2))
# vecform.py: unvec(J)/unvecT(J) split J's merged column axis into X's axes (∂vec(F)/∂vec(X) -> ∂vec(F)/∂X)
FUNCTION_TABLE.update({word: ("unvec", functools.partial(unvec_columns, transposed=t)) for word, t in UNVEC_WORDS.items()})

# The reductions that take a dimension, as MATLAB's sum(X, 1); and size(X, d), which needs one.
ALONG = frozenset({"sum", "max", "min", "mean", "logsumexp", "size"})

reserve_words([*FUNCTION_TABLE, *IDENTITY, *ONES, *ALONG, *BOOL_WORDS])   # a user function so named prints as user.<name>


def function_word(name):
    """Whether ``name`` is a function of the notation (FUNCTION_TABLE, or polygamma1, polygamma2, ...)."""
    # asked for every name token: a symbol's name is told apart without the polygamma pattern
    return name in FUNCTION_TABLE or (name in FUNCTIONS or name.startswith("polygamma")) and \
        builtin_function(name) is not None


def function_row(value):
    """(shape rule, builder) of a call: a name of FUNCTION_TABLE or polygammaN, or (user function, order)."""
    if isinstance(value, tuple):
        return "same", registered_user_function(*value)
    return FUNCTION_TABLE[value] if value in FUNCTION_TABLE else ("same", builtin_function(value))


def name_class(name, arity=False):
    """What the compiled reader of syntax (_kernelparse.pxi) makes of a name: 1 a symbol, 5 a symbol
    that also names a user function (h'(x) calls it); 2 a function of one argument, 3 one that may
    take a dimension (sum(X, 1)), 4 one of several arguments; 0 any other word (eye, vector, size,
    True, polygamma1, ...), whose text the Python parser reads. With ``arity``: how many arguments
    the function ``name`` takes (ARITY).

    >>> [name_class(word) for word in ("X", "tanh", "sum", "where", "eye")], name_class("where", True)
    ([1, 2, 3, 4, 0], 3)
    """
    if arity:
        return ARITY[name]
    if name in FUNCTION_TABLE:
        return 3 if name in ALONG else 4 if name in ARITY else 2
    if name in ALONG or name in IDENTITY or name in ONES or name in BOOL_WORDS or name in FUNCTIONS \
            or name.startswith(("polygamma", USER_PREFIX)):
        return 0
    return 5 if registered_user_function(name) is not None else 1
