"""One einsum term in matrix notation (matrixform.py writes the rest): its scalar factors times
the matrix chains of its index graph. Every operand of order ≤ 2 is an edge between its indices
(a vector an edge to a free end); each connected piece is a chain from an output index to another
(a product), to a free end (a vector), or a cycle (a trace). Operands on the same pair of indices
are Hadamard products; a vector sharing an index with two other factors becomes diag(v). A term
that does not fit raises NoMatrixForm.
"""

from .matrixgraph import merge_parallel_paths, pendant_groups
from .matrixtext import atom as _atom, components as _components, fewest_transposes as _fewest_transposes
from .matrixtext import hadamard, number as _number, paren as _paren, transposed, unwrapped
from .einsumnodes import einsum_on, is_symmetric

__all__ = ["EinsumWriter", "NoMatrixForm", "ONES_WORDS"]

# The parser's all-c vector and matrix: vector(1), matrix(0), sized by where they stand.
ONES_WORDS = {1: "vector", 2: "matrix"}


class NoMatrixForm(Exception):
    """Raised while writing matrix notation where a node has no matrix form."""


class EinsumWriter:
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
        if node.coeff == 0.0:   # a zero: a number, or matrix(0, size(X, 1), size(X, 2)) sized by a symbol
            if not node.shape:
                return "0"
            if len(node.shape) not in ONES_WORDS:
                raise NoMatrixForm
            zero = self.writer.ones(0.0, node.shape)
            square = len(node.shape) == 2 and node.shape[0] == node.shape[1]
            return "0*eye" if square and zero == "matrix(0)" else zero   # the dim has no size to print: one for both
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
                # in a sum (A + lam*eye) the other terms size eye; alone (2*eye) it takes its size
                eye = "eye" if self.writer.sum_term is node else self.writer.identity(node.shape[0])
                return self._join(scalars, chains + [eye], products)
            if not items and self.writer.in_sum is node:  # a scalar that + and - broadcast
                return self._join(scalars, [])
            if not used and len(out) in ONES_WORDS:   # a scalar spread over a vector or matrix
                if not scalars:
                    return self.writer.ones(node.coeff, node.shape)
                return self._join(scalars, [self.writer.ones(1.0, node.shape)])
            if len(out) in ONES_WORDS and len(unique_out) == len(out) and not any(i in used for i in out):
                # a scalar of the operands spread: sum(w)*vector(1, size(X, 1))
                scalar = einsum_on(node.coeff, node.operands, node.subscripts, (), node.dims,
                                   [i for i in range(len(node.dims)) if i not in out])
                return f"{_paren(self.writer.write(scalar))}*{self.writer.ones(1.0, node.shape)}"
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
                ones = self.writer.ones(1.0, (node.shape[1 if kept == out[0] else 0],))
                spread = f"{text}*{_atom(ones)}'" if kept == out[0] else f"{_paren(ones)}*{_atom(text)}'"
                return ("-" if node.coeff < 0 else "") + spread
            raise NoMatrixForm
        diagonal = self._diagonal_of_a_product(items, unique_out) if not diag_out else None
        if diagonal is not None:   # out[i] = Σ A[i,k] ... B[i,l] v[i]: diag(A*...*B') .* v
            ends, vectors = diagonal
            self._merge_hadamard(items, ends)
            self._split_busy_indices(items, ends)
            chains, products = self._chains(items, ends)
            text = " .* ".join([f"diag({chains[0]})"] + [_atom(v) for v in vectors])
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
