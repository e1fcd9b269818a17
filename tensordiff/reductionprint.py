"""How reductions, soft maxima, running sums and differences, masks, cholesky and pinv print: mixins of the printers.

``IndexForms``/``LatexForms`` give index notation (``max_j(X[i,j])``, ``softmax_j(X[i,j])``,
``[u[i] < v[i]]``, ``where(m[i], a[i], b[i])``, the triangle mask as ``[j ≤ i]``),
``CodeForms`` the numpy/jax/torch source, ``MatrixForms`` matrix notation where the parser
reads it back (a method returning None means "no matrix form"). printing.py and matrixform.py
dispatch on the node type's name, so these methods are found by their class's printer.

>>> import tensordiff as td
>>> X = td.matrix("X", "n p")
>>> print(td.softmax(X))
out[i,j] = softmax_j(X[i,j])
>>> print(td.where(X > 0, td.log(X), 0))
out[i,j] = where([X[i,j] > 0], log(X[i,j]), 0)
>>> td.matrix_notation(td.max(X))
'max(X)'
"""

import math

from .expr import Apply, Einsum
from .reductionnodes import Compare, Maximum, Where
from .indices import letters
from .matrixtext import atom
from .constantnodes import constant_value

__all__ = ["IndexForms", "LatexForms", "CodeForms", "MatrixForms"]

_NAMES = {"Max": "max", "LogSumExp": "logsumexp", "Softmax": "softmax", "CumSum": "cumsum", "Diff": "diff"}
RELATIONS = ("<", "<=", ">", ">=")   # the comparisons the parser reads ("==", the mask of a max's ties, it does not)


class IndexForms:
    """Index notation (plain text); ``LatexForms`` overrides the formatting hooks."""

    relations = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "="}

    def reduction(self, name, axis_letters, body):
        return f"{name}_{''.join(axis_letters) if all(len(a) == 1 for a in axis_letters) else ','.join(axis_letters)}" \
               f"({body})"

    def bracket(self, text):
        return f"[{text}]"

    def function(self, name, args):
        return f"{name}({', '.join(args)})"

    def _axis_node(self, node, idx, taken):
        full, kept = [], iter(idx)
        fresh = letters(len(node.axes), avoid=set(taken)) if not node.keeps_shape else []
        spare = iter(fresh)
        for axis in range(node.arg.ndim):
            full.append(next(spare) if axis in node.axes and not node.keeps_shape else next(kept))
        axis_letters = [full[axis] for axis in node.axes]
        body = self.render(node.arg, full, set(taken) | set(fresh))
        return self.reduction(_NAMES[type(node).__name__], axis_letters, body)

    _max = _logsumexp = _softmax = _cumsum = _diff = _axis_node

    def _compare(self, node, idx, taken):
        return self.bracket(f"{self.render(node.a, idx, taken)} {self.relations[node.op]} "
                            f"{self.render(node.b, idx, taken)}")

    def _where(self, node, idx, taken):
        return self.function("where", [self.render(child, idx, taken) for child in node.children()])

    def _maximum(self, node, idx, taken):
        return self.function("max", [self.render(child, idx, taken) for child in node.children()])

    def _triangle(self, node, idx, taken):
        row, col = idx
        shift = "" if node.k == 0 else f"+{node.k}" if node.k > 0 else f"-{-node.k}"
        return self.bracket(f"{col} {self.relations['<=' if node.lower else '>=']} {row}{shift}")


class LatexForms(IndexForms):
    relations = {"<": "<", "<=": r"\le", ">": ">", ">=": r"\ge", "==": "="}
    latex_names = {"max": r"\max", "logsumexp": r"\operatorname{logsumexp}", "softmax": r"\operatorname{softmax}",
                   "where": r"\operatorname{where}", "cumsum": r"\operatorname{cumsum}", "diff": r"\operatorname{diff}"}

    def reduction(self, name, axis_letters, body):
        return rf"{self.latex_names[name]}_{{{''.join(axis_letters)}}}\left({body}\right)"

    def bracket(self, text):
        return rf"\left[{text}\right]"

    def function(self, name, args):
        return rf"{self.latex_names[name]}\left({', '.join(args)}\right)"


