"""Shape inference for parse: every value a (rows, cols) pair of dim variables unified by union-find,
run in passes to a fixed point (parse.py's docstring states the rules and conventions)."""

from __future__ import annotations

import re

from .errors import ParseError, ShapeError
from .symboltable import lookup_symbol, symbol_with_dim
from .indices import merged_parts
from .parsesyntax import fail_at
from .parsewords import function_row

ONE = 0  # the dim variable of the literal 1; it never unifies with a dim
SCALAR = (ONE, ONE)
# matrixcalculus.org's convention where the uses leave a kind open: a-g scalars, h-z vectors, A-Z
# matrices, for a name of one letter (and a subscript: x1, x_i); longer names (lam, sigma) stay scalars.
CONVENTIONAL_VECTOR = re.compile(r"[h-z](?:[0-9]+|_\w*)?", re.ASCII)
MAX_CONVENTION_TRIES = 64   # names tried one by one when they do not all fit together (bounded time)


def _leads(nodes):
    """The names whose shape ``nodes`` take: x in x, -x, exp(x), x.^2, x + y, x .* y, 2*x, x/s."""
    names, stack = [], list(nodes)
    while stack:
        node = stack.pop()
        if node.kind == "sym":
            names.append(node.value)
        elif node.kind in ("neg", "sum", "compare") or node.kind == "pow" and node.value[0] == ".^" \
                or node.kind == "call" and function_row(node.value)[0] in ("same", "vector", "elementwise"):
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

    def fresh(self):
        """A new unnamed dim variable (``new()``, without its look-up of the name)."""
        parent = self.parent
        d = len(parent)
        parent.append(d)
        self.name.append(None)
        return d

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
        parent = self.parent
        if parent[a] != a:   # most are roots: find only the others
            a = self.find(a)
        if parent[b] != b:
            b = self.find(b)
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

    def run(self, plan):
        """Type the nodes of ``plan`` (_plan's), children first."""
        shapes = self.shapes
        for rule, node, key, kid_keys in plan:
            if kid_keys is None:   # a leaf's rule reads no shapes of kids: it gets its own empty kids
                shapes[key] = rule(self, node, node.kids)
            else:
                shapes[key] = rule(self, node, [shapes[k] for k in kid_keys])

    def fail(self, pos, message):
        fail_at(ShapeError, message, self.text, pos)

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
                if shape == SCALAR:   # what want_vector asks first
                    self.want_vector(nodes, shape)
        return result or SCALAR


def _type_sym(p, node, kids):
    name = node.value
    shape = p.symbols.get(name)
    if shape is not None:
        return shape
    dims = p.given.get(name)
    if dims is not None:
        if len(dims) > 2:
            p.fail(node.pos, f"{name!r} has dims ({', '.join(dims)}): parse reads scalars, vectors and matrices")
        shape = tuple([p.dims.new(d) for d in dims]) + (ONE,) * (2 - len(dims))
    elif name in p.symmetric:
        shape = (p.dims.fresh(),) * 2
    elif _upper(name):
        shape = (p.dims.fresh(), p.dims.fresh())
    else:
        shape = (p.dims.fresh(), ONE) if name in p.vectors else SCALAR
    p.symbols[name] = shape
    return shape


def _upper(name):
    """Whether ``name`` is upper-case by the conventions (X, W1, _A): a matrix unless given otherwise."""
    return name[0].isupper() or name[0] == "_" and name.lstrip("_")[:1].isupper()


def _given_sizes(p, node):
    """The dims of the sizes size(X, d) that eye(...), vector(c, ...) or matrix(c, ...) was given."""
    return tuple(p.shapes[size.kids[0].key][size.value[1] - 1] for size in node.kids)


def _type_ones(p, node, kids):
    if node.kids:
        return _given_sizes(p, node) + (ONE,) * (2 - len(node.kids))
    return p.dims.new(None), ONE if node.value[0] == "vector" else p.dims.new(None)


