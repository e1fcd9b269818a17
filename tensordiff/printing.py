"""Printing expressions: index notation (``str``) and its LaTeX form; einsumcode.py writes code.

Both name shared subexpressions once (let-bindings ``t1, t2, ...``, skipping any name a symbol,
dim or function of the expression has) and choose index letters at print time: output axes get
i, j, k, ... in order, summed indices the next free letters.
A delta kept in the output prints as δ[i,k]; a broadcast axis prints nothing. A selection
prints as the position it picks: x[3] is ``x[3]``, x[1:4] is ``x[1+i]`` over i in the dim
"n[1:4]", x[::-1] is ``x[n-1-i]``; one that meets a delta prints as δ[i,3].
"""

import keyword

from .errors import TensorDiffError
from .expr import Add, Apply, Cholesky, Det, Einsum, Expr, Inv, LogDet, Pinv, Select, Var, topological
from .spectralnodes import EigVals, EigVecs
from .reductionnodes import Triangle
from .functions import USER_PREFIX, marked
from .indices import letters, slice_of
from .naming import CodeNames, binding_names, user_function_name, user_names  # noqa: F401 (selfcheck's)
from .composite import STRUCTURES
from .reductionprint import IndexForms, LatexForms
from .reshapeprint import StructureIndexForms
from .simplify import as_expr
from .symmetry import slot_mean

__all__ = ["index_notation", "index_latex", "short", "printable", "shared_bindings", "code_name", "number_text"]


def number_text(x):
    text = f"{x:.12g}"
    return text


def _uses(roots):
    nodes = topological(roots)
    uses = {node: 0 for node in nodes}
    for node in nodes:
        for child in node.children():
            uses[child] += 1
    for root in roots:
        uses[root] += 1
    return nodes, uses


# A node written inline inside more than this many inline levels gets a name instead, so printing
# (which recurses through inline nodes) stays far from Python's recursion limit on deep graphs.
MAX_INLINE_DEPTH = 40


def shared_bindings(roots, bind_matrix_args=True):
    """Nodes that get a name: non-trivial nodes used more than once, composite matrix-function
    args, and nodes that would otherwise sit more than MAX_INLINE_DEPTH inline levels deep."""
    nodes, uses = _uses(roots)
    matrix_args = {p.arg for p in nodes if isinstance(p, (Inv, Pinv, Det, LogDet, Cholesky, EigVals, EigVecs))} if bind_matrix_args else set()
    bound = []
    depth = {}  # inline levels below a node, counted up to the nearest named node or leaf
    for node in nodes:  # children first
        if isinstance(node, (Var, Select, Triangle, *STRUCTURES)) or (isinstance(node, Einsum) and not node.operands):
            depth[node] = 0
            continue
        depth[node] = 1 + max((depth[c] for c in node.children()), default=0)
        shared = uses[node] > 1 and node not in roots
        if shared or node in matrix_args or (depth[node] > MAX_INLINE_DEPTH and node not in roots):
            bound.append(node)
            depth[node] = 0
    return bound