# Source per code target (by the library the code imports); "np." etc. is respelled to the
# module alias in use. {x}: the argument, {axes}: a tuple of axes, {r}/{c}: sizes, {k}: a diagonal.
CODE = {
    "numpy": dict(
        max="np.max({x}, axis={axes})",
        logsumexp="(lambda t_: (lambda m_: np.squeeze(m_, axis={axes}) + np.log(np.sum(np.exp(t_ - m_), "
                  "axis={axes})))(np.nan_to_num(np.max(t_, axis={axes}, keepdims=True), nan=0.0, posinf=0.0, "
                  "neginf=0.0)))({x})",
        softmax="(lambda t_: (lambda e_: e_ / np.sum(e_, axis={axes}, keepdims=True))(np.exp(t_ - np.nan_to_num("
                "np.max(t_, axis={axes}, keepdims=True), nan=0.0, posinf=0.0, neginf=0.0))))({x})",
        compare="np.asarray({a} {op} {b}, dtype=np.float64)",
        where="np.where({m} != 0, {a}, {b})", maximum="np.maximum({a}, {b})",
        tril="np.tril(np.ones(({r}, {c})), {k})", triu="np.triu(np.ones(({r}, {c})), {k})",
        cholesky="np.linalg.cholesky({x})", pinv="np.linalg.pinv({x})",
        eigvals="np.linalg.eigvalsh({x})", eigvecs="np.linalg.eigh({x})[1]",
        cumsum="np.cumsum({x}, axis={axis})", diff="np.diff({x}, axis={axis})"),
    "jax.numpy": dict(
        max="jnp.max({x}, axis={axes})",
        logsumexp="(lambda t_: (lambda m_: jnp.squeeze(m_, axis={axes}) + jnp.log(jnp.sum(jnp.exp(t_ - m_), "
                  "axis={axes})))(jnp.nan_to_num(jnp.max(t_, axis={axes}, keepdims=True), nan=0.0, posinf=0.0, "
                  "neginf=0.0)))({x})",
        softmax="(lambda t_: (lambda e_: e_ / jnp.sum(e_, axis={axes}, keepdims=True))(jnp.exp(t_ - jnp.nan_to_num("
                "jnp.max(t_, axis={axes}, keepdims=True), nan=0.0, posinf=0.0, neginf=0.0))))({x})",
        compare="jnp.asarray({a} {op} {b}, dtype=jnp.float64)",
        where="jnp.where({m} != 0, {a}, {b})", maximum="jnp.maximum({a}, {b})",
        tril="jnp.tril(jnp.ones(({r}, {c})), {k})", triu="jnp.triu(jnp.ones(({r}, {c})), {k})",
        cholesky="jnp.linalg.cholesky({x})", pinv="jnp.linalg.pinv({x})",
        eigvals="jnp.linalg.eigvalsh({x})", eigvecs="jnp.linalg.eigh({x})[1]",
        cumsum="jnp.cumsum({x}, axis={axis})", diff="jnp.diff({x}, axis={axis})"),
    "torch": dict(
        max="torch.amax({x}, dim={axes})",
        logsumexp="torch.logsumexp({x}, dim={axes})",
        softmax="(lambda t_: torch.exp(t_ - torch.logsumexp(t_, dim={axes}, keepdim=True)))({x})",
        compare="torch.as_tensor({a} {op} {b}, dtype=torch.float64)",
        where="torch.where(torch.as_tensor({m}) != 0, torch.as_tensor({a}, dtype=torch.float64), "
              "torch.as_tensor({b}, dtype=torch.float64))",
        maximum="torch.maximum(torch.as_tensor({a}, dtype=torch.float64), torch.as_tensor({b}, dtype=torch.float64))",
        tril="torch.tril(torch.ones({r}, {c}, dtype=torch.float64), {k})",
        triu="torch.triu(torch.ones({r}, {c}, dtype=torch.float64), {k})",
        cholesky="torch.linalg.cholesky({x})", pinv="torch.linalg.pinv({x})",
        eigvals="torch.linalg.eigvalsh({x})", eigvecs="torch.linalg.eigh({x})[1]",
        cumsum="torch.cumsum({x}, dim={axis})", diff="torch.diff({x}, dim={axis})"),
}


