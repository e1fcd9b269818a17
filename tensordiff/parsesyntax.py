"""Text → syntax tree for parse: tokens read as the parser reaches them, recursive descent over the
grammar of parse.py's docstring, and error messages with a caret under the column at fault."""

from __future__ import annotations

import collections
import math
import re

from .errors import ParseError
from .kernels import syntax_reader
from .functions import FUNCTIONS, USER_PREFIX, registered_user_function
from .parsewords import ALONG, ARITY, BOOL_WORDS, COMPARISONS, FUNCTION_TABLE, IDENTITY, ONES, function_word, \
    name_class
from .textspans import closing_parens, operand_end

MIN_REPEAT = 8   # characters: a shorter operand or group is read again faster than it is looked up
MAX_DEPTH = 64  # nested parentheses and calls (8 frames each): deeper is a ParseError, not a RecursionError

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


def fail_at(cls, message, text, pos):
    raise cls(message + _caret(text, pos)) from None


# ---------------------------------------------------------------- tokens and syntax tree

_SPACE = re.compile(r"\s*", re.ASCII)
_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+(?:\.(?![*/^'])\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>(?:user\.)?[A-Za-z_]\w*)|(?P<op>\.[*/^']|[<>]=?|[-+*/^'(),]))", re.ASCII)  # spaces first
_GROUPS = {index: kind for kind, index in _TOKEN.groupindex.items()}
_NUMBER_GROUP = _TOKEN.groupindex["num"]
_AFTER_NUMBER = re.compile(r"\w|\.(?![*/^'])", re.ASCII)  # what makes a number bad: 2x, 1e, 1.2.3
_WORD = re.compile(r"[\w.]*", re.ASCII)

_WORDS = frozenset((*ONES, *ALONG, *IDENTITY, *BOOL_WORDS))   # names that are no symbol, or not always
_SPECIAL_PREFIXES = ("polygamma", USER_PREFIX)   # names that may be functions (function_word) or a user one
_Token = collections.namedtuple("_Token", "kind value pos end")


def tokenize(text):
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
                fail_at(ParseError, f"bad number {_WORD.match(text, start).group()!r}{hint}", text, start)
        elif value == ".'":
            value = "'"
        append(token(_Token, (kind, value, start, pos)))
    pos = _SPACE.match(text, pos).end()
    if pos < len(text):
        ch = text[pos]
        hint = _HINTS.get(ch) or ("names are ASCII: write alpha, not α" if ch.isalpha() else "")
        fail_at(ParseError, f"unexpected character {ch!r}" + (f"; {hint}" if hint else ""), text, pos)
    return tokens + [_Token("end", None, len(text), len(text))]


def read_syntax(text):
    """The syntax nodes of ``text`` in post-order, one per key (``Parser.keys.order``). The compiled
    reader (_kernelparse.pxi) makes the very nodes the Parser makes, where it reads the text; the
    Parser, its pure-Python twin, reads the rest (the notation's rarer words) and reports bad text."""
    compiled = syntax_reader()
    if compiled is not None:
        keys = _Keys()
        if compiled(text, keys, keys.order, _Node, name_class):
            return keys.order
    parser = Parser(text)
    try:
        parser.parse()
    except ParseError:
        tokenize(text)   # a bad character or number anywhere in the text is the error reported, as ever
        raise
    return parser.keys.order


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
        if not kids:
            key = (kind, value)
        elif len(kids) == 1:
            key = (kind, value, kids[0].key)
        else:
            key = (kind, value, *[kid.key for kid in kids])
        number = len(keys)
        self.key = keys.setdefault(key, number)
        if self.key == number:
            keys.order.append(self)

    def moved(self, offset):
        """This node read ``offset`` characters further on: the same key and children (a repeat of its
        text), its own positions, which its parent's messages quote."""
        node = object.__new__(_Node)
        node.kind, node.kids, node.value, node.key = self.kind, self.kids, self.value, self.key
        node.pos, node.start, node.end = self.pos + offset, self.start + offset, self.end + offset
        return node


def _leaf(keys, kind, pos, end, value):
    """``_Node(keys, kind, pos, pos, end, (), value)`` of a sym or num, without asking which kind it is."""
    node = _new_node(_Node)
    node.kind, node.pos, node.start, node.end, node.kids, node.value = kind, pos, pos, end, (), value
    number = len(keys)
    node.key = keys.setdefault((kind, value), number)
    if node.key == number:
        keys.order.append(node)
    return node


_new_node = object.__new__


class _Keys(dict):
    """The number of each node key, and the first node of each key in the order the parser finishes
    them: children before parents, left to right (the post-order of the tree, one node per key), so
    a repeated subexpression is typed and built once."""

    __slots__ = ("order",)

    def __init__(self):
        super().__init__()
        self.order = []


class _Memo:
    """A piece of text read before: its node, how many levels deeper than its start it nests, and
    its last token relative to its start."""

    __slots__ = ("node", "start", "depth", "last")

    def __init__(self, node, start, depth, last):
        self.node, self.start, self.depth, self.last = node, start, depth, last


class Parser:
    """Recursive descent over the grammar; it recurses only at "(", at most MAX_DEPTH deep.

    Tokens are read one at a time from the text as the parser moves on. A sum operand or a
    parenthesised group whose exact text was read before (textspans.py finds where it ends) is
    not read again: its node is taken from the first reading, so the work is linear in the
    distinct text, whatever the repeats."""

    def __init__(self, text):
        self.text = text
        self.depth = 0
        self.keys = _Keys()
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
            fail_at(ParseError, f"unexpected character {ch!r}" + (f"; {hint}" if hint else ""), text, pos)
        group = m.lastindex
        start, end = m.span(group)
        value = text[start:end]
        if group != _NUMBER_GROUP:
            return tuple.__new__(_Token, (_GROUPS[group], "'" if value == ".'" else value, start, end))
        value = float(value)
        if _AFTER_NUMBER.match(text, end) or math.isinf(value):
            nxt = text[end:end + 1]
            hint = " (a product needs '*': 2*x)" if nxt.isalpha() and nxt not in "eE" else ""
            fail_at(ParseError, f"bad number {_WORD.match(text, start).group()!r}{hint}", text, start)
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
        fail_at(ParseError, message, self.text, token.pos)

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
            return _leaf(self.keys, "num", token.pos, token.end, token.value)
        if token.value == "(":
            return self.group(token)
        if token.kind == "end":
            self.fail(f"expected an operand after {self.source(previous)}, got the end", token)
        if token.kind != "name":
            self.fail(f"expected an operand, got {self.source(token)}", token)
        name = token.value
        if self.tok.value not in ("(", "'") and name not in _WORDS and name not in FUNCTION_TABLE \
                and name not in FUNCTIONS and not name.startswith(_SPECIAL_PREFIXES):
            return _leaf(self.keys, "sym", token.pos, token.end, name)   # a symbol: what the checks below come to, sooner
        primes = self.primes_before_a_call()
        user = name.startswith(USER_PREFIX)   # user.softplus(x): the user function, not the built-in
        base = name[len(USER_PREFIX):] if user else name
        if user and (primes is None or registered_user_function(base) is None):
            self.fail(f"{name!r} names a user function (td.elementwise({base!r}, ...)) called as {name}(x)"
                      + ("" if primes is not None else f", not {self.source(self.peek())}")
                      + ("" if registered_user_function(base) is not None else ", but none is declared"), token)
        if (user or not function_word(name)) and primes is not None and registered_user_function(base) is not None:
            for _ in range(primes):   # h'(x): the derivative of the user function h, as printed
                self.take()
            arg = self.group(self.take(), name)
            return _Node(self.keys, "call", token.pos, token.pos, self.end, (arg,), (base, primes))
        if name in ONES:
            return self.ones(token)
        if name in ALONG and self.peek().value == "(":
            return self.along(token, name)
        if name in IDENTITY and self.peek().value == "(":   # eye(size(X, 1)): the identity of that size
            self.take()
            sizes = self.sizes(token)
            self.sized += 1
            return _Node(self.keys, "eye", token.pos, token.pos, self.end, sizes, name)
        if self.peek().value == "(":
            if not function_word(name):
                self.fail(f"unknown function {name!r} (functions: {', '.join(sorted(FUNCTION_TABLE))})", token)
            args = self.arguments(self.take(), name) if name in ARITY else (self.group(self.take(), name),)
            return _Node(self.keys, "call", token.pos, token.pos, self.end, tuple(args), name)
        if function_word(name):
            self.fail(f"function {name!r} needs parentheses: {name}(...)", token)
        if name in IDENTITY:
            self.sized += 1
            return _Node(self.keys, "eye", token.pos, token.pos, token.end, (), name)
        if name in BOOL_WORDS:
            return _leaf(self.keys, "num", token.pos, token.end, BOOL_WORDS[name])
        return _leaf(self.keys, "sym", token.pos, token.end, name)

    def ones(self, word):
        """vector(c) or matrix(c) after the word: every entry the number c (vector(1): all ones)."""
        opening, sign = self.take(), 1.0
        while opening.value == "(" and self.peek().value in ("+", "-"):
            sign = -sign if self.take().value == "-" else sign
        number = self.take() if opening.value == "(" else opening
        if opening.value != "(" or number.kind != "num" or self.peek().value not in (")", ","):
            self.fail(f"{word.value} takes a number, the value of every entry: {word.value}(1) is all ones", word)
        if self.peek().value == ",":   # vector(1, size(X, 1)): sized by X, not by its surroundings
            sizes = self.sizes(word, ONES.index(word.value) + 1)
        else:
            sizes = ()
            self.take()
        self.sized += 1
        return _Node(self.keys, "ones", word.pos, word.pos, self.end, sizes, (word.value, sign * number.value))

    def sizes(self, word, count=1):
        """The ``count`` sizes size(X, d) of eye(size(X, 1)), vector(c, size(X, 1)) or
        matrix(c, size(X, 1), size(Y, 2)), after the word's "(" and any number, through the ")"."""
        usage = {"vector": "vector(c, size(X, d))", "matrix": "matrix(c, size(X, d), size(Y, e))"}.get(
            word.value, f"{word.value}(size(X, d))")
        found = []
        while len(found) < count:
            if found or word.value in ONES:
                self.take()   # the "," before a size
            token = self.take()
            if token.value != "size" or self.peek().value != "(":
                self.fail(f"{usage} takes {'its size' if count == 1 else 'its sizes'} as size(X, d), "
                          f"got {self.shown(token)}", token)
            found.append(self.along(token, "size"))
            if self.peek().value != ("," if len(found) < count else ")"):
                self.fail(f"{usage} takes {count} size{'s' if count > 1 else ''}, got {self.shown(self.peek())}",
                          self.peek())
        self.take()
        return tuple(found)

    def shown(self, token):
        """``token`` as its source text in quotes, or "the end"."""
        return "the end" if token.kind == "end" else self.source(token)

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
        if dim is None and name == "size" and arg.kind == "sym":   # size(n): the size of the dim named n
            if self.keys.order[-1] is arg:   # n read first as a symbol, new to the text: not one of its nodes
                del self.keys[("sym", arg.value)]
                self.keys.order.pop()
            return _Node(self.keys, "along", word.pos, word.pos, self.end,
                         (_Node(self.keys, "dim", arg.pos, arg.start, arg.end, (), arg.value),), (name, 1))
        if dim is None and name == "size":
            self.fail("size(X, d) needs the dimension d: 1 for the number of rows, 2 of columns; "
                      "size(n) is the size of the dim named n", word)
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