class _IndexPrinter(IndexForms, StructureIndexForms):
    """Plain-text index notation; ``_LatexPrinter`` overrides the few formatting hooks."""

    def __init__(self, names):
        self.names = names

    def sub(self, text, idx):
        return text + _brackets(idx)

    def symbol(self, name):
        return name

    def binding(self, name):
        return name

    def dim(self, dim):
        return _dim_text(dim)

    def delta(self, a, b):
        return f"δ[{a},{b}]"

    def sigma(self, fresh):
        return "Σ_" + ("".join(fresh) if all(len(f) == 1 for f in fresh) else ",".join(fresh)) + " "

    def call(self, name, arg):
        return f"{name}({arg})"

    def power(self, arg, p):
        return f"{arg}^{number_text(p)}"

    def paren(self, text):
        return "(" + text + ")"

    def render(self, node, idx, taken, defining=None):
        if node is not defining and node in self.names:
            return self.sub(self.binding(self.names[node]), idx)
        method = getattr(self, "_" + type(node).__name__.lower())
        return method(node, idx, taken)

    def _var(self, node, idx, taken):
        return self.sub(self.symbol(node.name), idx)

    def _einsum(self, node, idx, taken):
        letter = {}
        deltas = []
        for position, i in enumerate(node.out):
            if i in letter:
                deltas.append(self.delta(letter[i], idx[position]))
            else:
                letter[i] = idx[position]
        absorbed = _absorbed_selections(node, letter)
        inner = [i for i in range(len(node.dims)) if i not in letter]
        used_anywhere = {i for sub in node.subscripts for i in sub}
        summed = [i for i in inner if i in used_anywhere and i not in absorbed]
        fresh = letters(len(summed), avoid=set(taken))
        letter.update(zip(summed, fresh))
        taken = set(taken) | set(fresh)
        for a, (select, b) in absorbed.items():  # the selected index becomes the position it picks
            letter[a] = position_text(self.dim(select.dim), select.key, letter.get(b))
        factors = []
        for k, (op, sub) in enumerate(zip(node.operands, node.subscripts)):
            if isinstance(op, Select) and sub[-1] in absorbed and absorbed[sub[-1]][0] is op:
                continue
            text = self.render(op, [letter[i] for i in sub], taken)
            if isinstance(op, Add) and op not in self.names:
                text = self.paren(text)
            factors.append(text)
        factors += [self.dim(node.dims[i]) for i in inner if i not in used_anywhere]  # Σ over an unused index
        factors += deltas
        body = " ".join(factors)
        if summed:
            body = self.sigma(fresh) + body
        c = node.coeff
        if not factors:
            return number_text(c)
        if c == 1.0:
            return body
        if c == -1.0:
            return "-" + body
        return number_text(c) + " " + body

    def _add(self, node, idx, taken):
        mean = slot_mean(node)   # a derivative's mean over its slots (symmetry.py) prints as sym_{slots}
        if mean is not None:
            operand, lead, width, count, members = mean
            slots = [idx[lead + s * width: lead + (s + 1) * width] for s in range(count)]
            parts = [self.render(t, idx, taken) for t in node.terms if t not in members]
            return _join_terms(parts + [self.sym(slots) + self.render(operand, idx, taken)])
        parts = [self.render(t, idx, taken) for t in node.terms]
        return _join_terms(parts)

    def sym(self, slots):
        return "sym_{" + ",".join("".join(slot) for slot in slots) + "} "

    def _apply(self, node, idx, taken):
        arg = self.render(node.arg, idx, taken)
        fn = node.fn
        if fn.name == "pow":
            if fn.p == 0.5:
                return self.call("sqrt", arg)
            if not _atomic(node.arg, self.names):
                arg = self.paren(arg)
            return self.power(arg, fn.p)
        return self.call(self.function_name(fn), arg)

    def function_name(self, fn):
        return fn.display

    def _matrix_function(self, node, idx, taken):   # inv(A)[i,j], pinv, cholesky, eigvals, eigvecs: by class name
        return self.sub(self.call(type(node).__name__.lower(), _matrix_name(node.arg, self)), idx)

    _inv = _pinv = _cholesky = _eigvals = _eigvecs = _matrix_function

    def _det(self, node, idx, taken):
        return self.call("det", _matrix_name(node.arg, self))

    def _logdet(self, node, idx, taken):
        return self.call("logdet", _matrix_name(node.arg, self))

    def _solve(self, node, idx, taken):
        return self.sub(self.call("solve", _matrix_name(node.matrix, self) + ", " + _matrix_name(node.rhs, self)), idx)

    def _select(self, node, idx, taken):
        if isinstance(node.key, int):
            return self.delta(idx[0], str(node.key))
        return self.delta(idx[1], position_text(self.dim(node.dim), node.key, idx[0]))

    def _take(self, node, idx, taken):
        remaining = iter(idx)
        inner = [letter if key is None else str(key) if isinstance(key, int) else
                 position_text(self.dim(dim), key, letter)
                 for dim, key in zip(node.arg.shape, node.keys)
                 for letter in [None if isinstance(key, int) else next(remaining)]]
        return self.render(node.arg, inner, taken)