class CodeForms:
    """Source for the code printer: ``self.t`` is its target's (respelled) table, ``self.ids.module`` the alias."""

    def template(self, key):
        default = self.t["module"]
        return CODE[self.t["library"]][key].replace(default + ".", self.ids.module + ".")

    def _axis_node(self, node):
        name = _NAMES[type(node).__name__]
        return self.template(name).format(x=self.code(node.arg), axes=repr(tuple(node.axes)))

    _max = _logsumexp = _softmax = _axis_node

    def _compare(self, node):
        return self.template("compare").format(a=_grouped(self.code(node.a)), op=node.op, b=_grouped(self.code(node.b)))

    def _where(self, node):
        return self.template("where").format(m=_grouped(self.code(node.mask)), a=self.code(node.a), b=self.code(node.b))

    def _maximum(self, node):
        return self.template("maximum").format(a=self.code(node.a), b=self.code(node.b))

    def _triangle(self, node):
        return self.template("tril" if node.lower else "triu").format(
            r=self.size(node.rows), c=self.size(node.cols), k=node.k)

    def _cholesky(self, node):
        return self.template("cholesky").format(x=self.code(node.arg))

    def _pinv(self, node):
        return self.template("pinv").format(x=self.code(node.arg))

    def _eigvals(self, node):
        return self.template("eigvals").format(x=self.code(node.arg))

    def _eigvecs(self, node):
        return self.template("eigvecs").format(x=self.code(node.arg))

    def _along(self, node):
        return self.template(_NAMES[type(node).__name__]).format(x=self.code(node.arg), axis=node.axes[0])

    _cumsum = _diff = _along


def _scalar_spread(node):
    """Whether ``node`` is one scalar spread over its shape (a constant, or a product whose
    operands use none of its output indices), as the matrix notation writes it."""
    if not node.shape or constant_value(node) is not None:
        return True
    if isinstance(node, Einsum):   # an index repeated in the output is a diagonal (eye), not a spread
        return len(set(node.out)) == len(node.out) and not set(node.out) & {i for sub in node.subscripts for i in sub}
    if isinstance(node, (Compare, Where, Maximum)):
        return all(_scalar_spread(child) for child in node.children())
    return False


def _varies_along_every_axis(node):
    """Whether ``node`` may differ along each of its axes as the matrix notation writes it (no
    operand of an elementwise node written as a row, a column or a scalar spread over it)."""
    if isinstance(node, Einsum) and constant_value(node) is None:
        return len(set(node.out)) < len(node.out) or set(node.out) <= {i for sub in node.subscripts for i in sub}
    if isinstance(node, (Compare, Where, Maximum)):
        return any(_varies_along_every_axis(child) for child in node.children())
    return constant_value(node) is None and bool(node.shape)


def _grouped(text):
    return text if text.replace("_", "").replace(".", "").isalnum() else "(" + text + ")"


