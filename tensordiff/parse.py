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
    primary  = number | name | function [ "'"... ] "(" expr { "," expr } ")" | ones | along | "(" expr ")"
    along    = ("sum" | "max" | "min" | "mean" | "logsumexp" | "size") "(" expr "," ("1" | "2") ")"
    ones     = ("vector" | "matrix") "(" [ "+" | "-" ] number ")"    every entry the number
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
eye from ``**dims`` (eye="p") where none do. Function names are reserved: inv det logdet tr diag
sum norm1 norm2 sqrt vector matrix, polygamma1 polygamma2 ..., and every elementwise function of
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
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
import re
from collections.abc import Iterable
from typing import Union

from . import ops, reductions, reshaping
from .errors import ParseError, ShapeError, TensorDiffError
from .expr import (Apply, Einsum, Inv, Var, describe_symbol, lookup_symbol, symbol, symbol_with_dim,
                   without_cycle_collection)
from .functions import FUNCTIONS, USER_PREFIX, builtin_function, registered_user_function, reserve_words
from .indices import merged_dim, merged_parts, parse_dims
from .kronform import TENSOR_PRODUCTS, tensor_product
from .vecform import UNVEC_WORDS, unvec_columns
from .matrixnames import expand as expand_names
from .textspans import closing_parens, operand_end
from .simplify import MAX_MERGED_OPERANDS, add_node, as_expr, constant, einsum_node, is_symmetric
from .composite import STRUCTURES
from .annotations import Dims
from .expr import Expr

__all__ = ["parse"]

MIN_REPEAT = 8   # characters: a shorter operand or group is read again faster than it is looked up
MAX_DEPTH = 64  # nested parentheses and calls (8 frames each): deeper is a ParseError, not a RecursionError
ONE = 0  # the dim variable of the literal 1; it never unifies with a dim
SCALAR = (ONE, ONE)
IDENTITY = ("eye", "I")
ONES = ("vector", "matrix")   # vector(1), matrix(1): all-ones (any number c: every entry c), sized like eye
DIM_NAMES = ("n", "p", "q", "r", "s", "t", "u", "v", "w", "k", "l", "m")
# matrixcalculus.org's convention where the uses leave a kind open: a-g scalars, h-z vectors, A-Z
# matrices, for a name of one letter (and a subscript: x1, x_i); longer names (lam, sigma) stay scalars.
CONVENTIONAL_VECTOR = re.compile(r"[h-z](?:[0-9]+|_\w*)?", re.ASCII)
MAX_CONVENTION_TRIES = 64   # names tried one by one when they do not all fit together (bounded time)

