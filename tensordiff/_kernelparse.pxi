# The compiled twin of parsesyntax.Parser (included by _kernels.pyx): the tokens of an ASCII text are
# read into C arrays in one pass, then recursive descent over them makes the very syntax nodes the
# Python parser makes (parsesyntax._Node, the same keys in the same order). It covers the grammar's
# common part only: on anything else (bad text, eye, ones, size, user functions, a non-number
# exponent, ...) it gives up and parsesyntax's Python parser reads the text, so every message for
# bad text is the Python parser's own. As the Python parser does, it reads a repeated sum operand or
# parenthesised group of 8 characters or more once, and takes its node (moved) where it comes again.

from cpython.ref cimport PyObject
from libc.math cimport isinf


cdef extern from "Python.h":
    PyObject* PyDict_SetDefault(object mapping, object key, object default) except NULL


cdef enum:
    _END = 0
    _NUM = 1
    _NAME = 2
    _OP = 3

# operator codes: the index of the operator's text in _OP_TEXT
cdef enum:
    _PLUS = 0
    _MINUS = 1
    _STAR = 2
    _SLASH = 3
    _CARET = 4
    _QUOTE = 5
    _OPEN = 6
    _CLOSE = 7
    _COMMA = 8
    _DOT_STAR = 9
    _DOT_SLASH = 10
    _DOT_CARET = 11
    _LESS = 12
    _LESS_EQUAL = 13
    _GREATER = 14
    _GREATER_EQUAL = 15

_OP_TEXT = ("+", "-", "*", "/", "^", "'", "(", ")", ",", ".*", "./", ".^", "<", "<=", ">", ">=")

# what parsesyntax.name_class says of a name (the same numbers)
cdef enum:
    _NAME_OTHER = 0       # a word the compiled reader leaves to the Python parser
    _NAME_SYMBOL = 1      # a symbol, unless "(" follows it
    _NAME_FUNCTION = 2    # a function of one argument: name(expr)
    _NAME_ALONG = 3       # sum, max, min, mean, logsumexp: name(expr) or name(expr, d)
    _NAME_ARGUMENTS = 4   # a function of several arguments (parsewords.ARITY)
    _NAME_USER = 5        # a symbol's name that is also a user function's: h'(x) may call it

_MAX_SYNTAX_DEPTH = 64   # parsesyntax.MAX_DEPTH
_MIN_REPEAT = 8   # parsesyntax.MIN_REPEAT: characters of a piece looked up before it is read


class _Unread(Exception):
    """The compiled reader leaves this text to the Python parser."""


cdef inline bint _is_space(unsigned char ch):
    return ch == 32 or 9 <= ch <= 13   # \s of an ASCII regex: space \t \n \v \f \r


cdef inline bint _is_digit(unsigned char ch):
    return 48 <= ch <= 57


cdef inline bint _is_word_start(unsigned char ch):
    return 65 <= ch <= 90 or 97 <= ch <= 122 or ch == 95


cdef inline bint _is_word(unsigned char ch):
    return _is_word_start(ch) or _is_digit(ch)


cdef inline int _single_op(unsigned char ch):
    if ch == 43:
        return _PLUS
    if ch == 45:
        return _MINUS
    if ch == 42:
        return _STAR
    if ch == 47:
        return _SLASH
    if ch == 94:
        return _CARET
    if ch == 39:
        return _QUOTE
    if ch == 40:
        return _OPEN
    if ch == 41:
        return _CLOSE
    if ch == 44:
        return _COMMA
    return -1


cdef inline bint _is_op_after_dot(unsigned char ch):
    return ch == 42 or ch == 47 or ch == 94 or ch == 39   # * / ^ '