class MatrixForms:
    """Matrix notation in the parser's words: max(x), logsumexp(x) over all axes, over one axis of a
    matrix as MATLAB writes them (max(X, 2) along the rows, max(X, 1)' down the columns, as a column
    vector), softmax(x) over the last, cholesky(A), maximum(a, b), where(x > 0, a, b), (A >= B),
    mean(X) and mean(X, d); None where the parser has no spelling. An operand of maximum, where or a
    comparison that is a scalar or a row vector spread over its shape is written as that scalar or
    row (x > 0, maximum(X, b')): the parser spreads it back, as numpy broadcasts."""

    # the parser reads scalars, vectors and matrices: a reduction of a larger tensor has no spelling
    def _max(self, node):
        return self.reduction("max", node.arg, node.axes)

    def _logsumexp(self, node):
        return self.reduction("logsumexp", node.arg, node.axes)

    def reduction(self, name, arg, axes):
        if len(axes) == arg.ndim <= 2:
            return f"{name}({self.write(arg)})"
        if arg.ndim == 2 and len(axes) == 1:   # a row vector for d = 1: its transpose is the column
            return f"{name}({self.write(arg)}, {axes[0] + 1})" + ("'" if axes[0] == 0 else "")
        return None

    def mean_of(self, node):
        """mean(X), mean(X, d): an einsum summing one operand times 1/(the sizes summed over); else None."""
        sizes = [k for k, op in enumerate(node.operands) if isinstance(op, Apply) and op.fn.name == "pow"
                 and op.fn.p == -1.0 and isinstance(op.arg, Einsum) and not op.arg.operands and not op.arg.out]
        if len(sizes) != 1 or len(node.operands) != 2:
            return None
        size = node.operands[sizes[0]].arg
        sub = node.subscripts[1 - sizes[0]]
        summed = [i for i in sub if i not in node.out]
        if len(set(sub)) != len(sub) or len(sub) > 2 or not summed \
                or sorted(node.dims[i] for i in summed) != sorted(size.dims):
            return None
        arg = self.write(node.operands[1 - sizes[0]])
        if len(summed) == len(sub):
            return f"mean({arg})"
        return self.reduction("mean", node.operands[1 - sizes[0]], (sub.index(summed[0]),)) \
            if len(sub) == 2 and node.out == tuple(i for i in sub if i not in summed) else None

    def _softmax(self, node):
        if node.axes == (node.arg.ndim - 1,):
            return f"softmax({self.write(node.arg)})"
        return f"softmax({atom(self.write(node.arg))}')'" if node.axes == (0,) and node.arg.ndim == 2 else None

    def _cholesky(self, node):
        return f"cholesky({self.write(node.arg)})"

    def _pinv(self, node):
        return f"pinv({self.write(node.arg)})"

    def _cumsum(self, node):   # the parser has no word for a running sum, a difference or eigh's parts
        return None

    _diff = _eigvals = _eigvecs = _cumsum

    def _maximum(self, node):
        a, b = self.spread(node.a), self.spread(node.b)
        return None if None in (a, b) else self.full(node, f"maximum({a}, {b})")

    def _where(self, node):
        if isinstance(node.mask, Compare):   # among the arguments the comparison needs no brackets
            mask = self._relation(node.mask)
        else:
            mask = self.spread(node.mask)
        a, b = self.spread(node.a), self.spread(node.b)
        if None in (mask, a, b):
            return None
        return self.full(node, f"where({mask}, {a}, {b})")

    def _compare(self, node):
        relation = self._relation(node)
        return None if relation is None else self.full(node, f"({relation})")   # it binds loosest: bracketed

    def _relation(self, node):
        a, b = self.spread(node.a), self.spread(node.b)
        return None if node.op not in RELATIONS or None in (a, b) else f"{a} {node.op} {b}"

    def full(self, node, text):
        """``text`` of an elementwise node whose operands may all be written as scalars: then it reads
        as a scalar, so it is spread back over the node's shape (s*matrix(1, size(X, 1), size(X, 2)))."""
        if not node.shape:
            return text
        if all(_scalar_spread(child) for child in node.children()):
            if self.in_sum is node:   # an operand that a sum, maximum or where spreads: spread once (seed 51136)
                return text
            return f"{text}*{self.ones(1.0, node.shape)}" if len(node.shape) <= 2 else None
        if len(node.shape) == 2 and not any(_varies_along_every_axis(child) for child in node.children()):
            # a row or column written for a matrix: spread back as a sum spreads it
            return f"({text}) .* {atom(self.ones(1.0, node.shape))}"
        return text

    def spread(self, node):
        """An elementwise operand: a constant as its number, a scalar or row spread over the shape
        as that scalar or row (None if it has no matrix form)."""
        value = constant_value(node)
        if value is not None and node.shape:
            return repr(float(value)).removesuffix(".0") if math.isfinite(value) else None
        saved, self.in_sum = self.in_sum, node   # the writer spells a broadcast in a sum as the scalar or row
        try:
            return self.write(node)
        except Exception as exc:   # matrixform's NoMatrixForm: this operand has no matrix form
            if type(exc).__name__ != "NoMatrixForm":
                raise
            return None
        finally:
            self.in_sum = saved

    def _triangle(self, node):   # a Hadamard product with it prints as tril(M) (matrixtext.hadamard)
        return f"{'tril' if node.lower else 'triu'}({self.ones(1.0, node.shape)})" if node.k == 0 else None
