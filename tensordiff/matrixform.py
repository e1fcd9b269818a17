"""Matrix notation: an expression of order ≤ 2 written back with products, transposes and traces.

The output is the parser's own language (``'`` transpose, ``*`` product or scaling, ``.*``
Hadamard, ``.^`` elementwise power, ``eye``, ``tr``, ``diag``, ``inv``, ...), so what is printed
can be read back. An einsum term becomes matrix products by walking its index graph (matrixchains.py): every
operand of order ≤ 2 is an edge between its indices (a vector is an edge to a free end), and
each connected piece is a chain from an output index to another (a product), to a free end (a
vector), or a cycle (a trace). Operands on the same pair of indices are Hadamard products; a
vector sharing an index with two other factors becomes diag(v). An einsum that does not fit
(an index shared by three matrices, an order-3 operand, ...) has no matrix form here, and
neither has an expression holding a symbol named like a word of the parser (a symbol ``I``
would read back as the identity, ``tr`` as the trace). A user function so named prints as
``user.<name>(...)``, which the parser reads back as that user function.

An expression with a length-1 axis (dim "1": ``x[:, None]``, ``X.sum(axis=1, keepdims=True)``) has no
matrix form: the parser's column vector is ``(n,)``, so no text reads back to ``(n, 1)``.

A constant or identity that nothing beside it sizes carries its size (size_sources): size(X, d)
of the expression's own symbol X, else of a symbol the caller passes (sized_by), else size(n),
the dim by its name. Never from whichever symbol happens to be alive: the text is a function of
the expression and the arguments.
"""

import functools
import re

from .broadcasting import UNIT
from .errors import TensorDiffError
from .expr import Apply, Einsum, Expr, Var, topological
from .indices import atoms
from .functions import FUNCTIONS, USER_PREFIX, builtin_function, marked
from .kronform import tensor_form
from .vecform import vec_form
from .parsewords import FUNCTION_TABLE, IDENTITY, ONES
from .parsewords import BOOL_WORDS
from .matrixchains import ONES_WORDS, EinsumWriter, NoMatrixForm
from .matrixtext import atom as _atom, common_factor as _common_factor, join_terms as _join_terms, number as _number
from .matrixsums import MAX_DISTRIBUTED_TERMS, distributed
from .reductionprint import MatrixForms
from .reshapeform import StructureMatrixForms, structure_matrix_form

# Names td.parse reads as something else than a symbol or user function of that name.
PARSER_WORDS = frozenset(FUNCTION_TABLE) | frozenset(IDENTITY) | frozenset(ONES) | frozenset(BOOL_WORDS)

__all__ = ["to_matrix", "size_sources", "dim_size_text", "sizing_symbols"]

_DIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")   # a name as td.parse reads one


# Matrix notation has no names for subexpressions, so it nests as deep as the graph. Deeper than
# this it could not be read back (td.parse allows 64 nested parentheses), and writing it would
# recurse near Python's limit: such an expression has no matrix form here.
MAX_NESTING = 150


def to_matrix(expr, whole=None, sized_by=()):
    """The matrix notation of ``expr`` as a string, or None when it has none; ``whole``: the
    expression ``expr`` is a part of, whose symbols size its constants (tprod(X, eye(size(X, 1))));
    ``sized_by``: symbols that size the dims no symbol of ``whole`` has (``size_sources``)."""
    whole = expr if whole is None else whole
    if UNIT in expr.shape:   # x[:, None]: the parser reads no length-1 axis (a column vector is (n,)), and
        return None          # vector(1)' would read back as a ones vector of a fresh dim
    if len(expr.shape) > 2:   # order 3 and 4: tprod/tbox/outer of matrices written here (kronform.py)
        write = functools.partial(to_matrix, whole=whole, sized_by=sized_by)
        return vec_form(expr, write) or tensor_form(expr, write)   # ∂vec(F)/∂X: vecform.py
    if _nesting(expr) > MAX_NESTING:
        return None
    try:
        return _Writer(expr, whole, sized_by).write(expr)
    except NoMatrixForm:
        return None