def _type_eye(p, node, kids):
    if node.kids:
        return _given_sizes(p, node) * 2
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
    rule = function_row(node.value)[0]
    if rule == "same":   # elementwise: the argument's shape, a tensor's too (_type_tensor_call)
        return kids[0]
    if rule == "tensor" or max(map(len, kids), default=0) > 2:
        return _type_tensor_call(p, node, kids)
    (rows, cols), arg = kids[0], node.kids[0]
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
    if rule == "pinv":   # (m, n) -> (n, m); a scalar's is 1/s
        if (p.dims.find(rows) == ONE) != (p.dims.find(cols) == ONE):
            p.fail(node.pos, f"pinv needs a matrix or a scalar, but {p.show(arg.start, arg.end, kids[0])}")
        return cols, rows
    if rule in ("reduce", "diag", "vector"):
        p.want_vector([arg], kids[0])
    if rule in ("same", "reduce", "vector"):
        return SCALAR if rule == "reduce" else kids[0]
    if rule == "diag" and ONE in (rows, cols):
        return (cols, cols) if rows == ONE else (rows, rows)
    if not p.dims.unify(rows, cols):
        what = "a vector or a square matrix" if rule == "diag" else "a square matrix"
        p.fail(node.pos, f"{node.value} needs {what}, but {p.show(arg.start, arg.end, kids[0])}")
    return SCALAR if rule == "trace" else (rows, ONE) if rule == "diag" else kids[0]   # "square": itself


def _type_tensor_call(p, node, kids):
    """tprod, tbox or outer of two matrices or vectors (kronform.py), or a function of such a product:
    its dims, with the axes of size 1 of vectors left out; a tensor of order 3 or 4 is a tuple of its dims."""
    rule = function_row(node.value)[0]
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
    return [head is not None and head[0] == ONE and tail[1] != ONE for head, tail in zip(first[:n], last[:n])]


def _product(p, pos, node, k, left, right):
    """The shape of the chain ``node``'s factors before factor k times factor k (``left * right``) and
    how to build it: "scale", "outer" or "matmul"."""
    if left == SCALAR or right == SCALAR:
        return (right if left == SCALAR else left), "scale"
    if len(left) <= 2 and len(right) <= 2 and p.dims.unify(left[1], right[0]):
        return (left[0], right[1]), ("outer" if left[1] == ONE else "matmul")
    left_span, right_node = (node.start, node.kids[k - 1].end), node.kids[k]
    if len(left) > 2 or len(right) > 2:
        p.fail(pos, f"'*' scales an order-3/4 tensor product by a scalar only, but {p.show(*left_span, left)} "
                    f"and {p.show(right_node.start, right_node.end, right)}")
    hint = "; write x'*y for an inner product, x.*y elementwise" if left[1] == right[1] == ONE else ""
    p.fail(pos, f"'*' needs matching inner dims: {p.show(*left_span, left)} but "
                f"{p.show(right_node.start, right_node.end, right)}{hint}")


def _type_chain(p, node, kids):
    rows = None   # _row_runs, worked out when a scalar meets a factor (x*y')
    acc, kinds = kids[0], []
    for k, (op, pos) in enumerate(node.value, 1):
        shape = kids[k]
        if op == "*":
            if acc[1] != ONE and len(acc) == 2:  # A*x, y'*x: a matrix or row vector on the left
                if shape == SCALAR:   # what want_vector asks first, asked before making its list
                    p.want_vector([node.kids[k]], shape)
            elif acc == SCALAR:
                if rows is None:
                    rows = _row_runs([op for op, _ in node.value], kids)
                if rows[k] and (k == 1 or node.value[k - 2][0] == "*"):  # x*y'
                    p.want_vector([node.kids[k - 1]], kids[k - 1])
            if acc == SCALAR or shape == SCALAR:   # _product's answer for a scaling, without the call
                acc = shape if acc == SCALAR else acc
                kinds.append("scale")
                continue
            acc, kind = _product(p, pos, node, k, acc, shape)
            kinds.append(kind)
            continue
        kid = node.kids[k]
        if op == "/" and shape != SCALAR:
            p.fail(pos, f"'/' divides by a scalar, but {p.show(kid.start, kid.end, shape)}: "
                        f"write *inv(B) for a matrix, ./ elementwise")
        elif op != "/":  # .* and ./ ; a left operand of several factors leads nothing (2*x .* y)
            leads = node.kids[:1] if k == 1 else []
            acc = p.common([(op, pos)] * 2, [(node.start, node.kids[k - 1].end, acc, leads),
                                             (kid.start, kid.end, shape, [kid])])
    p.products[node.key] = kinds
    return acc