# name: (shape rule, builder). Shape rules: "same" (elementwise), "square" (square in, same out),
# "trace" (square in, scalar out), "reduce" (any in, scalar out), "diag" (vector <-> square).
# A (1, 1) argument is a scalar to the builders: inv(s) = 1/s, det(s) = tr(s) = s.
FUNCTION_TABLE = {
    **{name: ("same", fn) for name, fn in FUNCTIONS.items()},
    "sqrt": ("same", ops.sqrt),
    "inv": ("square", lambda e: e ** -1.0 if e.ndim == 0 else ops.inv(e)),
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
    # A's and B's rows and their columns (parse's _Dims.merged types them)
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

reserve_words([*FUNCTION_TABLE, *IDENTITY, *ONES, *ALONG])   # a user function so named prints as user.<name>


@functools.lru_cache(maxsize=4096)   # asked for every name token; the answer never changes
def _function_word(name):
    """Whether ``name`` is a function of the notation (FUNCTION_TABLE, or polygamma1, polygamma2, ...)."""
    return name in FUNCTION_TABLE or builtin_function(name) is not None


_HINTS = {**dict.fromkeys("ᵀ⊤", "write ' for a transpose"), **dict.fromkeys("×·⋅@", "write * for a product"),
          **dict.fromkeys("⊙∘", "write .* for an elementwise product"), "−": "write - (ASCII)", "²": "write ^2"}


# ---------------------------------------------------------------- errors

def _caret(text, pos):
    """The line of ``text`` holding ``pos`` (a window of it when long), with a caret under pos."""
    start, end = text.rfind("\n", 0, pos) + 1, text.find("\n", pos)
    line, col = text[start:len(text) if end < 0 else end], pos - start
    if len(line) > 72:
        left = max(0, min(col - 36, len(line) - 72))
        dots = "..." if left else ""
        line, col = dots + line[left:left + 72] + ("..." if left + 72 < len(line) else ""), col - left + len(dots)
    line = "".join(ch if ch.isprintable() else " " for ch in line)
    return f"\n  {line}\n  {' ' * col}^"


def _fail(cls, message, text, pos):
    raise cls(message + _caret(text, pos)) from None


# ---------------------------------------------------------------- tokens and syntax tree

_SPACE = re.compile(r"\s*", re.ASCII)
_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+(?:\.(?![*/^'])\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>(?:user\.)?[A-Za-z_]\w*)|(?P<op>\.[*/^']|[<>]=?|[-+*/^'(),]))", re.ASCII)  # spaces first
_GROUPS = {index: kind for kind, index in _TOKEN.groupindex.items()}
_NUMBER_GROUP = _TOKEN.groupindex["num"]
_AFTER_NUMBER = re.compile(r"\w|\.(?![*/^'])", re.ASCII)  # what makes a number bad: 2x, 1e, 1.2.3
_WORD = re.compile(r"[\w.]*", re.ASCII)

_Token = collections.namedtuple("_Token", "kind value pos end")


def _tokenize(text):
    """The tokens of ``text``, ending with an "end" token; bad characters and numbers fail here."""
    tokens, pos = [], 0
    append, token, after_number = tokens.append, tuple.__new__, _AFTER_NUMBER.match  # once per token below
    for m in _TOKEN.finditer(text):   # one regex scan; a gap between matches is a bad character
        if m.start() != pos:
            break
        group = m.lastindex
        kind, (start, pos) = _GROUPS[group], m.span(group)
        value = text[start:pos]
        if kind == "num":
            value = float(value)
            if after_number(text, pos) or math.isinf(value):
                nxt = text[pos:pos + 1]
                hint = " (a product needs '*': 2*x)" if nxt.isalpha() and nxt not in "eE" else ""
                _fail(ParseError, f"bad number {_WORD.match(text, start).group()!r}{hint}", text, start)
        elif value == ".'":
            value = "'"
        append(token(_Token, (kind, value, start, pos)))
    pos = _SPACE.match(text, pos).end()
    if pos < len(text):
        ch = text[pos]
        hint = _HINTS.get(ch) or ("names are ASCII: write alpha, not α" if ch.isalpha() else "")
        _fail(ParseError, f"unexpected character {ch!r}" + (f"; {hint}" if hint else ""), text, pos)
    return tokens + [_Token("end", None, len(text), len(text))]


class _Node:
    """kind, caret position, source span [start, end), children, and a value by kind: num: the
    number; sym, eye: the name; call: the function; pow: (op, exponent); sum: (sign, pos) per
    term; chain, compare: (op, pos) between operands; neg, T: None. ``key`` is equal for two nodes exactly
    when they are the same text up to spacing (an eye or ones, sized by its surroundings, is
    always new): typing and building visit one node per key."""

    __slots__ = ("kind", "pos", "start", "end", "kids", "value", "key")

    def __init__(self, keys, kind, pos, start, end, kids=(), value=None):
        self.kind, self.pos, self.start, self.end, self.kids, self.value = kind, pos, start, end, kids, value
        if kind in ("sum", "chain", "compare"):
            value = tuple([op for op, _ in value])
        elif kind == "pow":
            value = value[0], repr(value[1])   # repr: -0.0 is not 0.0
        elif kind in ("eye", "ones"):
            value = pos
        key = (kind, value, kids[0].key) if len(kids) == 1 else (kind, value, *[kid.key for kid in kids])
        self.key = keys.setdefault(key, len(keys))

    def moved(self, offset):
        """This node read ``offset`` characters further on: the same key and children (a repeat of its
        text), its own positions, which its parent's messages quote."""
        node = object.__new__(_Node)
        node.kind, node.kids, node.value, node.key = self.kind, self.kids, self.value, self.key
        node.pos, node.start, node.end = self.pos + offset, self.start + offset, self.end + offset
        return node


class _Memo:
    """A piece of text read before: its node, how many levels deeper than its start it nests, and
    its last token relative to its start."""

    __slots__ = ("node", "start", "depth", "last")

    def __init__(self, node, start, depth, last):
        self.node, self.start, self.depth, self.last = node, start, depth, last


class _Parser:
    """Recursive descent over the grammar; it recurses only at "(", at most MAX_DEPTH deep.

    Tokens are read one at a time from the text as the parser moves on. A sum operand or a
    parenthesised group whose exact text was read before (textspans.py finds where it ends) is
    not read again: its node is taken from the first reading, so the work is linear in the
    distinct text, whatever the repeats."""

    def __init__(self, text):
        self.text = text
        self.depth = 0
        self.keys = {}
        self.before = None   # the token last taken
        self.tok = self.scan(0)   # the token next
        self.closing = closing_parens(text)
        self.groups, self.operands = {}, {}   # text -> _Memo
        self.deepest = 0   # the deepest nesting reached, for _Memo.depth
        self.sized = 0     # eye and ones nodes made: a piece holding one is not reused, as each is sized alone

    def scan(self, pos):
        """The token at ``pos`` (after spaces); bad characters and numbers fail here."""
        text = self.text
        m = _TOKEN.match(text, pos)
        if m is None:
            pos = _SPACE.match(text, pos).end()
            if pos == len(text):
                return _Token("end", None, pos, pos)
            ch = text[pos]
            hint = _HINTS.get(ch) or ("names are ASCII: write alpha, not α" if ch.isalpha() else "")
            _fail(ParseError, f"unexpected character {ch!r}" + (f"; {hint}" if hint else ""), text, pos)
        group = m.lastindex
        start, end = m.span(group)
        value = text[start:end]
        if group != _NUMBER_GROUP:
            return tuple.__new__(_Token, (_GROUPS[group], "'" if value == ".'" else value, start, end))
        value = float(value)
        if _AFTER_NUMBER.match(text, end) or math.isinf(value):
            nxt = text[end:end + 1]
            hint = " (a product needs '*': 2*x)" if nxt.isalpha() and nxt not in "eE" else ""
            _fail(ParseError, f"bad number {_WORD.match(text, start).group()!r}{hint}", text, start)
        return tuple.__new__(_Token, ("num", value, start, end))

    def peek(self):
        return self.tok

    def take(self):
        token = self.before = self.tok
        self.tok = self.scan(token.end)
        return token

    @property
    def end(self):
        return self.before.end if self.before else 0

    def fail(self, message, token):
        _fail(ParseError, message, self.text, token.pos)

    def source(self, token):
        return repr(self.text[token.pos:token.end])

    def enter(self, opening):
        """One level deeper, at the "(" ``opening``."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"expression nested more than {MAX_DEPTH} levels deep", opening)
        self.deepest = max(self.deepest, self.depth)

    def reuse(self, memo, start):
        """The node of text read before, which starts at ``start`` here: the tokens move past it."""
        kind, value, pos, end = memo.last
        self.deepest = max(self.deepest, self.depth + memo.depth)
        self.before = tuple.__new__(_Token, (kind, value, start + pos, start + end))
        self.tok = self.scan(start + end)
        return memo.node if start == memo.start else memo.node.moved(start - memo.start)

    def remember(self, table, key, node, start, deepest, sized):
        """Keep ``node``, read from ``key`` at ``start``, unless it holds an eye or ones (each sized alone)."""
        if self.sized == sized:
            last = self.before
            table[key] = _Memo(node, start, self.deepest - self.depth, (last.kind, last.value, last.pos - start, last.end - start))
        self.deepest = max(deepest, self.deepest)

    def parse(self):
        if self.peek().kind == "end":
            self.fail("empty expression", self.peek())
        node = self.expr()
        if self.peek().value == ")":
            self.fail("unmatched ')'", self.peek())
        if self.peek().kind != "end":
            self.fail(f"expected an operator, got {self.source(self.peek())}", self.peek())
        return node

    def series(self, operators, operand, kind, value):
        """operand { operator operand }: the operand alone, or a node of ``kind`` over them all."""
        start, kids = self.tok.pos, [operand()]
        while self.tok.value in operators:
            token = self.take()
            value.append((token.value, token.pos))
            kids.append(operand())
        return kids[0] if len(kids) == 1 else _Node(self.keys, kind, value[-len(kids) + 1][1], start, self.end, kids, value)

    def expr(self):
        return self.series(COMPARISONS, self.sum, "compare", [])

    def sum(self):
        return self.series(("+", "-"), self.operand, "sum", [("+", self.peek().pos)])

    def operand(self):
        """A chain: one read before with the same text is taken as it is."""
        start = self.tok.pos
        text = self.text
        end = operand_end(text, start, self.closing)
        if end - start < MIN_REPEAT:
            return self.chain()
        key = text[start:end].rstrip()
        memo = self.operands.get(key)
        if memo is not None and self.depth + memo.depth <= MAX_DEPTH:
            return self.reuse(memo, start)
        deepest, sized, self.deepest = self.deepest, self.sized, self.depth
        node = self.chain()
        if self.end - start == len(key):   # the guessed end is the operand's (no comparison, no odd sign)
            self.remember(self.operands, key, node, start, deepest, sized)
        else:
            self.deepest = max(deepest, self.deepest)
        return node

    def chain(self):
        return self.series(("*", ".*", "./", "/"), self.unary, "chain", [])

    def unary(self):
        start, negative = self.tok.pos, False
        while self.tok.value in ("+", "-"):
            negative ^= self.take().value == "-"
        node = self.power()
        return _Node(self.keys, "neg", start, start, self.end, (node,)) if negative else node

    def power(self):
        node = self.postfix()
        while self.tok.value in ("^", ".^"):
            op = self.take()
            number, exponent = self.exponent()
            kids = (node,) if exponent is None else (node, exponent)
            node = _Node(self.keys, "pow", op.pos, node.start, self.end, kids, (op.value, number))
        return node

    def postfix(self):
        node, transposes = self.primary(), 0
        while self.tok.value == "'":
            pos, transposes = self.take().pos, transposes + 1
        if transposes % 2:
            node = _Node(self.keys, "T", pos, node.start, self.end, (node,))
        return node

    def exponent(self):
        """(number, None) for a number exponent (x^2, x^-1, x.^(0.5)), else (None, the exponent's node)."""
        start, sign = (self.tok, self.before), 1.0
        paren = self.peek().value == "(" and self.take()
        while self.peek().value in ("+", "-"):
            sign = -sign if self.take().value == "-" else sign
        number = self.peek()
        if number.kind == "num" and (not paren or self.scan(number.end).value == ")"):
            self.take()
            if paren:
                self.take()
            return sign * number.value, None
        (self.tok, self.before), first, negative = start, self.peek(), False
        while self.peek().value in ("+", "-"):
            negative ^= self.take().value == "-"
        node = self.postfix()
        return None, (_Node(self.keys, "neg", first.pos, first.pos, self.end, (node,)) if negative else node)

    def primary(self):
        previous = self.before
        token = self.take()
        if token.kind == "num":
            return _Node(self.keys, "num", token.pos, token.pos, token.end, (), token.value)
        if token.value == "(":
            return self.group(token)
        if token.kind == "end":
            self.fail(f"expected an operand after {self.source(previous)}, got the end", token)
        if token.kind != "name":
            self.fail(f"expected an operand, got {self.source(token)}", token)
        name = token.value
        primes = self.primes_before_a_call()
        user = name.startswith(USER_PREFIX)   # user.softplus(x): the user function, not the built-in
        base = name[len(USER_PREFIX):] if user else name
        if user and (primes is None or registered_user_function(base) is None):
            self.fail(f"{name!r} names a user function (td.elementwise({base!r}, ...)) called as {name}(x)"
                      + ("" if primes is not None else f", not {self.source(self.peek())}")
                      + ("" if registered_user_function(base) is not None else ", but none is declared"), token)
        if (user or not _function_word(name)) and primes is not None and registered_user_function(base) is not None:
            for _ in range(primes):   # h'(x): the derivative of the user function h, as printed
                self.take()
            arg = self.group(self.take(), name)
            return _Node(self.keys, "call", token.pos, token.pos, self.end, (arg,), (base, primes))
        if name in ONES:
            return self.ones(token)
        if name in ALONG and self.peek().value == "(":
            return self.along(token, name)
        if self.peek().value == "(":
            if not _function_word(name):
                hint = "; eye takes no argument, its size is inferred" if name in IDENTITY else ""
                self.fail(f"unknown function {name!r}{hint} (functions: {', '.join(sorted(FUNCTION_TABLE))})", token)
            args = self.arguments(self.take(), name) if name in ARITY else (self.group(self.take(), name),)
            return _Node(self.keys, "call", token.pos, token.pos, self.end, tuple(args), name)
        if _function_word(name):
            self.fail(f"function {name!r} needs parentheses: {name}(...)", token)
        if name in IDENTITY:
            self.sized += 1
            return _Node(self.keys, "eye", token.pos, token.pos, token.end, (), name)
        return _Node(self.keys, "sym", token.pos, token.pos, token.end, (), name)

    def ones(self, word):
        """vector(c) or matrix(c) after the word: every entry the number c (vector(1): all ones)."""
        opening, sign = self.take(), 1.0
        while opening.value == "(" and self.peek().value in ("+", "-"):
            sign = -sign if self.take().value == "-" else sign
        number = self.take() if opening.value == "(" else opening
        if opening.value != "(" or number.kind != "num" or self.take().value != ")":
            self.fail(f"{word.value} takes a number, the value of every entry: {word.value}(1) is all ones", word)
        self.sized += 1
        return _Node(self.keys, "ones", word.pos, word.pos, self.end, (), (word.value, sign * number.value))

    def along(self, word, name):
        """name(x) or name(x, d) after the word, d = 1 or 2 the dimension reduced (as MATLAB)."""
        opening = self.take()
        self.enter(opening)
        arg, dim = self.expr(), None
        if self.peek().value == ",":
            self.take()
            token = self.take()
            if token.kind != "num" or token.value not in (1, 2):
                self.fail(f"{name}(x, d) takes the dimension d: 1 (the rows) or 2 (the columns), "
                          f"got {self.source(token)}", token)
            dim = int(token.value)
        token = self.take()
        if token.kind == "end":
            self.fail("unclosed '('", opening)
        if token.value != ")":
            self.fail(f"expected {')' if dim else ', or )'} or an operator, got {self.source(token)}", token)
        self.depth -= 1
        if dim is None and name == "size":
            self.fail("size(X, d) needs the dimension d: 1 for the number of rows, 2 of columns", word)
        if dim is None:
            return _Node(self.keys, "call", word.pos, word.pos, self.end, (arg,), name)
        return _Node(self.keys, "along", word.pos, word.pos, self.end, (arg,), (name, dim))

    def primes_before_a_call(self):
        """How many ' come next if a ( follows them (h''(x)), else None."""
        token, primes = self.tok, 0
        while token.value == "'":
            token, primes = self.scan(token.end), primes + 1
        return primes if token.value == "(" else None

    def arguments(self, opening, call):
        """The ARITY[call] comma-separated expressions after ``opening`` "(", through its ")"."""
        self.enter(opening)
        args = [self.expr()]
        while self.peek().value == ",":
            self.take()
            args.append(self.expr())
        token = self.take()
        if token.kind == "end":
            self.fail("unclosed '('", opening)
        if token.value != ")":
            self.fail(f"expected ',', ')' or an operator, got {self.source(token)}", token)
        if len(args) != ARITY[call]:
            self.fail(f"{call}() takes {ARITY[call]} arguments, got {len(args)}", opening)
        self.depth -= 1
        return args

    def group(self, opening, call=None):
        """The expression after ``opening`` "(", through its ")" (the argument of ``call``); a group
        of the same text read before is taken as it is."""
        start = opening.pos
        close = self.closing.get(start)
        key = None if close is None or close - start < MIN_REPEAT else self.text[start:close + 1]
        memo = None if key is None else self.groups.get(key)
        if memo is not None and self.depth + memo.depth <= MAX_DEPTH:
            return self.reuse(memo, start)
        deepest, sized, self.deepest = self.deepest, self.sized, self.depth
        self.enter(opening)
        node, token = self.expr(), self.take()
        if token.value == "," and call:
            self.fail(f"{call}() takes one argument", token)
        if token.kind == "end":
            self.fail("unclosed '('", opening)
        if token.value != ")":
            self.fail(f"expected ')' or an operator, got {self.source(token)}", token)
        self.depth -= 1
        if key is not None and token.pos == close:
            self.remember(self.groups, key, node, start, deepest, sized)
        else:
            self.deepest = max(deepest, self.deepest)
        return node


def _postorder(root):
    """The nodes under ``root``, children first, without recursion: one node per key (the first in
    the text), so a repeated subexpression is typed and built once."""
    order, stack, seen = [], [(root, False)], set()
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node.key not in seen:
            seen.add(node.key)
            stack.append((node, True))
            stack.extend((kid, False) for kid in reversed(node.kids))
    return order


def _function_row(value):
    """(shape rule, builder) of a call: a name of FUNCTION_TABLE or polygammaN, or (user function, order)."""
    if isinstance(value, tuple):
        return "same", registered_user_function(*value)
    return FUNCTION_TABLE[value] if value in FUNCTION_TABLE else ("same", builtin_function(value))


def _leads(nodes):
    """The names whose shape ``nodes`` take: x in x, -x, exp(x), x.^2, x + y, x .* y, 2*x, x/s."""
    names, stack = [], list(nodes)
    while stack:
        node = stack.pop()
        if node.kind == "sym":
            names.append(node.value)
        elif node.kind in ("neg", "sum", "compare") or node.kind == "pow" and node.value[0] == ".^" \
                or node.kind == "call" and _function_row(node.value)[0] in ("same", "vector", "elementwise"):
            stack.extend(node.kids)
        elif node.kind == "chain":  # divisors are scalars; in a product, the one factor not a number
            kept = node.kids[:1] + [kid for kid, (op, _) in zip(node.kids[1:], node.value) if op != "/"]
            if all(op != "*" for op, _ in node.value):
                stack.extend(kept)
            elif sum(kid.kind != "num" for kid in kept) == 1:
                stack.extend(kid for kid in kept if kid.kind != "num")
    return names


# ---------------------------------------------------------------- shape inference

class _Dims:
    """Union-find over dim variables; variable ONE is the literal 1 and never merges with a dim."""

    def __init__(self):
        self.parent, self.name, self.by_name = [ONE], [None], {}
        self.made = {}   # root -> the dim variables a merged dim (vec, kron) is made of, in C order

    def merged(self, parts):
        """The dim variable of an axis merging ``parts`` (the literal 1 left out)."""
        flat = []
        for part in parts:
            root = self.find(part)
            flat.extend(self.made.get(root, (root,)) if root != ONE else ())
        if len(flat) <= 1:
            return flat[0] if flat else ONE
        made = self.new(None)
        self.made[made] = tuple(flat)
        return made

    def parts(self, d):
        """The parts of a merged dim variable (made by merged, or named like "n·m"), else None."""
        if d in self.made:
            return self.made[d]
        named = merged_parts(self.name[d]) if self.name[d] else None
        return None if named is None else tuple(self.new(part) for part in named)

    def new(self, name=None):
        if name not in self.by_name:
            self.parent.append(len(self.parent))
            self.name.append(name)
            if name is None:
                return len(self.parent) - 1
            self.by_name[name] = len(self.parent) - 1
        return self.by_name[name]

    def find(self, d):
        while self.parent[d] != d:
            self.parent[d] = d = self.parent[self.parent[d]]
        return d

    def unify(self, a, b):
        a, b = self.find(a), self.find(b)
        if a == b:
            return True
        if ONE in (a, b):
            return False
        name, made = self.name, self.made
        if name[a] is None and name[b] is None and a not in made and b not in made:   # two plain unknowns
            self._link(a, b)
            return True
        parts_a, parts_b = self.parts(a), self.parts(b)
        if parts_a is not None and parts_b is not None:   # two merged dims: part by part
            if len(parts_a) != len(parts_b):
                return False
            if not all([self.unify(x, y) for x, y in zip(parts_a, parts_b)]):
                return False
            self._link(a, b)
            return True
        if self.name[a] and self.name[b] or (parts_a or parts_b) and (self.name[a] or self.name[b]):
            return False
        self._link(a, b)
        return True

    def _link(self, a, b):
        if self.name[b]:
            a, b = b, a  # the given name stays on the root
        self.parent[b] = a
        if b in self.made:
            self.made.setdefault(a, self.made.pop(b))


class _Pass:
    """One pass of shape inference over the nodes in post-order (see the module docstring)."""

    def __init__(self, text, given, vectors, scalars, symmetric=frozenset()):
        self.text, self.given, self.vectors, self.scalars = text, given, vectors, scalars
        self.symmetric = symmetric   # names declared symmetric: square matrices whatever their case
        self.dims, self.flips = _Dims(), set()
        self.shapes, self.symbols, self.products = {}, {}, {}

    def run(self, order):
        shapes, rules = self.shapes, _TYPE
        for node in order:
            shapes[node.key] = rules[node.kind](self, node, [shapes[k.key] for k in node.kids])

    def fail(self, pos, message):
        _fail(ShapeError, message, self.text, pos)

    def show(self, start, end, shape):
        """``source is (rows, cols)``, naming each dim as far as it is known (?k when unnamed)."""
        source = " ".join(self.text[start:end].split())
        source = source if len(source) <= 30 else source[:27] + "..."
        return f"{source} is ({', '.join(self.label(d) for d in shape)})"

    def label(self, d):
        """A dim as far as it is known: its name, ?k when unnamed, ?k·?l when merged (vec, kron)."""
        d = self.dims.find(d)
        if d == ONE:
            return "1"
        if self.dims.name[d] is None and d in self.dims.made:
            return "·".join(self.label(part) for part in self.dims.made[d])
        return self.dims.name[d] or f"?{d}"

    def want_vector(self, nodes, shape):
        """The conventions: the undeclared lower-case names a scalar ``nodes`` stand for become vectors."""
        if shape == SCALAR:
            for name in _leads(nodes):
                if name not in self.given and name not in self.vectors and name not in self.scalars \
                        and not name.lstrip("_")[:1].isupper():
                    self.flips.add(name)

    def _row_broadcast(self, row, matrix):
        """Whether ``row`` is a row vector (1, k) that spreads over the rows of the matrix ``matrix``."""
        find = self.dims.find
        return find(row[0]) == ONE and find(row[1]) != ONE and find(matrix[0]) != ONE \
            and self.dims.unify(row[1], matrix[1])

    def common(self, operators, items):
        """The shape of an elementwise combination of ``items`` (start, end, shape, lead nodes): one
        shape for all but the scalars, which broadcast; scalars beside a column vector want to be vectors."""
        result = first = None
        for (op, pos), (start, end, shape, _) in zip(operators, items):
            if shape == SCALAR:
                continue
            if result is None:
                result, first = shape, (start, end)
            elif len(result) != len(shape) or not all(map(self.dims.unify, result[2:], shape[2:])):
                self.fail(pos, f"'{op}' needs operands of one shape (or a scalar): {self.show(*first, result)} "
                               f"but {self.show(start, end, shape)}")   # an order-3/4 tensor product and another
            elif self._row_broadcast(result, shape) or self._row_broadcast(shape, result):
                # a row vector (1, k) spreads over the rows of an (n, k) matrix: numpy's broadcasting of
                # a vector (k) against (n, k), and MATLAB's implicit expansion (a column vector does not)
                if self.dims.find(result[0]) == ONE:
                    result, first = shape, (start, end)
            elif not (self.dims.unify(result[0], shape[0]) and self.dims.unify(result[1], shape[1])):
                self.fail(pos, f"'{op}' needs operands of one shape (or a scalar): {self.show(*first, result)} "
                               f"but {self.show(start, end, shape)}")
        if result is not None and result[1] == ONE:
            for _, _, shape, nodes in items:
                self.want_vector(nodes, shape)
        return result or SCALAR


def _type_sym(p, node, kids):
    name = node.value
    if name not in p.symbols:
        dims = p.given.get(name)
        if dims is not None and len(dims) > 2:
            p.fail(node.pos, f"{name!r} has dims ({', '.join(dims)}): parse reads scalars, vectors and matrices")
        if dims is not None:
            p.symbols[name] = tuple(p.dims.new(d) for d in dims) + (ONE,) * (2 - len(dims))
        elif name in p.symmetric:
            p.symbols[name] = (p.dims.new(),) * 2
        elif name.lstrip("_")[:1].isupper():
            p.symbols[name] = (p.dims.new(), p.dims.new())
        else:
            p.symbols[name] = (p.dims.new(), ONE) if name in p.vectors else SCALAR
    return p.symbols[name]


def _type_eye(p, node, kids):
    dims = p.given.get(node.value, (None,))
    if len(set(dims)) != 1:
        p.fail(node.pos, f"{node.value} is the identity: its dims are one name ({node.value}=\"n\"), "
                         f"not ({', '.join(dims)})")
    return (p.dims.new(None),) * 2   # eye="p" names it only where nothing else does (_dim_names)


def _type_transpose(p, node, kids):
    if len(kids[0]) > 2:
        p.fail(node.pos, f"' transposes a matrix or vector, but {p.show(node.start, node.end - 1, kids[0])}")
    p.want_vector(node.kids, kids[0])
    return kids[0][::-1]


def _type_pow(p, node, kids):
    base = node.kids[0]
    if node.value[0] == "^" and kids[0] != SCALAR:
        p.fail(node.pos, f"'^' raises a scalar to a power, but {p.show(base.start, base.end, kids[0])}: "
                         f"write inv(A) for an inverse, A*A for a square, A.^2 elementwise")
    if len(kids) == 1:
        return kids[0]
    exponent = node.kids[1]
    if node.value[0] == "^" and kids[1] != SCALAR:
        p.fail(node.pos, f"'^' takes a scalar exponent, but {p.show(exponent.start, exponent.end, kids[1])}: "
                         f"write .^ for an elementwise power")
    operands = [(k.start, k.end, shape, [k]) for k, shape in zip(node.kids, kids)]
    return p.common([(node.value[0], node.pos)] * 2, operands)


def _type_call(p, node, kids):
    if _function_row(node.value)[0] == "tensor" or any(len(shape) > 2 for shape in kids):
        return _type_tensor_call(p, node, kids)
    rule, (rows, cols), arg = _function_row(node.value)[0], kids[0], node.kids[0]
    if rule == "elementwise":
        items = [(kid.start, kid.end, shape, [kid]) for kid, shape in zip(node.kids, kids)]
        return p.common([(node.value, node.pos)] * len(kids), items)
    if rule == "vec":   # the columns stacked: (m, n) -> (n·m, 1); a vector stays itself
        return (p.dims.merged((cols, rows)), ONE) if ONE not in (rows, cols) else \
            (cols, ONE) if rows == ONE else kids[0]
    if rule == "unvec":   # vecform.py: (r, q·p) -> (r, p, q); unvecT: (r, p·q) -> (r, p, q)
        if p.dims.find(cols) == ONE:   # a column vector: vec's inverse, (q·p, 1) -> (p, q)
            rows, cols = ONE, rows
        parts = p.dims.parts(p.dims.find(cols))
        if parts is None or len(parts) != 2:
            p.fail(node.pos, f"{node.value} needs a matrix whose columns are a merged dim of two parts (as kron's), "
                             f"but {p.show(arg.start, arg.end, kids[0])}")
        split = parts if node.value == "unvecT" else parts[::-1]
        return split if p.dims.find(rows) == ONE else (rows, *split)
    if rule == "kron":
        (a, b), (c, d) = kids
        if SCALAR in kids:
            return kids[1] if kids[0] == SCALAR else kids[0]
        if (a == ONE) != (c == ONE) or (b == ONE) != (d == ONE):
            p.fail(node.pos, f"kron needs two matrices, two column vectors or two row vectors, but "
                             f"{p.show(node.kids[0].start, node.kids[0].end, kids[0])} and "
                             f"{p.show(node.kids[1].start, node.kids[1].end, kids[1])}")
        return p.dims.merged((a, c)), p.dims.merged((b, d))
    if rule in ("reduce", "diag", "vector"):
        p.want_vector([arg], kids[0])
    if rule in ("same", "reduce", "vector"):
        return SCALAR if rule == "reduce" else kids[0]
    if rule == "diag" and ONE in (rows, cols):
        return (cols, cols) if rows == ONE else (rows, rows)
    if not p.dims.unify(rows, cols):
        what = "a vector or a square matrix" if rule == "diag" else "a square matrix"
        p.fail(node.pos, f"{node.value} needs {what}, but {p.show(arg.start, arg.end, kids[0])}")
    return {"square": kids[0], "trace": SCALAR, "diag": (rows, ONE)}[rule]


def _type_tensor_call(p, node, kids):
    """tprod, tbox or outer of two matrices or vectors (kronform.py), or a function of such a product:
    its dims, with the axes of size 1 of vectors left out; a tensor of order 3 or 4 is a tuple of its dims."""
    rule = _function_row(node.value)[0]
    if rule == "same":
        return kids[0]
    if rule == "elementwise":
        return p.common([(node.value, node.pos)] * len(kids),
                        [(kid.start, kid.end, shape, [kid]) for kid, shape in zip(node.kids, kids)])
    for kid, shape in zip(node.kids, kids):
        if len(shape) > 2:
            what = "a matrix, vector or scalar" if rule == "tensor" else "no tensor of order 3 or 4"
            p.fail(kid.start, f"{node.value} takes {what}, but {p.show(kid.start, kid.end, shape)}")
    find = p.dims.find
    rows = tuple(find(rows) == ONE and find(cols) != ONE for rows, cols in kids)   # x': a row vector
    p.products[node.key] = {"rows": rows}
    (rows_a, cols_a), (rows_b, cols_b) = kids
    axes = {"tprod": (rows_a, rows_b, cols_a, cols_b), "tbox": (rows_a, rows_b, cols_b, cols_a),
            "outer": (rows_a, cols_a, rows_b, cols_b)}[node.value]
    dims = tuple(d for d in axes if find(d) != ONE)
    return dims if len(dims) > 2 else (dims + (ONE, ONE))[:2]


def _row_runs(operators, shapes):
    """rows[k]: whether shapes[k] * shapes[k+1] * ... (while the operators are '*') is a row vector."""
    n = len(shapes)
    first, last = [None] * (n + 1), [None] * (n + 1)  # the run's first and last factor not a scalar
    for k in range(n - 1, -1, -1):
        more = k + 1 < n and operators[k] == "*"
        own = shapes[k] if shapes[k] != SCALAR else None
        first[k] = own or (first[k + 1] if more else None)
        last[k] = (last[k + 1] if more else None) or own
    return [f is not None and f[0] == ONE and l[1] != ONE for f, l in zip(first[:n], last[:n])]


def _product(p, pos, left_span, left, right_node, right):
    """The shape of left * right and how to build it: "scale", "outer" or "matmul"."""
    if left == SCALAR or right == SCALAR:
        return (right if left == SCALAR else left), "scale"
    if len(left) > 2 or len(right) > 2:
        p.fail(pos, f"'*' scales an order-3/4 tensor product by a scalar only, but {p.show(*left_span, left)} "
                    f"and {p.show(right_node.start, right_node.end, right)}")
    if not p.dims.unify(left[1], right[0]):
        hint = "; write x'*y for an inner product, x.*y elementwise" if left[1] == right[1] == ONE else ""
        p.fail(pos, f"'*' needs matching inner dims: {p.show(*left_span, left)} but "
                    f"{p.show(right_node.start, right_node.end, right)}{hint}")
    return (left[0], right[1]), ("outer" if left[1] == ONE else "matmul")


def _type_chain(p, node, kids):
    operators = [op for op, _ in node.value]
    rows = _row_runs(operators, kids)
    acc, kinds = kids[0], []
    for k, (op, pos) in enumerate(node.value, 1):
        shape, kid, left = kids[k], node.kids[k], (node.start, node.kids[k - 1].end)
        if op == "*":
            if acc[1] != ONE and len(acc) == 2:  # A*x, y'*x: a matrix or row vector on the left
                p.want_vector([kid], shape)
            elif acc == SCALAR and rows[k] and (k == 1 or operators[k - 2] == "*"):  # x*y'
                p.want_vector([node.kids[k - 1]], kids[k - 1])
            acc, kind = _product(p, pos, left, acc, kid, shape)
            kinds.append(kind)
        elif op == "/" and shape != SCALAR:
            p.fail(pos, f"'/' divides by a scalar, but {p.show(kid.start, kid.end, shape)}: "
                        f"write *inv(B) for a matrix, ./ elementwise")
        elif op != "/":  # .* and ./ ; a left operand of several factors leads nothing (2*x .* y)
            leads = node.kids[:1] if k == 1 else []
            acc = p.common([(op, pos)] * 2, [(*left, acc, leads), (kid.start, kid.end, shape, [kid])])
    p.products[node.key] = kinds
    return acc


def _type_along(p, node, kids):
    """sum(X, 1) is a row vector (1, cols), sum(X, 2) a column vector (rows, 1); size(X, d) a scalar."""
    name, dim = node.value
    p.want_vector(node.kids, kids[0])
    rows, cols = kids[0]
    return SCALAR if name == "size" else (ONE, cols) if dim == 1 else (rows, ONE)


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


_TYPE = {
    "along": _type_along,
    "num": lambda p, node, kids: SCALAR,
    "sym": _type_sym,
    "eye": _type_eye,
    "ones": lambda p, node, kids: (p.dims.new(None), ONE if node.value[0] == "vector" else p.dims.new(None)),
    "neg": lambda p, node, kids: kids[0],
    "T": _type_transpose,
    "pow": _type_pow,
    "call": _type_call,
    "sum": lambda p, node, kids: p.common(node.value, [(k.start, k.end, s, [k]) for k, s in zip(node.kids, kids)]),
    "compare": lambda p, node, kids: p.common(node.value[:1] + node.value,
                                              [(k.start, k.end, s, [k]) for k, s in zip(node.kids, kids)]),
    "chain": _type_chain,
}


def _infer(order, text, given, symmetric=frozenset()):
    """The kinds the uses decide, then matrixcalculus.org's convention for the names they leave open:
    a lower-case name from h to z is a vector wherever the expression still types with it as one."""
    scalars = set(_leads([k for n in order if n.kind == "pow" and n.value[0] == "^" for k in n.kids]))
    typed = _settle(order, text, given, set(), scalars, symmetric)
    open_names = [name for name in dict.fromkeys(n.value for n in order if n.kind == "sym")
                  if CONVENTIONAL_VECTOR.fullmatch(name) and name not in given and name not in scalars
                  and name not in typed.vectors]
    tries = [open_names] if len(open_names) > 1 else []   # all at once first: the usual case, one pass
    for attempt in tries + [[name] for name in open_names[:MAX_CONVENTION_TRIES]]:
        try:
            typed = _settle(order, text, given, typed.vectors | set(attempt), scalars, symmetric)
        except ShapeError:
            continue   # a scalar after all: its uses decide
        if attempt is open_names:
            break
    return typed


def _settle(order, text, given, vectors, scalars, symmetric):
    """Passes of shape inference until no scalar wants to be a vector; the last pass."""
    while True:
        typed = _Pass(text, given, vectors, scalars, symmetric)
        try:
            typed.run(order)
        except ShapeError:
            if not typed.flips:
                raise
        if not typed.flips:
            return typed
        vectors = vectors | typed.flips


# ---------------------------------------------------------------- building

def _dim_names(order, typed):
    """A name for each dim class: its given name, else the next free one of DIM_NAMES, d1, d2, ...

    A class that only identities have (``2*eye`` alone) also skips the dims of declared symbols:
    evaluation would otherwise size it from an unrelated symbol's value instead of asking."""
    taken = {d for dims in typed.given.values() for d in dims} | {n.value for n in order if n.kind == "sym"}
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
        for d in typed.shapes[node.key] if node.kind in ("sym", "eye", "ones") else ():
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
    """The value of a transpose that only chains read: they read what it transposes, or build it."""

    __slots__ = ()


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


def _whole_product(node, kids, typed):
    """``kids[0] * kids[1] * ...`` as one product: one canonicalisation instead of one per operator,
    and a transposed factor A' read as A with its indices swapped. The same interned node as
    _pairwise_chain (tests/test_parse_products.py builds both); None where it might not be."""
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


def _symmetric_names(symmetric):
    names = (symmetric,) if isinstance(symmetric, str) else symmetric
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(
            isinstance(n, str) and n.isidentifier() for n in names):
        raise ShapeError(f"symmetric= takes a symbol name or a list of names, got {symmetric!r:.60}")
    return frozenset(names)


_BUILD = {
    "along": _build_along,
    "num": lambda node, kids, typed: as_expr(node.value),
    "sym": _build_symbol,
    "eye": lambda node, kids, typed: ops.eye(_dims_of(typed, typed.shapes[node.key][:1])),
    "neg": lambda node, kids, typed: -kids[0],
    "T": lambda node, kids, typed: kids[0].T,
    "pow": lambda node, kids, typed: kids[0] ** (node.value[1] if len(kids) == 1 else kids[1]),
    "ones": lambda node, kids, typed: constant(node.value[1], _dims_of(typed, typed.shapes[node.key])),
    "call": lambda node, kids, typed: _function_row(node.value)[1](*kids, **typed.products.get(node.key, {})),
    "sum": _build_sum,
    "chain": _build_chain,
    "compare": _build_compare,
}


def _build_key(node, kids, typed):
    """What ``_BUILD`` reads of a node, without source positions: equal keys build the same expression."""
    if node.kind in ("sum", "chain", "compare"):
        value = tuple(op for op, _ in node.value), typed.products.get(node.key)
    elif node.kind in ("eye", "ones"):
        value = node.value, _dims_of(typed, typed.shapes[node.key])
    elif node.kind == "call" and node.key in typed.products:   # tprod(A, x) and tprod(A, x'): x is built alike
        value = node.value, typed.products[node.key]
    else:
        value = node.value
    return node.kind, repr(value), tuple(map(id, kids))   # repr: -0.0 is not 0.0; kids are interned


def _build(order, typed):
    """The expression of the syntax tree: a repeated subexpression (the same text, or the same
    interned operands) is built once, since building an interned node costs far more than a lookup."""
    typed.names = _dim_names(order, typed)
    values, built = {}, {}
    typed.values = values   # by node key: _whole_product reads through a transpose to what it transposes
    typed.checked_dims = {}
    needed = {order[-1].key}   # the transposes read by more than chains, which read through them
    for node in order:
        if node.kind != "chain":
            needed.update(kid.key for kid in node.kids)
    for node in order:
        if node.kind == "T" and node.key not in needed:
            values[node.key] = _Deferred()   # its own object: equal build keys need equal transposes
            continue
        kids = [values[kid.key] for kid in node.kids]
        key = _build_key(node, kids, typed)
        if key not in built:
            try:
                built[key] = _BUILD[node.kind](node, kids, typed)
            except TensorDiffError as exc:   # e.g. "1/0": no expression can be built from this text
                _fail(ShapeError if isinstance(exc, ShapeError) else ParseError, str(exc), typed.text, node.pos)
        values[node.key] = built[key]
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
                tree = _Parser(text).parse()
            except ParseError:
                _tokenize(text)   # a bad character or number anywhere in the text is the error reported, as ever
                raise
            order = _postorder(tree)
            del tree
            for node in order:
                live = lookup_symbol(node.value) if node.kind == "sym" and node.value not in given else None
                if live is not None:
                    chosen[node.value] = live
                    given[node.value] = live.dims
            marked = wanted | {name for name, node in chosen.items() if node.symmetric}
            for name in sorted(wanted & set(given)):
                if len(given[name]) != 2 or given[name][0] != given[name][1]:
                    raise ShapeError(f"symmetric symbol {name!r} must be a square matrix with one dim twice, got "
                                     f"dims ({', '.join(given[name])})")
            result = _build(order, _infer(order, text, given, frozenset(marked)))
            del order   # the syntax tree goes now: the collector, back on, would scan all of it once
        return result
    except RecursionError:
        raise ParseError(f"expression too deeply nested (more than {MAX_DEPTH} levels)") from None
