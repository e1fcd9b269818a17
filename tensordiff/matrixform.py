"""Matrix notation: an expression of order ≤ 2 written back with products, transposes and traces.

The output is the parser's own language (``'`` transpose, ``*`` product or scaling, ``.*``
Hadamard, ``.^`` elementwise power, ``eye``, ``tr``, ``diag``, ``inv``, ...), so what is printed
can be read back. An einsum term becomes matrix products by walking its index graph: every
operand of order ≤ 2 is an edge between its indices (a vector is an edge to a free end), and
each connected piece is a chain from an output index to another (a product), to a free end (a
vector), or a cycle (a trace). Operands on the same pair of indices are Hadamard products; a
vector sharing an index with two other factors becomes diag(v). An einsum that does not fit
(an index shared by three matrices, an order-3 operand, ...) has no matrix form here, and
neither has an expression holding a symbol named like a word of the parser (a symbol ``I``
would read back as the identity, ``tr`` as the trace). A user function so named prints as
``user.<name>(...)``, which the parser reads back as that user function.
"""

from .expr import Apply, Einsum, Var, topological
from .functions import FUNCTIONS, USER_PREFIX, builtin_function, marked
from .kronform import tensor_form
from .vecform import vec_form
from .parse import FUNCTION_TABLE, IDENTITY, ONES
from .matrixtext import atom as _atom, common_factor as _common_factor, components as _components
from .matrixtext import fewest_transposes as _fewest_transposes, join_terms as _join_terms, number as _number
from .matrixtext import hadamard, paren as _paren, transposed, unwrapped
from .matrixgraph import merge_parallel_paths, pendant_groups
from .matrixsums import MAX_DISTRIBUTED_TERMS, distributed
from .reductionprint import MatrixForms
from .reshapeform import StructureMatrixForms, structure_matrix_form
from .simplify import einsum_on, is_symmetric

# Names td.parse reads as something else than a symbol or user function of that name.
PARSER_WORDS = frozenset(FUNCTION_TABLE) | frozenset(IDENTITY) | frozenset(ONES)

__all__ = ["to_matrix"]


# The parser's all-c vector and matrix: vector(1), matrix(0), sized by where they stand.
ONES_WORDS = {1: "vector", 2: "matrix"}


class NoMatrixForm(Exception):
    """Raised inside this module when a node has no matrix form."""


# Matrix notation has no names for subexpressions, so it nests as deep as the graph. Deeper than
# this it could not be read back (td.parse allows 64 nested parentheses), and writing it would
# recurse near Python's limit: such an expression has no matrix form here.
MAX_NESTING = 150


def to_matrix(expr):
    """The matrix notation of ``expr`` as a string, or None when it has none."""
    if len(expr.shape) > 2:   # order 3 and 4: tprod/tbox/outer of matrices written here (kronform.py)
        return vec_form(expr, to_matrix) or tensor_form(expr, to_matrix)   # ∂vec(F)/∂X: vecform.py
    if _nesting(expr) > MAX_NESTING:
        return None
    try:
        return _Writer(expr).write(expr)
    except NoMatrixForm:
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


def _broadcast_scalar(node):
    """Whether ``node`` is a scalar broadcast over all its axes (an einsum with no output index used)."""
    if not (isinstance(node, Einsum) and node.shape) or len(set(node.out)) < len(node.out):
        return False
    used = {i for sub in node.subscripts for i in sub}
    return not any(i in used for i in node.out)


def _row_broadcast(node):
    """Whether ``node`` is constant along its first axis (a matrix einsum that never uses out[0])."""
    return isinstance(node, Einsum) and len(node.out) == 2 and node.out[0] != node.out[1] \
        and not any(node.out[0] in sub for sub in node.subscripts)