def size_sources(whole, sized_by=()):
    """{dim: "size(X, d)"}: for each dim of a symbol of order ≤ 2 in ``whole`` (the first in
    topological order that has it), else of a symbol of ``sized_by`` (the first given), the
    matrix-notation text of its size. Only what is printed decides, never which other symbols
    are alive, so printing the same expression always gives the same text."""
    own = [node for node in topological([whole]) if isinstance(node, Var)]
    names = {node.name for node in own}   # a given symbol named like one of whole's would read back as that one
    sources = {}
    for node in own + [node for node in sized_by if node.name not in names]:
        if node.ndim <= 2 and node.name not in PARSER_WORDS:
            for axis, dim in enumerate(node.dims):
                sources.setdefault(dim, f"size({node.name}, {axis + 1})")
    return sources


def sizing_symbols(sized_by, printer):
    """The symbols of ``sized_by`` (None, a symbol, or a list or tuple of symbols) as a tuple; a
    TensorDiffError naming anything else."""
    if sized_by is None:
        return ()
    items = (sized_by,) if isinstance(sized_by, Expr) else sized_by
    if not isinstance(items, (list, tuple)) or not all(isinstance(node, Var) for node in items):
        raise TensorDiffError(f"td.{printer}: sized_by= takes a symbol or a list of symbols (those a derivative "
                              f"was taken by), got {sized_by!r:.60}")
    return tuple(items)


def dim_size_text(dim, symbols=()):
    """size(n), the size of the dim named n as td.parse reads it, or None for a dim the parser
    cannot name that way (a merged, sliced or numbered dim, a word of the notation, or one of the
    names ``symbols`` of the printed symbols: size(X) of a symbol X is no dim)."""
    if _DIM_NAME.fullmatch(dim) and dim not in PARSER_WORDS and dim != "size" and builtin_function(dim) is None \
            and dim not in symbols:
        return f"size({dim})"
    return None


def _nesting(expr):
    """The number of nodes on the longest path from ``expr`` down to a leaf (without recursion)."""
    depth = {}
    for node in topological([expr]):
        depth[node] = 1 + max((depth[c] for c in node.children()), default=0)
    return depth[expr]


def _expression_power(node):
    """(a, b) when ``node`` is exp(log(a) .* b), the form of a ** b with an expression exponent; else None."""
    product = node.arg
    if not isinstance(product, Einsum) or product.coeff != 1.0 or len(product.operands) != 2 \
            or any(sub != product.out for sub in product.subscripts) or len(set(product.out)) < len(product.out):
        return None
    for k, operand in enumerate(product.operands):
        if isinstance(operand, Apply) and operand.fn is FUNCTIONS["log"]:
            return operand.arg, product.operands[1 - k]
    return None


def _sum_of_squares(node):
    """x when ``node`` is Σ x[I] x[I] over all of x's indices (x'*x, or the squared Frobenius norm); else None."""
    if isinstance(node, Einsum) and node.coeff == 1.0 and not node.out and len(node.operands) == 2 \
            and node.operands[0] is node.operands[1] and node.subscripts[0] == node.subscripts[1] \
            and len(set(node.subscripts[0])) == len(node.subscripts[0]) == len(node.dims):
        return node.operands[0]
    return None


def _kron(parts):
    """kron(kron(a, b), c): the Kronecker product of the texts ``parts`` (one part: itself)."""
    text = parts[0]
    for part in parts[1:]:
        text = f"kron({text}, {part})"
    return text


def _broadcast_scalar(node):
    """Whether ``node`` is a scalar broadcast over all its axes (an einsum with no output index used)."""
    if not (isinstance(node, Einsum) and node.shape) or len(set(node.out)) < len(node.out):
        return False
    used = {i for sub in node.subscripts for i in sub}
    return not any(i in used for i in node.out)