cdef class _SyntaxReader:
    cdef bytes data
    cdef const unsigned char* chars
    cdef Py_ssize_t length, count, at, last_end
    cdef int depth, deepest
    cdef Py_ssize_t* match   # the index of the ")" of each "(" token (-1 where unmatched, or no "(")
    cdef unsigned char* kinds
    cdef int* codes
    cdef Py_ssize_t* starts
    cdef Py_ssize_t* ends
    cdef list numbers   # the value of each number token (None for the others)
    cdef str text
    cdef object keys, node_type, new_node, name_class
    cdef list order
    cdef dict classes, operands, groups   # text of a piece read -> (node, start, depth, tokens)

    def __cinit__(self):
        self.kinds = NULL
        self.codes = NULL
        self.starts = NULL
        self.ends = NULL
        self.match = NULL

    def __dealloc__(self):
        free(self.kinds)
        free(self.codes)
        free(self.starts)
        free(self.ends)
        free(self.match)

    cdef int tokenize(self) except -1:
        """Every token into the arrays, ending with an end token; a bad character or number gives up."""
        cdef const unsigned char* s = self.chars
        cdef Py_ssize_t n = self.length, pos = 0, start, past, k = 0
        cdef unsigned char ch, nxt
        cdef int code
        self.kinds = <unsigned char*>malloc((n + 1) * sizeof(unsigned char))
        self.codes = <int*>malloc((n + 1) * sizeof(int))
        self.starts = <Py_ssize_t*>malloc((n + 1) * sizeof(Py_ssize_t))
        self.ends = <Py_ssize_t*>malloc((n + 1) * sizeof(Py_ssize_t))
        self.match = <Py_ssize_t*>malloc((n + 1) * sizeof(Py_ssize_t))
        if self.kinds == NULL or self.codes == NULL or self.starts == NULL or self.ends == NULL or self.match == NULL:
            raise MemoryError()
        numbers = self.numbers
        while True:
            while pos < n and _is_space(s[pos]):
                pos += 1
            if pos == n:
                break
            start, ch = pos, s[pos]
            nxt = s[pos + 1] if pos + 1 < n else 0
            if _is_digit(ch) or ch == 46 and _is_digit(nxt):   # a number: 12, 1.5, 1., .5, 2e-3
                while pos < n and _is_digit(s[pos]):
                    pos += 1
                if ch != 46 and pos < n and s[pos] == 46 and not (pos + 1 < n and _is_op_after_dot(s[pos + 1])):
                    pos += 1
                    while pos < n and _is_digit(s[pos]):
                        pos += 1
                elif ch == 46:
                    pos += 1
                    while pos < n and _is_digit(s[pos]):
                        pos += 1
                if pos < n and (s[pos] == 101 or s[pos] == 69):   # e E
                    past = pos + 1
                    if past < n and (s[past] == 43 or s[past] == 45):
                        past += 1
                    if past < n and _is_digit(s[past]):
                        pos = past
                        while pos < n and _is_digit(s[pos]):
                            pos += 1
                if pos < n and (_is_word(s[pos]) or s[pos] == 46 and not (pos + 1 < n and _is_op_after_dot(s[pos + 1]))):
                    raise _Unread()   # 2x, 1e, 1.2.3: the Python parser's message
                value = float(self.text[start:pos])
                if isinf(value):
                    raise _Unread()
                self.kinds[k], self.codes[k] = _NUM, 0
                numbers.append(value)
            elif _is_word_start(ch):
                pos += 1
                while pos < n and _is_word(s[pos]):
                    pos += 1
                if pos < n and s[pos] == 46 and pos - start == 4 and self.data[start:pos] == b"user":   # user.h
                    raise _Unread()
                self.kinds[k], self.codes[k] = _NAME, 0
                numbers.append(None)
            else:
                if ch == 46 and _is_op_after_dot(nxt):
                    code = _DOT_STAR if nxt == 42 else _DOT_SLASH if nxt == 47 else _DOT_CARET if nxt == 94 else _QUOTE
                    pos += 2
                elif ch == 60 or ch == 62:   # < >
                    if nxt == 61:
                        code = _LESS_EQUAL if ch == 60 else _GREATER_EQUAL
                        pos += 2
                    else:
                        code = _LESS if ch == 60 else _GREATER
                        pos += 1
                else:
                    code = _single_op(ch)
                    if code < 0:
                        raise _Unread()
                    pos += 1
                self.kinds[k], self.codes[k] = _OP, code
                numbers.append(None)
            self.starts[k], self.ends[k] = start, pos
            k += 1
        self.kinds[k], self.codes[k], self.starts[k], self.ends[k] = _END, -1, n, n
        numbers.append(None)
        self.count = k + 1
        self.match_parens()
        return 0

    cdef int match_parens(self) except -1:
        cdef Py_ssize_t* stack = <Py_ssize_t*>malloc(self.count * sizeof(Py_ssize_t))
        cdef Py_ssize_t k, top = 0
        if stack == NULL:
            raise MemoryError()
        for k in range(self.count):
            self.match[k] = -1
            if self.kinds[k] == _OP and self.codes[k] == _OPEN:
                stack[top] = k
                top += 1
            elif self.kinds[k] == _OP and self.codes[k] == _CLOSE and top:
                top -= 1
                self.match[stack[top]] = k
        free(stack)
        return 0

    cdef Py_ssize_t operand_stop(self, Py_ssize_t first):
        """The token after the sum operand starting at token ``first`` if it holds no comparison: the
        first + - , ) < <= > >= or end outside parentheses that is no sign; -1 past an unmatched "(".
        A guess: operand() keeps an operand for a repeat only where it ended there."""
        cdef Py_ssize_t k = first
        cdef int code, before
        while self.kinds[k] != _END:
            if self.kinds[k] == _OP:
                code = self.codes[k]
                if code == _OPEN:
                    if self.match[k] < 0:
                        return -1
                    k = self.match[k] + 1
                    continue
                if code == _COMMA or code == _CLOSE or _LESS <= code <= _GREATER_EQUAL:
                    return k
                if (code == _PLUS or code == _MINUS) and k > first and self.kinds[k - 1] == _OP:
                    before = self.codes[k - 1]
                    if before == _QUOTE or before == _CLOSE:
                        return k
                elif (code == _PLUS or code == _MINUS) and k > first:
                    return k
            k += 1
        return k

    cdef object moved(self, tuple memo, Py_ssize_t first, Py_ssize_t start):
        """The node of a piece read before (``memo``), now at token ``first``, character ``start``:
        the tokens move past it (parsesyntax.Parser.reuse, and _Node.moved)."""
        cdef Py_ssize_t offset = start - <Py_ssize_t>memo[1]
        node = memo[0]
        self.deepest = max(self.deepest, self.depth + <int>memo[2])
        self.at = first + <Py_ssize_t>memo[3]
        self.last_end = self.ends[self.at - 1]
        if offset == 0:
            return node
        copy = self.new_node(self.node_type)
        copy.kind = node.kind
        copy.kids = node.kids
        copy.value = node.value
        copy.key = node.key
        copy.pos = node.pos + offset
        copy.start = node.start + offset
        copy.end = node.end + offset
        return copy

    cdef object operand(self):
        """A chain, or the node of the same text read before (parsesyntax.Parser.operand)."""
        cdef Py_ssize_t first = self.at, stop = self.operand_stop(first), start = self.starts[first], end
        cdef int deepest
        if stop <= first:
            return self.series(2, "chain", [])
        end = self.ends[stop - 1]
        if end - start < _MIN_REPEAT:
            return self.series(2, "chain", [])
        key = self.text[start:end]
        memo = self.operands.get(key)
        if memo is not None and self.depth + <int>memo[2] <= _MAX_SYNTAX_DEPTH:
            return self.moved(memo, first, start)
        deepest, self.deepest = self.deepest, self.depth
        node = self.series(2, "chain", [])
        if self.at == stop:
            self.operands[key] = (node, start, self.deepest - self.depth, stop - first)
        self.deepest = max(deepest, self.deepest)
        return node

    cdef object group(self, Py_ssize_t opening):
        """The expression after the "(" token ``opening`` (taken), through its ")"; a group of the
        same text read before is taken as it is (parsesyntax.Parser.group)."""
        cdef Py_ssize_t close = self.match[opening], start = self.starts[opening]
        cdef int deepest
        key = None
        if close >= 0 and self.ends[close] - start > _MIN_REPEAT:
            key = self.text[start:self.ends[close]]
            memo = self.groups.get(key)
            if memo is not None and self.depth + <int>memo[2] <= _MAX_SYNTAX_DEPTH:
                return self.moved(memo, opening, start)
        deepest, self.deepest = self.deepest, self.depth
        self.enter()
        node = self.expr()
        self.close()
        if key is not None and self.at == close + 1:
            self.groups[key] = (node, start, self.deepest - self.depth, close + 1 - opening)
        self.deepest = max(deepest, self.deepest)
        return node

    cdef inline bint is_op(self, int code):
        return self.kinds[self.at] == _OP and self.codes[self.at] == code

    cdef inline Py_ssize_t take(self):
        """The index of the token next, which is taken."""
        cdef Py_ssize_t index = self.at
        if self.kinds[index] == _END:
            raise _Unread()
        self.at += 1
        self.last_end = self.ends[index]
        return index

    cdef object node(self, str kind, Py_ssize_t pos, Py_ssize_t start, Py_ssize_t end, object kids, object value,
                     object key_value):
        """parsesyntax._Node(keys, kind, pos, start, end, kids, value), its key's value given."""
        node = self.new_node(self.node_type)
        node.kind = kind
        node.pos = pos
        node.start = start
        node.end = end
        node.kids = kids
        node.value = value
        cdef Py_ssize_t n = len(kids)
        if n == 0:
            key = (kind, key_value)
        elif n == 1:
            key = (kind, key_value, kids[0].key)
        else:
            key = (kind, key_value) + tuple([kid.key for kid in kids])
        cdef object number = len(self.keys)   # an object: found is it exactly when the key is new
        cdef object found = <object>PyDict_SetDefault(self.keys, key, number)
        node.key = found
        if found is number:
            self.order.append(node)
        return node

    cdef object series(self, int level, str kind, list value):
        """operand { operator operand } at a level: 0 compare, 1 sum, 2 chain (parsesyntax.Parser.series)."""
        cdef Py_ssize_t start = self.starts[self.at], index
        cdef int code
        kids = [self.expr(level + 1) if level == 0 else self.operand() if level == 1 else self.unary()]
        while self.kinds[self.at] == _OP:
            code = self.codes[self.at]
            if level == 0 and not (_LESS <= code <= _GREATER_EQUAL) or level == 1 and code != _PLUS and \
                    code != _MINUS or level == 2 and code != _STAR and code != _SLASH and code != _DOT_STAR and \
                    code != _DOT_SLASH:
                break
            index = self.take()
            value.append((_OP_TEXT[code], self.starts[index]))
            kids.append(self.expr(level + 1) if level == 0 else self.operand() if level == 1 else self.unary())
        if len(kids) == 1:
            return kids[0]
        return self.node(kind, value[len(value) - len(kids) + 1][1], start, self.last_end, kids, value,
                         tuple([op for op, _ in value]))

    cdef object expr(self, int level=0):
        if level == 0:
            return self.series(0, "compare", [])
        if level == 1:
            return self.series(1, "sum", [("+", self.starts[self.at])])
        return self.series(2, "chain", [])

    cdef object unary(self):
        cdef Py_ssize_t start = self.starts[self.at]
        cdef bint negative = False
        while self.is_op(_PLUS) or self.is_op(_MINUS):
            negative ^= self.codes[self.take()] == _MINUS
        node = self.power()
        return self.node("neg", start, start, self.last_end, (node,), None, None) if negative else node

    cdef object power(self):
        cdef Py_ssize_t index
        node = self.postfix()
        while self.is_op(_CARET) or self.is_op(_DOT_CARET):
            index = self.take()
            number = self.exponent()
            op = _OP_TEXT[self.codes[index]]
            node = self.node("pow", self.starts[index], node.start, self.last_end, (node,), (op, number),
                             (op, repr(number)))
        return node

    cdef object exponent(self):
        """A number exponent (x^2, x^-1, x.^(0.5)); any other is left to the Python parser."""
        cdef bint paren = self.is_op(_OPEN)
        cdef double sign = 1.0
        if paren:
            self.take()
        while self.is_op(_PLUS) or self.is_op(_MINUS):
            sign = -sign if self.codes[self.take()] == _MINUS else sign
        if self.kinds[self.at] != _NUM or paren and not (self.kinds[self.at + 1] == _OP and
                                                          self.codes[self.at + 1] == _CLOSE):
            raise _Unread()
        number = sign * self.numbers[self.take()]
        if paren:
            self.take()
        return number

    cdef object postfix(self):
        cdef Py_ssize_t pos = 0
        cdef int transposes = 0
        node = self.primary()
        while self.is_op(_QUOTE):
            pos = self.starts[self.take()]
            transposes += 1
        if transposes % 2:
            node = self.node("T", pos, node.start, self.last_end, (node,), None, None)
        return node

    cdef int enter(self) except -1:
        self.depth += 1
        if self.depth > _MAX_SYNTAX_DEPTH:
            raise _Unread()
        self.deepest = max(self.deepest, self.depth)
        return 0

    cdef object close(self):
        """The ")" that ends a group or a call's arguments."""
        if not self.is_op(_CLOSE):
            raise _Unread()
        self.take()
        self.depth -= 1

    cdef object primary(self):
        cdef Py_ssize_t index = self.take(), pos, end
        cdef int name_class
        if self.kinds[index] == _NUM:
            value = self.numbers[index]
            return self.node("num", self.starts[index], self.starts[index], self.ends[index], (), value, value)
        if self.kinds[index] == _OP:
            if self.codes[index] != _OPEN:
                raise _Unread()
            return self.group(index)
        pos, end = self.starts[index], self.ends[index]
        name = self.text[pos:end]
        found = self.classes.get(name)
        if found is None:
            found = self.classes[name] = self.name_class(name)
        name_class = found
        if name_class == _NAME_SYMBOL or name_class == _NAME_USER:
            if self.is_op(_OPEN) or name_class == _NAME_USER and self.is_op(_QUOTE):
                raise _Unread()   # unknown(x), or h'(x) of a user function h
            return self.node("sym", pos, pos, end, (), name, name)
        if name_class == _NAME_OTHER or not self.is_op(_OPEN):
            raise _Unread()
        index = self.take()
        if name_class == _NAME_FUNCTION:
            arg = self.group(index)
            return self.node("call", pos, pos, self.last_end, (arg,), name, name)
        self.enter()
        args = [self.expr()]
        if name_class == _NAME_ARGUMENTS:
            while self.is_op(_COMMA):
                self.take()
                args.append(self.expr())
        elif name_class == _NAME_ALONG and self.is_op(_COMMA):   # sum(X, 1): along a dimension
            self.take()
            index = self.take()
            if self.kinds[index] != _NUM or self.numbers[index] not in (1, 2):
                raise _Unread()
            self.close()
            along = (name, int(self.numbers[index]))
            return self.node("along", pos, pos, self.last_end, (args[0],), along, along)
        self.close()
        if name_class == _NAME_ARGUMENTS and len(args) != self.name_class(name, True):
            raise _Unread()
        return self.node("call", pos, pos, self.last_end, tuple(args), name, name)