class _Writer(MatrixForms, StructureMatrixForms):
    in_sum = None  # the term of a sum being written, where a broadcast scalar may stand

    def __init__(self, root):
        self.written = {}  # (node, written as a term of a sum) -> text, or None: no matrix form
        self.root = root
        self.scalar_lead = {}   # a term's text -> how many of its leading factors are scalars
        self.scalar_texts = set()   # the texts of scalar nodes, wherever they stand in a product
        self.distributing = MAX_DISTRIBUTED_TERMS   # terms a product over sums may still be multiplied into

    def size(self, dim):
        """size(X, d): the size of ``dim`` read from a symbol X of the result that has it."""
        for node in topological([self.root]):
            if isinstance(node, Var) and dim in node.shape and node.ndim <= 2 and node.name not in PARSER_WORDS:
                return f"size({node.name}, {node.shape.index(dim) + 1})"
        raise NoMatrixForm   # no symbol carries it: the notation has no name for the size

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
        for term in terms:                # the term's own mark (selfcheck seed 51136)
            self.in_sum = term
            parts.append(self.write(term))
        self.in_sum = outer
        leads = [self.scalar_lead.get(part, 0) for part in parts] if shape else None
        return _common_factor(parts, leads, self.scalar_texts if shape else None) or _join_terms(parts)

    def _einsum(self, node):
        try:
            special = structure_matrix_form(self.write, node)   # reshapeform.py: vec(X), kron(A, B)
            if special is False:
                raise NoMatrixForm
            return special if special is not None else _EinsumWriter(self, node).text()
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