def _scaled_identity(node):
    """Whether ``node`` is scalars times the identity (an einsum writing a diagonal no operand reads)."""
    if not (isinstance(node, Einsum) and len(node.out) == 2 and node.out[0] == node.out[1]):
        return False
    return not any(node.out[0] in sub for sub in node.subscripts)


def _row_broadcast(node):
    """Whether ``node`` is constant along its first axis (a matrix einsum that never uses out[0])."""
    return isinstance(node, Einsum) and len(node.out) == 2 and node.out[0] != node.out[1] \
        and not any(node.out[0] in sub for sub in node.subscripts)


class _Writer(MatrixForms, StructureMatrixForms):
    in_sum = None  # the term of a sum being written, where a broadcast scalar may stand
    sum_term = None   # the same, but not an operand of where or maximum, which spread a scalar but size no eye

    def __init__(self, root, whole, sized_by=()):
        self.written = {}  # (node, written as a term of a sum) -> text, or None: no matrix form
        self.root = root
        self.whole = whole   # the expression root is a part of (an operand of tprod), for size()
        self.scalar_lead = {}   # a term's text -> how many of its leading factors are scalars
        self.scalar_texts = set()   # the texts of scalar nodes, wherever they stand in a product
        self.distributing = MAX_DISTRIBUTED_TERMS   # terms a product over sums may still be multiplied into
        self.sized_by = sized_by
        self.sources = None   # {dim: its size's text}, once size() asks

    def size(self, dim):
        """size(X, d): the size of ``dim`` read from a symbol X of the result that has it, else of
        ``sized_by`` (the symbol a derivative was taken by: a zero ∂f/∂X is matrix(0, size(X, 1),
        size(X, 2))), else size(n), the dim by its name (size_sources, dim_size_text)."""
        if self.sources is None:
            self.sources = size_sources(self.whole, self.sized_by)
            self.symbol_names = {node.name for node in topological([self.whole]) if isinstance(node, Var)} \
                | {node.name for node in self.sized_by}
        text = self.sources.get(dim) or dim_size_text(dim, self.symbol_names)
        if text is None:
            raise NoMatrixForm   # the notation has no name for the size
        return text

    def ones(self, value, dims):
        """A vector or matrix every entry of which is ``value``, sized: vector(c, size(X, 1)),
        matrix(c, size(X, 1), size(Y, 2)), a merged dim a·b as kron(vector(c, ...), vector(1, ...));
        vector(c) or matrix(c), sized by where it stands, when a dim has no size to print (size_sources, dim_size_text)."""
        try:
            if all(len(atoms(d)) == 1 for d in dims):
                return f"{ONES_WORDS[len(dims)]}({_number(value)}, {', '.join(map(self.size, dims))})"
            vectors = [self._ones_vector(v, d) for v, d in zip((value, 1.0), dims)]
            return vectors[0] if len(dims) == 1 else f"{vectors[0]}*{_atom(vectors[1])}'"
        except NoMatrixForm:
            return f"{ONES_WORDS[len(dims)]}({_number(value)})"

    def _ones_vector(self, value, dim):
        parts = atoms(dim)
        return _kron([f"vector({_number(value if k == 0 else 1.0)}, {self.size(part)})" for k, part in enumerate(parts)])

    def identity(self, dim):
        """eye(size(X, 1)): the identity over ``dim`` (kron(eye(...), eye(...)) over a merged one),
        or eye, sized by where it stands, when the dim has no size to print."""
        try:
            return _kron([f"eye({self.size(part)})" for part in atoms(dim)])
        except NoMatrixForm:
            return "eye"

    def write(self, node):
        key = (node, self.in_sum is node)
        if key not in self.written:  # a shared subexpression is written once
            try:
                self.written[key] = getattr(self, "_" + type(node).__name__.lower())(node)
            except NoMatrixForm:
                self.written[key] = None
        if self.written[key] is None:
            raise NoMatrixForm
        if not node.shape:
            self.scalar_texts.add(self.written[key])
        return self.written[key]

    def _var(self, node):
        if node.name in PARSER_WORDS or builtin_function(node.name) is not None:   # polygamma2 too
            raise NoMatrixForm
        return node.name

    def _inv(self, node):
        return f"inv({self.write(node.arg)})"

    def _det(self, node):
        return f"det({self.write(node.arg)})"

    def _logdet(self, node):
        return f"logdet({self.write(node.arg)})"

    def _solve(self, node):
        raise NoMatrixForm

    def _select(self, node):
        raise NoMatrixForm  # indexing has no spelling in this notation: index notation shows it

    _take = _select

    def _apply(self, node):
        arg = self.write(node.arg)
        fn = node.fn
        if fn.name == "pow":
            squared = _sum_of_squares(node.arg) if fn.p in (0.5, -0.5) and not node.shape else None
            if squared is not None:   # sqrt(x'*x) is the 2-norm (Frobenius on a matrix)
                norm = f"norm2({self.write(squared)})"
                return norm if fn.p == 0.5 else f"1/{norm}"
            if fn.p == 0.5:
                return f"sqrt({arg})"
            if fn.p == -1.0 and not node.shape:   # 1/x; a product writes it as a division (_join)
                return f"1/{_atom(arg)}"
            if fn.p == -0.5:   # 1/sqrt(x); _paren brackets it inside a product
                return f"1/sqrt({arg})" if not node.shape else f"1 ./ sqrt({arg})"
            op = "^" if not node.shape else ".^"
            p = _number(fn.p)
            return f"{_atom(arg)}{op}{p if p.replace('.', '').isalnum() else '(' + p + ')'}"
        power = _expression_power(node) if fn is FUNCTIONS["exp"] else None
        if power is not None:   # exp(log(a) .* b) is how a^b and a.^b are built: write them so
            return f"{_atom(self.write(power[0]))}{'.^' if node.shape else '^'}{_atom(self.write(power[1]))}"
        name = fn.name if not fn.user else fn.base + "'" * fn.order
        if marked(fn):   # a user function named like a word of the parser: user.softplus(x)
            name = USER_PREFIX + name
        return f"{name}({arg})"

    def _add(self, node):
        return self.sum_of(node.terms, node.shape)

    def sum_of(self, terms, shape):
        """The text of the sum of ``terms`` (nodes of ``shape``), with common factors taken out."""
        if shape and all(_broadcast_scalar(t) or _row_broadcast(t) for t in terms):
            raise NoMatrixForm  # c1 + c2 (or b' + c') broadcast to a matrix: it would read back smaller
        parts, outer = [], self.in_sum   # restored after: a sum inside a term (log(1 + r*r)) must not clear
        outer_term = self.sum_term
        # an eye in a term is sized by another term only if one has the sum's shape: c*eye - d reads back unsized
        sizing = [t for t in terms if not (_broadcast_scalar(t) or _scaled_identity(t))]
        for term in terms:                # the term's own mark (selfcheck seed 51136)
            self.in_sum = term
            self.sum_term = term if any(t is not term for t in sizing) else None
            parts.append(self.write(term))
        self.in_sum, self.sum_term = outer, outer_term
        leads = [self.scalar_lead.get(part, 0) for part in parts] if shape else None
        return _common_factor(parts, leads, self.scalar_texts if shape else None) or _join_terms(parts)

    def _einsum(self, node):
        try:
            special = structure_matrix_form(self.write, node)   # reshapeform.py: vec(X), kron(A, B)
            if special is False:
                raise NoMatrixForm
            return special if special is not None else EinsumWriter(self, node).text()
        except NoMatrixForm:   # a product over a sum of order 3 or more: the sum of its terms (matrixsums.py)
            terms = distributed(node, self.distributing)
            if terms is None:
                raise
            self.distributing -= len(terms)
            in_sum, self.in_sum = self.in_sum, None
            try:
                return self.sum_of(terms, node.shape) if len(terms) != 1 else self.write(terms[0])
            finally:
                self.in_sum = in_sum