def _type_sum(p, node, kids):
    if kids.count(SCALAR) == len(kids):   # common's answer for scalars alone, without listing them
        return SCALAR
    return p.common(node.value, [(k.start, k.end, s, [k]) for k, s in zip(node.kids, kids)])


def _type_along(p, node, kids):
    """sum(X, 1) is a row vector (1, cols), sum(X, 2) a column vector (rows, 1); size(X, d) a scalar."""
    name, dim = node.value
    p.want_vector(node.kids, kids[0])
    rows, cols = kids[0]
    return SCALAR if name == "size" else (ONE, cols) if dim == 1 else (rows, ONE)


_TYPE = {
    "along": _type_along,
    "num": lambda p, node, kids: SCALAR,
    "sym": _type_sym,
    "dim": lambda p, node, kids: (p.dims.new(node.value), ONE),   # n in size(n): a vector over the dim n
    "eye": _type_eye,
    "ones": _type_ones,
    "neg": lambda p, node, kids: kids[0],
    "T": _type_transpose,
    "pow": _type_pow,
    "call": _type_call,
    "sum": _type_sum,
    "compare": lambda p, node, kids: p.common(node.value[:1] + node.value,
                                              [(k.start, k.end, s, [k]) for k, s in zip(node.kids, kids)]),
    "chain": _type_chain,
}


def _check_dim_names(order, text, given):
    """size(n) names a dim; size(X) of a symbol X (of the text, given, or alive and no live symbol's
    dim) lacks the d of size(X, d) instead: a ParseError, not a new dim named X."""
    named = [node for node in order if node.kind == "dim"]
    symbols = set(given) | {node.value for node in order if node.kind == "sym"} if named else set()
    for node in named:
        name = node.value
        if name in symbols or lookup_symbol(name) is not None and symbol_with_dim(name) is None:
            fail_at(ParseError, f"size({name}) names a dim, but {name} is a symbol: size({name}, d) needs the "
                                "dimension d, 1 for the number of rows, 2 of columns", text, node.pos)


def infer_shapes(order, text, given, symmetric=frozenset()):
    """The kinds the uses decide, then matrixcalculus.org's convention for the names they leave open:
    a lower-case name from h to z is a vector wherever the expression still types with it as one."""
    _check_dim_names(order, text, given)
    scalars = set(_leads([k for n in order if n.kind == "pow" and n.value[0] == "^" for k in n.kids]))
    plan = _plan(order)
    typed = _settle(plan, text, given, set(), scalars, symmetric)
    open_names = [name for name in dict.fromkeys(n.value for n in order if n.kind == "sym")
                  if CONVENTIONAL_VECTOR.fullmatch(name) and name not in given and name not in scalars
                  and name not in typed.vectors]
    tries = [open_names] if len(open_names) > 1 else []   # all at once first: the usual case, one pass
    for attempt in tries + [[name] for name in open_names[:MAX_CONVENTION_TRIES]]:
        try:
            typed = _settle(plan, text, given, typed.vectors | set(attempt), scalars, symmetric)
        except ShapeError:
            continue   # a scalar after all: its uses decide
        if attempt is open_names:
            break
    return typed


def _plan(order):
    """(typing rule, node, key, its kids' keys or None for a leaf) of each node: what every pass reads."""
    return [(_TYPE[node.kind], node, node.key, tuple([kid.key for kid in node.kids]) if node.kids else None)
            for node in order]


def _settle(plan, text, given, vectors, scalars, symmetric):
    """Passes of shape inference until no scalar wants to be a vector; the last pass."""
    while True:
        typed = _Pass(text, given, vectors, scalars, symmetric)
        try:
            typed.run(plan)
        except ShapeError:
            if not typed.flips:
                raise
        if not typed.flips:
            return typed
        vectors = vectors | typed.flips
