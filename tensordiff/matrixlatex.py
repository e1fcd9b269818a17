"""LaTeX of results: the matrix form where one exists (``td.latex``, notebooks), and the object
``td.matrix_notation`` returns.

The matrix notation is the parser's language, so this module reads that text back into a small
tree (the grammar of parse.py's docstring: ``+ -`` < ``* .* ./ /`` < unary ``-`` < ``^ .^`` <
postfix ``'``) and writes each node in textbook LaTeX: ``X'`` as ``X^\\top``, ``inv(X)`` as
``X^{-1}`` (and ``inv(X)'`` as ``X^{-\\top}``), ``.*`` as ``\\odot``, ``tr``, ``\\log\\det``, each
function with the LaTeX of its row in the function table. Names print as in index notation:
Greek letter names as Greek letters, subscripts kept (``W_1`` is ``W_{1}``). A sum wider than
WIDTH characters breaks into an ``aligned`` block with one term per line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Union

from .errors import TensorDiffError
from .expr import Apply, Expr, Var, topological
from .functions import USER_PREFIX, marked
from .kronform import TENSOR_LATEX
from .matrixform import sizing_symbols, to_matrix
from .matrixnames import name_repeats
from .printing import index_latex, index_notation, latex_function_name, latex_name, printable
from .annotations import ExprLike, Notation

__all__ = ["latex", "matrix_notation", "MatrixNotation"]

# A result whose matrix notation is wider than this many characters prints one term per line.
WIDTH = 72
LINE = 160   # a term of an aligned block longer than this breaks inside its bracketed sum

NO_MATRIX_FORM = "no matrix notation for this expression; in index notation:\n"


class MatrixNotation(str):
    r"""The matrix notation of an expression: a ``str`` (it prints, compares and hashes as its text)
    that a notebook renders as LaTeX.

    Examples
    --------
    >>> import tensordiff as td
    >>> x, A = td.vector("x", "n"), td.matrix("A", "n n")
    >>> form = td.matrix_notation(td.grad(x @ A @ x, x))
    >>> form == "(A + A')*x", print(form)
    (A + A')*x
    (True, None)
    >>> print(form.latex())
    \left(A + A^\top\right) x
    """

    expr = None   # the expression printed; set by matrix_notation

    def latex(self) -> str:
        """The LaTeX of this notation: the matrix form, or the index notation where there is none."""
        if self.expr is None:
            return text_to_latex(str(self))
        return self._repr_latex_()[2:-2]

    def _repr_latex_(self):
        return _repr_latex_(self.expr) if self.expr is not None else "$$" + text_to_latex(str(self)) + "$$"


def matrix_notation(expr: ExprLike, *, sized_by: Union[Expr, Sequence[Expr], None] = None) -> MatrixNotation:
    """An expression in matrix notation, or a note that it has none followed by its index notation.

    The notation is the parser's own (``'`` transpose, ``*`` product or scaling, ``.*`` Hadamard,
    ``eye``, ``tr``, ``inv``, ...), so ``td.parse`` reads it back. Results of order 3 and 4 whose
    terms are products of two matrices or vectors are written with ``tprod`` (⊗), ``tbox`` (⊠) and
    ``outer`` (∘), defined in docs/guide/notation.md. Other expressions of order 3 and more, and
    contractions that no product of matrices writes, have no matrix form. Constants print as
    the fractions they are (``1/3``, ``^(-2/3)``), a power of -1/2 as ``1/sqrt(...)``.

    Parameters
    ----------
    expr : Expr or number
        The expression to print.
    sized_by : Expr or list of Expr, optional
        Symbols that size a constant (``size(X, 1)``) where no symbol of the expression has its dim,
        e.g. those a derivative was taken by; else it is ``size(n)``, the dim by name, never a live symbol.

    Returns
    -------
    MatrixNotation
        A ``str``: the matrix notation, or "no matrix notation for this expression; in index
        notation:" followed by the index notation. It compares equal to (and hashes as) that text;
        its ``latex()`` method, and a notebook through ``_repr_latex_``, render it as LaTeX.

    Raises
    ------
    TensorDiffError
        If ``expr`` is neither an expression nor a number, or ``sized_by`` holds anything but symbols.

    Examples
    --------
    >>> import tensordiff as td
    >>> W, s = td.matrix("W", "n m"), td.scalar("s")
    >>> zero = td.grad(td.sum(td.sign(W)), W)
    >>> print(td.matrix_notation(zero), td.matrix_notation(zero, sized_by=W))
    matrix(0, size(n), size(m)) matrix(0, size(W, 1), size(W, 2))
    >>> td.matrix_notation(td.grad(td.logdet(W @ W.T + s**2 * td.eye("n")), W))
    "2*inv(s^2*eye + W*W')*W"
    >>> print(td.matrix_notation(td.diff(W @ W.T, W)))
    tbox(W, eye(size(W, 1))) + tprod(eye(size(W, 1)), W)
    >>> print(td.matrix_notation(td.diff(td.exp(W), W)))
    no matrix notation for this expression; in index notation:
    out[i,j,k,l] = exp(W[i,j]) δ[i,k] δ[j,l]
    """
    expr = printable(expr, "matrix_notation")
    text = to_matrix(expr, sized_by=sizing_symbols(sized_by, "matrix_notation"))
    if text is not None:   # a long call that repeats is named once: t1 = sigmoid(X*W)
        text = _named(text)
    form = MatrixNotation(text if text is not None else NO_MATRIX_FORM + index_notation(expr))
    form.expr = expr
    return form


def latex(expr: ExprLike, name: str = "out", notation: Notation = "auto") -> str:
    r"""LaTeX of an expression: its matrix form where it has one, else its index notation.

    The matrix form writes transposes as ``^\top``, inverses as ``^{-1}``, Hadamard products as
    ``\odot``, ``\operatorname{tr}``, ``\log\det`` and each function's LaTeX; index notation names
    shared subexpressions once, in an ``aligned`` block. Greek letter names print as Greek letters
    (``alpha`` as ``\alpha``, ``Sigma`` as ``\Sigma``), subscripts stay (``W_1`` as ``W_{1}``), and
    a long sum breaks into an ``aligned`` block with one term per line. Notebooks render
    expressions through it (``Expr._repr_latex_``).

    Parameters
    ----------
    expr : Expr or number
        The expression to print.
    name : str, optional
        The name of the result, written as ``name = ...`` (default "out").
    notation : {"auto", "matrix", "index"}, optional
        "auto" (default) picks the matrix form where one exists, "index" always index notation,
        "matrix" the matrix form or a TensorDiffError where there is none.

    Returns
    -------
    str
        The LaTeX source, without surrounding ``$``.

    Raises
    ------
    TensorDiffError
        If ``expr`` is neither an expression nor a number, ``name`` is not a str, ``notation`` is
        not one of the three, or ``notation="matrix"`` and the expression has no matrix form.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, alpha = td.matrix("X", "n p"), td.scalar("alpha")
    >>> print(td.latex(alpha * td.inv(X.T @ X), name="Sigma"))
    \Sigma = \alpha \left(X^\top X\right)^{-1}
    >>> print(td.latex(X.T @ X, notation="index"))
    \begin{aligned}
    \mathrm{out}_{ij} &= \sum_{k} X_{ki} X_{kj}
    \end{aligned}
    """
    expr = printable(expr, "latex")
    if notation not in ("auto", "matrix", "index"):
        raise TensorDiffError(f"td.latex: notation= is 'auto', 'matrix' or 'index', got {notation!r:.60}")
    if not isinstance(name, str):
        raise TensorDiffError(f"td.latex: name= is the printed name of the result, a str; got {name!r:.60}")
    text = to_matrix(expr) if notation != "index" else None
    if text is None:
        if notation == "matrix":
            raise TensorDiffError("td.latex: this expression has no matrix form; notation='auto' prints "
                                  "its index notation")
        return index_latex(expr, name)
    return _named_latex(_named(text), name, _function_names(expr), _dim_sizes(expr))


def _named(text):
    """The matrix notation ``text`` with each long call that repeats named once (t1, t2 clear
    of every name the text holds: its symbols, those of sized_by, the dims of size(n))."""
    return name_repeats(text, set(re.findall(r"[A-Za-z_]\w*", text)))


def _named_latex(text, name, functions, sizes):
    """LaTeX of matrix notation that may name subexpressions (t1 = ...): an aligned line each."""
    if "\n" not in text:
        return text_to_latex(text, name, functions, sizes)
    *bindings, body = text.split("\n")
    writer = _LatexWriter(functions, sizes)
    lines = []
    for binding in bindings:
        label, value = binding.split(" = ", 1)
        lines.append(f"{latex_name(label)} &= {writer.write(_Reader(value).read(), 1)}")
    tree = _Reader(body).read()
    terms = _terms(tree) if len(body) > WIDTH else [(False, tree)]   # a long result: a term per line
    for k, (negative, term) in enumerate(terms):
        sign = "-" if negative else "" if k == 0 else "+ "
        lead = ("&\\quad " if k else f"{latex_name(name)} &= " if name is not None else "&")
        first, *rest = writer.write_lines(term)
        lines.append(lead + (sign + " " if negative and k else sign) + first)
        lines += [rf"&\qquad {piece}" for piece in rest]
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"



def _function_names(expr):
    """{the name matrix notation writes for a function: its LaTeX} for the functions in ``expr``."""
    names = {}
    for node in topological([expr]):
        if isinstance(node, Apply) and node.fn.name != "pow":
            fn = node.fn
            written = fn.name if not fn.user else fn.base + "'" * fn.order
            names[(USER_PREFIX if marked(fn) else "") + written] = latex_function_name(fn)
    return names


def _dim_sizes(expr):
    """{(symbol name, 1 or 2): the dim's name} for size(X, d) in matrix notation: LaTeX writes n."""
    return {(node.name, axis + 1): dim for node in topological([expr]) if isinstance(node, Var)
            for axis, dim in enumerate(node.shape)}


def text_to_latex(text, name=None, functions=None, sizes=None):
    """The LaTeX of a matrix-notation ``text`` (the parser's language), one term per line when long;
    ``sizes`` maps (X, d) of a size(X, d) to the name of that dim."""
    tree = _Reader(text).read()
    writer = _LatexWriter(functions or {}, sizes or {})
    terms = _terms(tree) if len(text) > WIDTH else [(False, tree)]
    if len(terms) == 1:
        body = writer.write(terms[0][1], 1)
        lead = latex_name(name) + " = " if name is not None else ""
        return lead + ("-" + body if terms[0][0] else body)
    head = latex_name(name) + " &= " if name is not None else "&"
    lines = []
    for k, (negative, term) in enumerate(terms):
        first, *rest = writer.write_lines(term)
        sign = ("-" if negative else "") if k == 0 else ("- " if negative else "+ ")
        lines.append((head if k == 0 else "&\\quad " if name is not None else "&") + sign + first)
        lines += [rf"&\qquad {piece}" for piece in rest]
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _terms(tree):
    """The terms of a sum tree as (negative, term), left to right."""
    if tree[0] == "sum":
        return tree[1]
    return [(False, tree)]


# ---------------------------------------------------------------- reading matrix notation

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>(?:user\.)?[A-Za-z_][A-Za-z0-9_]*'*(?=\()|(?:user\.)?[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\.\*|\./|\.\^|\.'|[<>]=?|[-+*/^'(),]))")


class _Reader:
    """A precedence reader of matrix notation into tuples: ("sum", [(negative, term)]), (op, left, right), ("neg", x),
    ("'", x), ("call", name, [args]), ("name", text), ("number", text)."""

    def __init__(self, text):
        self.tokens = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise TensorDiffError(f"cannot write LaTeX for {text!r:.80}: unexpected {text[position:]!r:.20}")
            kind = match.lastgroup
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def peek(self):
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self):
        self.at += 1
        return self.tokens[self.at - 1]

    def read(self):
        tree = self.compare()
        if self.at != len(self.tokens):
            raise TensorDiffError(f"cannot write LaTeX: unexpected {self.peek()!r} in matrix notation")
        return tree

    def compare(self):   # comparisons bind loosest: x + 1 > y is (x + 1) > y
        tree = self.sum()
        while self.peek() in _RELATIONS:
            op = self.take()[1]
            tree = (op, tree, self.sum())
        return tree

    def sum(self):   # flat, so that a sum of thousands of terms is no deep tree
        terms = [(False, self.chain())]
        while self.peek() in ("+", "-"):
            terms.append((self.take()[1] == "-", self.chain()))
        return terms[0][1] if len(terms) == 1 else ("sum", terms)

    def chain(self):
        tree = self.unary()
        while self.peek() in ("*", ".*", "./", "/"):
            op = self.take()[1]
            tree = (op, tree, self.unary())
        return tree

    def unary(self):
        if self.peek() in ("+", "-"):
            op = self.take()[1]
            inner = self.unary()
            return ("neg", inner) if op == "-" else inner
        return self.power()

    def power(self):
        tree = self.postfix()
        while self.peek() in ("^", ".^"):
            op = self.take()[1]
            negative = False
            while self.peek() in ("+", "-"):
                negative ^= self.take()[1] == "-"
            exponent = self.postfix()
            tree = (op, tree, ("neg", exponent) if negative else exponent)
        return tree

    def postfix(self):
        tree = self.primary()
        while self.peek() in ("'", ".'"):
            self.take()
            tree = ("'", tree)
        return tree

    def primary(self):
        if self.at >= len(self.tokens):
            raise TensorDiffError("cannot write LaTeX: matrix notation ends early")
        kind, value = self.take()
        if kind == "number":
            return ("number", value)
        if value == "(":
            tree = self.compare()
            self.expect(")")
            return tree
        if kind == "name" and self.peek() == "(":
            self.take()
            args = [self.compare()]
            while self.peek() == ",":
                self.take()
                args.append(self.compare())
            self.expect(")")
            return ("call", value, args)
        if kind == "name":
            return ("name", value)
        raise TensorDiffError(f"cannot write LaTeX: unexpected {value!r} in matrix notation")

    def expect(self, token):
        if self.peek() != token:
            raise TensorDiffError(f"cannot write LaTeX: expected {token!r} in matrix notation")
        self.take()


# ---------------------------------------------------------------- writing LaTeX

# How tightly each node binds, to parenthesise a child that binds more loosely than its place.
_RELATIONS = {"<": "<", "<=": r"\le", ">": ">", ">=": r"\ge"}
_BINDING = {**dict.fromkeys(_RELATIONS, 0), "sum": 1, "*": 2, ".*": 2, "./": 2, "neg": 3, "^": 4, ".^": 4, "'": 5}

_CALLS = {"tr": r"\operatorname{tr}", "diag": r"\operatorname{diag}", "det": r"\det",
          "logdet": r"\log\det", "sum": r"\operatorname{sum}", "max": r"\max", "min": r"\min",
          "mean": r"\operatorname{mean}", "logsumexp": r"\operatorname{logsumexp}",
          "softmax": r"\operatorname{softmax}", "log_softmax": r"\operatorname{log\_softmax}",
          "cholesky": r"\operatorname{chol}", "maximum": r"\max", "minimum": r"\min",
          "where": r"\operatorname{where}"}


def _inline_fraction(tree):
    """"-2/3" for an exponent that is a fraction of two numbers (maybe negated); else None."""
    sign = ""
    if tree[0] == "neg":
        sign, tree = "-", tree[1]
    if tree[0] == "/" and tree[1][0] == "neg":
        sign, tree = "-" if not sign else "", ("/", tree[1][1], tree[2])
    if tree[0] == "/" and tree[1][0] == "number" and tree[2][0] == "number":
        return f"{sign}{tree[1][1]}/{tree[2][1]}"
    return None


class _LatexWriter:
    def __init__(self, functions, sizes=None):
        self.functions = functions
        self.sizes = sizes or {}

    def write(self, tree, place):
        """The LaTeX of ``tree`` where a node binding less tightly than ``place`` needs brackets."""
        text = self.bare(tree)
        binding = _BINDING.get(tree[0], 9)
        if tree[0] == "/" or (tree[0] == "number" and tree[1].startswith("-")):
            binding = 9 if tree[0] == "/" else 3
        if tree[0] == "call" and tree[1] in TENSOR_LATEX:   # A ⊗ B binds as a product of its factors
            binding = 2
        return rf"\left({text}\right)" if binding < place else text

    def write_lines(self, term):
        """A term of an aligned block as its lines: one line, unless it is longer than LINE and
        ends in a bracketed sum, which then takes a line per term (in \\bigl( \\bigr), which, unlike
        \\left( \\right), may span lines)."""
        text = self.write(term, 1)
        if len(text) <= LINE or term[0] != "*" or term[2][0] != "sum":
            return [text]
        inner = [(negative, self.write(piece, 2)) for negative, piece in term[2][1]]
        first = ("-" if inner[0][0] else "") + inner[0][1]
        lines = [self.write(term[1], 2) + r" \bigl(" + first]
        lines += [f"{'-' if negative else '+'} {piece}" for negative, piece in inner[1:]]
        lines[-1] += r"\bigr)"
        return lines

    def bare(self, tree):
        kind = tree[0]
        if kind == "number":
            return tree[1]
        if kind == "name":
            return r"I" if tree[1] in ("eye", "I") else latex_name(tree[1])
        if kind == "sum":
            first = self.write(tree[1][0][1], 2)
            pieces = ["-" + first if tree[1][0][0] else first]
            pieces += [f"{'-' if negative else '+'} {self.write(term, 2)}" for negative, term in tree[1][1:]]
            return " ".join(pieces)
        if kind == "neg":
            return "-" + self.write(tree[1], 3)
        if kind in _RELATIONS:
            return f"{self.write(tree[1], 1)} {_RELATIONS[kind]} {self.write(tree[2], 1)}"

        if kind == "*":   # a Hadamard product beside a juxtaposed one is bracketed: (a ⊙ b) c
            left, right = (self.write(side, 9 if side[0] in (".*", "./") else place)
                           for side, place in ((tree[1], 2), (tree[2], 3)))
            joint = r" \cdot " if right[:1].isdigit() or right.startswith("-") else " "
            return left + joint + right
        if kind in (".*", "./"):
            op = r"\odot" if kind == ".*" else r"\oslash"
            left, right = (self.write(side, 9 if side[0] == "*" else place)
                           for side, place in ((tree[1], 2), (tree[2], 3)))
            return f"{left} {op} {right}"
        if kind == "/":
            numerator, sign = (tree[1][1], "-") if tree[1][0] == "neg" else (tree[1], "")
            return rf"{sign}\frac{{{self.write(numerator, 0)}}}{{{self.write(tree[2], 0)}}}"
        if kind in ("^", ".^"):
            exponent = _inline_fraction(tree[2]) or self.write(tree[2], 0)
            return f"{{{self.write(tree[1], 5)}}}^{{{'' if kind == '^' else chr(92) + 'circ '}{exponent}}}"
        if kind == "'":
            inner = tree[1]
            if inner[0] == "call" and inner[1] in ("inv", "pinv"):   # (X^{-1})^T is X^{-T}, (X^+)^T X^{+T}
                return self.write(inner[2][0], 5) + (r"^{-\top}" if inner[1] == "inv" else r"^{+\top}")
            return self.write(inner, 5) + r"^\top"
        return self.call(tree[1], tree[2])

    def size_name(self, tree):
        """The LaTeX name of the dim of a size(X, d) ``tree`` (X a symbol of the expression) or of
        size(n) (the dim n itself), or None."""
        if tree[0] not in ("call", None) or tree[1] != "size" or len(tree[2]) not in (1, 2):
            return None
        kind, name = tree[2][0][:2]
        if len(tree[2]) == 1:
            return latex_name(name) if kind == "name" else None
        number_kind, d = tree[2][1][:2]
        if kind != "name" or number_kind != "number" or d not in ("1", "2"):
            return None
        dim = self.sizes.get((name, int(d)))
        return latex_name(dim) if dim is not None else None

    def call(self, name, args):
        if name in ("inv", "pinv"):
            return self.write(args[0], 5) + ("^{-1}" if name == "inv" else "^{+}")
        if name == "sqrt":
            return rf"\sqrt{{{self.write(args[0], 0)}}}"
        if name in ("vector", "matrix"):   # vector(1, size(X, 1)) is 1_n, matrix(0, ...) 0_{m×n}
            sizes = [self.size_name(size) for size in args[1:]]
            subscripts = [f"_{{{size}}}" if size is not None else "" for size in sizes] or ["", ""]
            ones = r"\mathbf{1}" + subscripts[0] + ("" if name == "vector" else rf"\mathbf{{1}}{subscripts[-1]}^\top")
            value = self.write(args[0], 0)
            zero = r"\mathbf{0}" + (rf"_{{{sizes[0]} \times {sizes[1]}}}" if len(sizes) == 2 and None not in sizes
                                     else subscripts[0] if len(sizes) == 1 else "")
            return ones if value == "1" else zero if value == "0" else rf"{value}\,{ones}"
        if name in ("eye", "I") and len(args) == 1 and self.size_name(args[0]) is not None:   # eye(size(X, 2)): I_p
            return rf"I_{{{self.size_name(args[0])}}}"
        if name == "size" and self.size_name((None, name, args)) is not None:
            return self.size_name((None, name, args))   # the size of a dim is its name, as a textbook writes n
        if name in ("norm1", "norm2"):
            return rf"\left\|{self.write(args[0], 0)}\right\|_{name[-1]}"
        if name in TENSOR_LATEX and len(args) == 2:   # tprod(A, B): A \otimes B (kronform.py)
            return f" {TENSOR_LATEX[name]} ".join(self.write(arg, 2) for arg in args)
        body = ", ".join(self.write(arg, 0) for arg in args)
        command = self.functions.get(name) or _CALLS.get(name)
        if command is None:
            command = latex_name(name.replace(USER_PREFIX, ""), r"\operatorname")
        return rf"{command}\left({body}\right)"


def _repr_latex_(expr):
    """A notebook's view of an expression: its matrix form alone, else its index notation."""
    text = to_matrix(expr)
    return "$$" + (_named_latex(_named(text), None, _function_names(expr), _dim_sizes(expr))
                   if text is not None else index_latex(expr)) + "$$"


Expr._repr_latex_ = _repr_latex_   # type: ignore[attr-defined]  # attached here: expr.py cannot import the printers