def read_syntax(object text, object keys, list order, object node_type, object name_class):
    """Fill ``keys`` and ``order`` as parsesyntax.Parser(text).parse() fills its keys; False (and
    ``keys`` and ``order`` in any state) where the Python parser is to read ``text`` instead.

    ``node_type`` is parsesyntax._Node; ``name_class(name)`` says what a name is (parsesyntax.name_class),
    and ``name_class(name, True)`` how many arguments a function of several takes."""
    if not isinstance(text, str) or not text.isascii():
        return False
    if type(text) is not str:
        text = str.__str__(text)   # a str of a subclass's characters (matrix notation's MatrixNotation)
    reader = _SyntaxReader()
    reader.text, reader.data = text, text.encode("ascii")
    reader.chars, reader.length = reader.data, len(reader.data)
    reader.numbers, reader.keys, reader.order = [], keys, order
    reader.node_type, reader.new_node, reader.name_class, reader.classes = node_type, object.__new__, name_class, {}
    reader.operands, reader.groups = {}, {}
    reader.at, reader.last_end, reader.depth, reader.deepest = 0, 0, 0, 0
    try:
        reader.tokenize()
        if reader.kinds[0] == _END:
            return False
        reader.expr()
        if reader.kinds[reader.at] != _END:
            return False
    except _Unread:
        return False
    return True