class _EinsumWriter:
    """One einsum term as scalar factors times matrix chains."""

    def __init__(self, writer, node):
        self.writer = writer
        self.node = node
        self.next_id = len(node.dims)

    def fresh(self):
        self.next_id += 1
        return self.next_id - 1

    def text(self):
        node = self.node
        if node.coeff == 0.0:   # a zero: a number, or 0*eye where the two dims agree
            if not node.shape:
                return "0"
            if len(node.shape) == 2 and node.shape[0] == node.shape[1]:
                return "0*eye"
            if len(node.shape) not in ONES_WORDS:
                raise NoMatrixForm
            return ONES_WORDS[len(node.shape)] + "(0)"
        mean = self.writer.mean_of(node)
        if mean is not None:
            return self._join([], [mean])
        used = {i for sub in node.subscripts for i in sub}
        scalars, items = [self.writer.size(node.dims[i]) for i in range(len(node.dims))
                          if i not in used and i not in node.out], []   # a factor size(dim)
        for op, sub in self._pendants_collapsed():
            if len(sub) > 2:
                raise NoMatrixForm
            text = self.writer.write(op)
            if not sub:
                scalars.append(_paren(text))
            elif len(sub) == 2 and sub[0] == sub[1]:
                elsewhere = sum(s.count(sub[0]) for s in node.subscripts) + node.out.count(sub[0])
                if elsewhere == 2:
                    scalars.append(f"tr({text})")
                else:
                    items.append([f"diag({text})", (sub[0],), False])
            else:  # [text, indices, symmetric: walked either way without a transpose]
                items.append([text, tuple(sub), len(sub) == 2 and is_symmetric(op)])
        out = node.out
        diag_out = len(out) == 2 and out[0] == out[1]
        unique_out = tuple(dict.fromkeys(out))
        if any(i not in used for i in unique_out):
            if diag_out:   # an identity times scalars, some of them scalar products (x'*x)*eye
                self._merge_hadamard(items, ())
                self._split_busy_indices(items, ())
                chains, products = self._chains(items, ()) if items else ([], [])
                return self._join(scalars, chains + ["eye"], products)
            if not items and self.writer.in_sum is node:  # a scalar that + and - broadcast
                return self._join(scalars, [])
            if not used and len(out) in ONES_WORDS:   # a scalar spread over a vector or matrix
                if not scalars:
                    return f"{ONES_WORDS[len(out)]}({_number(node.coeff)})"
                return self._join(scalars, [ONES_WORDS[len(out)] + "(1)"])
            if self.writer.in_sum is node and len(out) == 2 and out[0] not in used:
                # a vector over the columns spread over the rows, in a sum: the row vector v', which
                # + and - spread as numpy does (X*W + b'); other partial broadcasts have no 'ones' here
                row = einsum_on(abs(node.coeff), node.operands, node.subscripts, (out[1],), node.dims,
                                [i for i in range(len(node.dims)) if i != out[0]])
                return ("-" if node.coeff < 0 else "") + transposed(self.writer.write(row))
            if len(out) == 2 and (out[0] in used) != (out[1] in used):   # a vector spread: v*vector(1)'
                kept = out[0] if out[0] in used else out[1]
                vector = einsum_on(abs(node.coeff), node.operands, node.subscripts, (kept,), node.dims,
                                   [i for i in range(len(node.dims)) if i not in out or i == kept])
                text = _paren(self.writer.write(vector))
                spread = f"{text}*vector(1)'" if kept == out[0] else f"vector(1)*{_atom(text)}'"
                return ("-" if node.coeff < 0 else "") + spread
            raise NoMatrixForm
        diagonal = self._diagonal_of_a_product(items, unique_out) if not diag_out else None
        if diagonal is not None:   # out[i] = Σ A[i,k] ... B[i,l] v[i]: diag(A*...*B') .* v
            ends, vectors = diagonal
            self._merge_hadamard(items, ends)
            self._split_busy_indices(items, ends)
            chains, products = self._chains(items, ends)
            text = " .* ".join([f"diag({chains[0]})"] + [_paren(v) for v in vectors])
            return self._join(scalars, [f"({text})" if vectors else text] + chains[1:], products)
        both = self._hadamard_of_two_chains(items, unique_out) if not diag_out else None
        if both is not None:   # out[i,j] = Σ A[i,..]..B[..,j] C[i,..]..D[..,j]: (A*..*B) .* (C*..*D)
            return self._join(scalars, [both])
        merge_parallel_paths(items, unique_out)
        self._merge_hadamard(items, unique_out)
        self._split_busy_indices(items, unique_out)
        chains, products = self._chains(items, unique_out)
        if diag_out:
            chains = [f"diag({chains[0]})"] + chains[1:]  # the scalar factors stay
        return self._join(scalars, chains, products)

    def _pendants_collapsed(self):
        """The (operand, subscript) pairs, each pendant piece of the index graph (matrixgraph) made
        one vector operand over the index it hangs from."""
        node = self.node
        pairs = list(zip(node.operands, node.subscripts))
        if any(len(sub) > 2 for sub in node.subscripts):
            return pairs
        groups = pendant_groups(node.subscripts, node.out)
        for j, piece in groups:
            ids = sorted({i for k in piece for i in node.subscripts[k]})
            vector = einsum_on(1.0, [node.operands[k] for k in piece], [node.subscripts[k] for k in piece], (j,),
                               node.dims, ids)
            pairs.append((vector, (j,)))
        dropped = {k for _, piece in groups for k in piece}
        return [pair for k, pair in enumerate(pairs) if k not in dropped]

    def _join(self, scalars, chains, products=()):
        """coeff * scalars * products * chains; a scalar product u'*M*v is parenthesised among
        other factors, since A*u'*M*v would read as (A*u')*M*v."""
        c = self.node.coeff
        number = [] if c in (1.0, -1.0) else [_number(abs(c))]   # 1/3*X: a leading quotient needs no brackets
        divisors = [f[3:-1] for f in scalars if f.startswith("(1/") and _atom(f[3:-1]) == f[3:-1]]
        if divisors and (len(scalars) > len(divisors) or chains or products):   # c*A/det(X), not c*(1/det(X))*A
            scalars = [f for f in scalars if not (f.startswith("(1/") and f[3:-1] in divisors)]
        else:
            divisors = []
        factors = scalars + [f"({p})" if scalars or chains or len(products) > 1 else p for p in products] + chains
        body = "*".join(number + [_paren(f) if len(factors) + len(number) > 1 else f for f in factors]) or "1"
        body += "".join("/" + divisor for divisor in divisors)
        text = ("-" + _paren(body) if c < 0 and body.startswith("-") else "-" + body) if c < 0 else body
        self.writer.scalar_lead[text] = len(number) + len(scalars) + len(products)
        return text

    def _merge_hadamard(self, items, out):
        """Factors on the same indices, where those are shared further, become a Hadamard product."""
        merged = True
        while merged:
            merged = False
            count = {}
            for item in items:
                for i in item[1]:
                    count[i] = count.get(i, 0) + 1
            for a in range(len(items)):
                for b in range(a + 1, len(items)):
                    ta, ia = items[a][:2]
                    tb, ib = items[b][:2]
                    busy = any(count[i] + (i in out) > 2 for i in ia)
                    if set(ia) == set(ib) and len(ia) == len(ib) and busy:
                        right = tb if ib == ia or items[b][2] else _atom(tb) + "'"
                        items[a] = [hadamard(ta, right), ia, False]
                        del items[b]
                        merged = True
                        break
                if merged:
                    break
        for item in items:
            if " .* " in item[0]:
                item[0] = _atom(item[0])

    def _diagonal_of_a_product(self, items, out):
        """For a vector output index carried by exactly two matrices (and maybe vectors): the
        vectors taken out of ``items`` and the second matrix's copy of the index renamed, giving
        ((i, fresh), the ends of the matrix product whose diagonal this is, [vector texts]); else None."""
        if len(out) != 1:
            return None
        i = out[0]
        matrices = [item for item in items if i in item[1] and len(item[1]) == 2]
        vectors = [item for item in items if item[1] == (i,)]
        if len(matrices) != 2 or len(matrices) + len(vectors) != sum(i in item[1] for item in items) \
                or any(item[1][0] == item[1][1] for item in matrices):
            return None
        for vector in vectors:
            items.remove(vector)
        new = self.fresh()
        matrices[1][1] = tuple(new if j == i else j for j in matrices[1][1])
        return (i, new), [vector[0] for vector in vectors]

    def _hadamard_of_two_chains(self, items, out):
        """The text "(P .* Q)" where the factors form two matrix products P and Q, each from out[0]
        to out[1] (each output index carried by exactly two matrices); else None."""
        if len(out) != 2:
            return None
        i, j = out
        carries = {i: [k for k, item in enumerate(items) if i in item[1]],
                   j: [k for k, item in enumerate(items) if j in item[1]]}
        if any(len(ks) != 2 or any(len(items[k][1]) != 2 or items[k][1][0] == items[k][1][1] for k in ks)
               for ks in carries.values()):
            return None
        i2, j2 = self.fresh(), self.fresh()
        for pick in carries[j]:   # which of j's two matrices ends the second product
            trial = [[text, ids, sym] for text, ids, sym in items]
            k = carries[i][1]
            trial[k][1] = tuple(i2 if x == i else x for x in trial[k][1])
            trial[pick][1] = tuple(j2 if x == j else x for x in trial[pick][1])
            parts = _components(trial)
            first = next((p for p in parts if i in p[0]), None)
            second = next((p for p in parts if i2 in p[0]), None)
            if len(parts) != 2 or first is None or second is None or j not in first[0] or j2 not in second[0]:
                continue
            try:
                texts = []
                for part, ends in ((first[1], (i, j)), (second[1], (i2, j2))):
                    self._merge_hadamard(part, ends)
                    self._split_busy_indices(part, ends)
                    chains, products = self._chains(part, ends)
                    if len(chains) != 1 or products:
                        raise NoMatrixForm
                    texts.append(chains[0])
            except NoMatrixForm:
                continue
            return _atom(hadamard(texts[0], texts[1]))   # brackets: * and .* group left to right
        return None

    def _split_busy_indices(self, items, out):
        """An index in more than two places: vectors on it go into a Hadamard or a diag(v)."""
        while True:
            slots = {}
            for k, item in enumerate(items):
                for i in item[1]:
                    slots.setdefault(i, []).append(k)
            busy = {i for i, ks in slots.items() if len(ks) + (i in out) > 2}
            if not busy:
                return
            i = min(busy)
            vector = next((k for k in slots[i] if len(items[k][1]) == 1), None)
            if vector is None:
                raise NoMatrixForm
            matrix = next((k for k in slots[i] if len(items[k][1]) == 2), None)
            if matrix is not None:
                ids = items[matrix][1]
                j = ids[1] if ids[0] == i else ids[0]
                partner = next((k for k in slots.get(j, ()) if len(items[k][1]) == 1), None)
                if j in busy and partner is not None:  # M[i,j] u[i] w[j] = (M .* (u*w'))[i,j]
                    u, w = items[vector][0], items[partner][0]
                    outer = f"{_paren(u)}*{_atom(w)}'" if ids[0] == i else f"{_paren(w)}*{_atom(u)}'"
                    items[matrix] = [f"({_paren(items[matrix][0])} .* ({outer}))", ids, False]
                    for k in sorted((vector, partner), reverse=True):
                        del items[k]
                    continue
            other = next(k for k in slots[i] if k != vector)
            new = self.fresh()
            items[vector] = [f"diag({unwrapped(items[vector][0])})", (i, new), True]
            items[other] = [items[other][0], tuple(new if j == i else j for j in items[other][1])] + items[other][2:]

    def _chains(self, items, out):
        """Walk the index graph: products between outputs, vectors to free ends, traces of cycles.

        Returns (chains, products): the factors, and apart the scalar products u'*M*...*v.
        """
        remaining = list(range(len(items)))

        def oriented(k, forward):
            text = items[k][0]
            return text if forward or items[k][2] else _atom(text) + "'"

        def walk(index, closing=None):
            """Follow factors from ``index``: (texts, the output index reached or None at a free end)."""
            parts = []
            while True:
                k = next((k for k in remaining if index in items[k][1]), None)
                if k is None:   # an index summed here and used by nothing else: a product with ones
                    dangling = parts and index not in out and index != closing
                    return (parts + ["vector(1)"], None) if dangling else (parts, index)
                remaining.remove(k)
                ids = items[k][1]
                if len(ids) == 1:
                    parts.append(items[k][0])
                    return parts, None
                forward = ids[0] == index
                parts.append(oriented(k, forward))
                index = ids[1] if forward else ids[0]
                if index in out:
                    return parts, index

        def transposes_from(vector):
            """How many transposes u'*M*...*v writes when it starts at ``vector`` (a'*X*b, not b'*X'*a)."""
            saved = list(remaining)
            remaining.remove(vector)
            parts, _ = walk(items[vector][1][0])
            remaining[:] = saved
            return sum(part.endswith("'") for part in parts)

        def product(parts):
            return "*".join(_paren(p) for p in parts)

        chains, products = [], []
        if len(out) == 2:
            left, finish = walk(out[0])
            if finish == out[1]:
                chains.append(_fewest_transposes(left))
            elif finish is None:
                right, finish = walk(out[1])
                if finish is not None or not right:
                    raise NoMatrixForm
                chains.append(product(left) + "*" + _atom(product(right)) + "'")
            else:
                raise NoMatrixForm
        elif len(out) == 1:
            parts, finish = walk(out[0])
            if finish is not None:
                raise NoMatrixForm
            chains.append(product(parts))
        while remaining:
            vectors = [k for k in remaining if len(items[k][1]) == 1]
            k = min(vectors, key=lambda v: (transposes_from(v), items[v][0], v)) if vectors else remaining[0]
            remaining.remove(k)
            text, ids = items[k][0], items[k][1]
            if len(ids) == 1:  # from a free end: u'*M*...*v, or sum(u) when u stands alone
                parts, finish = walk(ids[0])
                if finish is not None and parts:
                    raise NoMatrixForm
                if parts:
                    products.append(_atom(text) + "'*" + product(parts))
                else:
                    chains.append(f"sum({text})")
                    self.writer.scalar_texts.add(chains[-1])
                continue
            others = {i for j in remaining for i in items[j][1]}
            if ids[0] in others and ids[1] not in others:  # start from the end that dangles
                text, ids = oriented(k, False), (ids[1], ids[0])
            parts, finish = walk(ids[1], closing=ids[0])  # a cycle: a trace; or a chain summed over both ends: sum(M*...)
            if finish == ids[0]:
                chains.append("tr(" + product([text] + parts) + ")")
            elif finish not in out and not any(ids[0] in items[j][1] for j in remaining):
                chains.append("sum(" + product([text] + [p for p in parts if p != "vector(1)"]) + ")")
            else:
                raise NoMatrixForm  # sum(M) alone was written even when M shared an index with another factor
            self.writer.scalar_texts.add(chains[-1])   # a trace or a sum stands among the chains, not leading
        return chains, products