class _LatexPrinter(LatexForms, _IndexPrinter):
    def sub(self, text, idx):
        if idx and "_{" in text:   # a subscripted name: {W_{1}}_{ij}, never a double subscript
            text = "{" + text + "}"
        return text + ("_{" + "".join(idx) + "}" if idx else "")

    def symbol(self, name):
        return latex_name(name)

    def binding(self, name):
        return f"t^{{({name[1:]})}}"

    def dim(self, dim):
        return _dim_text(dim).replace("_", r"\_")

    def delta(self, a, b):
        return rf"\delta_{{{a}{b}}}"

    def sigma(self, fresh):
        return rf"\sum_{{{''.join(fresh)}}} "

    def call(self, name, arg):
        known = {"inv": None, "det": r"\det", "logdet": r"\log\det", "sqrt": None, "eigvals": r"\lambda",
                 "eigvecs": r"\operatorname{eigvecs}"}
        if name in ("inv", "pinv"):
            return rf"\left({arg}\right)^{{{'-1' if name == 'inv' else '+'}}}"
        if name == "sqrt":
            return rf"\sqrt{{{arg}}}"
        return rf"{known.get(name) or name}\left({arg}\right)"

    def function_name(self, fn):
        if not fn.user:
            return fn.latex
        if fn.latex == r"\operatorname{%s}" % fn.base:  # no latex= given: the name, as h or \operatorname{phi}
            name = USER_PREFIX + fn.base if marked(fn) else fn.base   # user.softplus: not the built-in
            return latex_name(name, r"\operatorname") + "'" * fn.order
        return fn.latex + "'" * fn.order

    def power(self, arg, p):
        return f"{{{arg}}}^{{{number_text(p)}}}"

    def paren(self, text):
        return rf"\left({text}\right)"

    def sym(self, slots):
        return r"\operatorname{sym}_{" + ",".join("".join(slot) for slot in slots) + "} "


def _absorbed_selections(node, out_letter):
    """{a: (select, b)}: selections on a summed index a that no other selection has, printed as the
    position they pick in the operands that carry a (with none, Σ_a e[a] = 1 prints nothing)."""
    selects = [(op, sub) for op, sub in zip(node.operands, node.subscripts) if isinstance(op, Select)]
    absorbed = {}
    for op, sub in selects:
        a = sub[-1]
        if a not in out_letter and sum(1 for _, s in selects if a in s) == 1:
            absorbed[a] = (op, sub[0] if len(sub) == 2 else None)
    return absorbed


def position_text(base, key, letter):
    """The position a selection picks: "3", or for a slice over ``letter`` "1+i", "2i", "n-1-i"
    (``base`` is the printed dim the slice cuts)."""
    if isinstance(key, int):
        return str(key)
    start, _, step = key
    if start is None:
        origin = "" if step > 0 else f"{base}-1"
    else:
        origin = str(start) if start >= 0 else f"{base}{start}"
    stride = ("" if abs(step) == 1 else str(abs(step))) + letter
    if not origin:
        return stride if step > 0 else "-" + stride
    return origin + ("+" if step > 0 else "-") + stride


def _dim_text(dim):
    return f"({dim})" if slice_of(dim) is not None else dim


def _join_terms(parts):
    """a + b - c from the texts of terms (a term's leading '-' becomes the operator)."""
    pieces = [parts[0]]
    for part in parts[1:]:
        pieces.append(" - " + part[1:] if part.startswith("-") else " + " + part)
    return "".join(pieces)


GREEK = frozenset("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu
    xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega
    Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega""".split())
# Upper-case Greek letters that look Latin have no LaTeX command: they print as their Latin twin.
GREEK_AS_LATIN = {"Alpha": "A", "Beta": "B", "Epsilon": "E", "Zeta": "Z", "Eta": "H", "Iota": "I", "Kappa": "K",
                  "Mu": "M", "Nu": "N", "Omicron": "O", "omicron": "o", "Rho": "P", "Tau": "T", "Chi": "X"}


def latex_name(name, style=r"\mathrm"):
    r"""A user name in LaTeX: one letter as it is, a Greek letter's name as that letter, a subscript
    after ``_`` or after one letter kept (``W_1`` and ``W1`` are ``W_{1}``), longer names upright in
    ``style`` with ``_`` escaped.

    >>> from tensordiff.printing import latex_name
    >>> latex_name("Sigma_inv"), latex_name("x_1"), latex_name("alpha"), latex_name("lam")
    ('\\Sigma_{\\mathrm{inv}}', 'x_{1}', '\\alpha', '\\mathrm{lam}')
    """
    base, _, subscript = name.partition("_")
    if not subscript:   # a letter and digits: W1 is W_{1}, alpha2 is alpha_{2}
        base, subscript = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")):]
    if not subscript or not _letter(base):
        return _letter(name) or style + "{" + name.replace("_", r"\_") + "}"
    return _letter(base) + "_{" + (subscript if subscript.isdigit() else _letter(subscript) or
                                    latex_name(subscript, r"\mathrm")) + "}"


def _letter(name):
    """The LaTeX of a name that is one letter (Latin, or a Greek letter's name); else None."""
    if len(name) == 1 and name.isalpha():
        return name
    if name in GREEK:
        return "\\" + name
    return GREEK_AS_LATIN.get(name)


def split_terms(text):
    """The top-level terms of a rendered LaTeX sum, each with its sign: [(sign, term)] where a
    term starts after a " + " or " - " outside every bracket."""
    terms, depth, start, sign = [], 0, 0, "+"
    k = 0
    while k < len(text):
        if text.startswith(r"\left", k) or text[k] == "{":
            depth += 1
        elif text.startswith(r"\right", k) or text[k] == "}":
            depth -= 1
        elif depth == 0 and text.startswith((" + ", " - "), k):
            terms.append((sign, text[start:k]))
            sign, start = text[k + 1], k + 3
            k += 3
            continue
        k += 1
    terms.append((sign, text[start:]))
    return terms


def _matrix_name(arg, printer):
    if isinstance(arg, Var):
        return printer.symbol(arg.name)
    if arg in printer.names:
        return printer.binding(printer.names[arg])
    return "(" + printer.render(arg, letters(len(arg.shape)), ()) + ")"


def _atomic(node, names):
    return node in names or isinstance(node, Var) or (isinstance(node, Apply) and node.fn.name != "pow")


def _brackets(idx):
    return "[" + ",".join(idx) + "]" if idx else ""


def index_notation(expr: Expr, name: str = "out") -> str:
    """Index notation, with shared subexpressions named once.

    Output axes get the letters i, j, k, ... in order and summed indices the next free letters; a
    subexpression used more than once becomes a let-binding ``t1``, ``t2``, ... (skipping any name
    the expression's symbols, dims or functions have). ``str(expr)`` gives the same text.

    Parameters
    ----------
    expr : Expr or number
        The expression to print.
    name : str, optional
        The name of the result on the last line (default "out").

    Returns
    -------
    str
        One line per binding, then the result.

    Raises
    ------
    TensorDiffError
        If ``expr`` is neither an expression nor a number, or ``name`` is not a usable name.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> print(td.index_notation(X.T @ X))
    out[i,j] = Σ_k X[k,i] X[k,j]
    >>> print(td.index_notation(td.inv(X.T @ X) @ X.T, name="P"))
    t1[i,j] = Σ_k X[k,i] X[k,j]
    P[i,j] = Σ_k X[j,k] inv(t1)[i,k]
    """
    expr = printable(expr, "index_notation")
    bound, names = _named_bindings(expr, _text_name(name, "index_notation"))
    printer = _IndexPrinter(names)
    lines = []
    for node in bound:
        idx = letters(len(node.shape))
        lines.append(f"{names[node]}{_brackets(idx)} = {printer.render(node, idx, idx, defining=node)}")
    idx = letters(len(expr.shape))
    lines.append(f"{name}{_brackets(idx)} = {printer.render(expr, idx, idx, defining=expr)}")
    return "\n".join(lines)


# An index-notation line longer than this many characters breaks after its first term, one term a line.
LATEX_WIDTH = 120


def index_latex(expr: Expr, name: str = "out") -> str:
    r"""LaTeX of the index notation, shared subexpressions named once, as an ``aligned`` block.

    A definition wider than LATEX_WIDTH characters puts each term of its sum on a line of its own.
    ``td.latex`` prints this where an expression has no matrix form.

    >>> import tensordiff as td
    >>> from tensordiff.printing import index_latex
    >>> print(index_latex(td.matrix("X", "n p").T @ td.matrix("X", "n p")))
    \begin{aligned}
    \mathrm{out}_{ij} &= \sum_{k} X_{ki} X_{kj}
    \end{aligned}
    """
    expr = printable(expr, "latex")
    bound, names = _named_bindings(expr, _text_name(name, "latex"))
    printer = _LatexPrinter(names)
    lines = []
    for node in bound + [expr]:
        idx = letters(len(node.shape))
        target = printer.binding(names[node]) if node in names else printer.symbol(name)
        body = printer.render(node, idx, idx, defining=node)
        terms = split_terms(body) if len(body) > LATEX_WIDTH else [("+", body)]
        first = f"{printer.sub(target, idx)} &= {terms[0][1]}"
        lines.append(" \\\\\n".join([first] + [f"&\\quad {sign} {term}" for sign, term in terms[1:]]))
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def latex_function_name(fn):
    """The LaTeX name of a function of the table or a user function, as index notation prints it."""
    return _LatexPrinter({}).function_name(fn)


def printable(value, printer):
    """``value`` as an expression: a number prints as a constant (as td.codegen and td.evaluate
    take it); anything else is an error naming it."""
    if isinstance(value, Expr):
        return value
    try:
        return as_expr(value)
    except TensorDiffError:
        hint = "; print each expression on its own" if isinstance(value, (list, tuple)) else ""
        raise TensorDiffError(f"td.{printer} prints an expression or a number, got {type(value).__name__} "
                              f"{value!r:.60}{hint}") from None


def _text_name(name, printer):
    if not isinstance(name, str):
        raise TensorDiffError(f"td.{printer}: name= is the printed name of the result, a str; got {name!r:.60}")
    return name


def code_name(name, printer):
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise TensorDiffError(f"td.{printer}: name= must be a Python identifier that is not a keyword, "
                              f"got {name!r:.60}")
    return name


def _named_bindings(expr, name):
    """The nodes printed as let-bindings, and {node: name}, the names clear of every user name."""
    bound = shared_bindings([expr])
    symbols, functions, dims = user_names(topological([expr]))
    taken = set(symbols) | dims | {fn.display for fn in functions.values()} | {name}
    return bound, dict(zip(bound, binding_names(len(bound), taken)))


def short(expr, limit=80):
    """A one-line rendering of ``expr`` for messages, cut to ``limit`` characters."""
    text = index_notation(expr, name="").replace("\n", "; ")
    text = text[text.index("= ") + 2:] if text.startswith(("[", "=")) else text
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _expr_repr(self):
    return f"<tensordiff {type(self).__name__} of shape {self.shape}:\n{index_notation(self)}>"


Expr.__str__ = index_notation
Expr.__repr__ = _expr_repr
