"""Evaluation: compile expressions into a straight-line program over numpy and opt_einsum.

``compile`` plans once: the shared graph is ordered so that each common subexpression is one
step computed once; einsum steps cache an opt_einsum contraction per set of operand shapes;
deltas and broadcasts in an output are written by ``kernels.assemble``; logdet goes through
slogdet. A call binds dims from the arrays, runs the steps, and drops each intermediate after its
last use.
"""

import functools
import math
import threading

import numpy as np
import opt_einsum

from .errors import EvaluationError, ShapeError
from .expr import Add, Apply, Det, Einsum, Expr, Inv, LogDet, Solve, Var, declared_dims, make, topological
from .indices import format_dims
from .gram import gram_plan
from .fusion import FusedSumStep, SumPlan, einsum_on, factor_sums
from .kernels import assemble
from .printing import short
from .select import SELECTION_PLANS, bind_selections, plan_selections
from .simplify import as_expr, einsum_node, substitute

__all__ = ["compile", "evaluate", "Program"]

RESERVED = ("functions",)


def _label(node, limit=80):
    return short(node, limit)


# ---------------------------------------------------------------- steps

def _path_search(operands):
    """opt_einsum's dynamic programming finds the cheapest order (its "auto" picks a greedy one
    beyond four operands that can build a k·n·k intermediate where n·k suffices); past a dozen
    operands its search time grows, and "auto" is used."""
    return "dp" if operands <= 12 else "auto"


NAIVE_LOOP_LIMIT = 4096  # index-space size below which numpy's direct einsum loop beats planning


def _contraction(equation, shapes):
    """A function contracting arrays of ``shapes``: opt_einsum's planned pairwise contractions
    (BLAS), or for tiny index spaces numpy's single einsum loop, which skips the per-pair calls."""
    sizes = {}
    for term, shape in zip(equation.split("->")[0].split(","), shapes):
        sizes.update(zip(term, shape))
    if math.prod(sizes.values()) <= NAIVE_LOOP_LIMIT:
        return functools.partial(np.einsum, equation)
    return opt_einsum.contract_expression(equation, *shapes, optimize=_path_search(len(shapes)))


class _EinsumStep:
    def __init__(self, node):
        self.coeff = node.coeff
        self.tensor_args = [k for k, op in enumerate(node.operands) if op.shape]
        self.scalar_args = [k for k, op in enumerate(node.operands) if not op.shape]
        used = set()
        for k in self.tensor_args:
            used.update(node.subs[k])
        unique_out = list(dict.fromkeys(node.out))
        self.core_ids = [i for i in unique_out if i in used]
        self.out_ids = list(node.out)
        self.orphan_dims = [node.dims[i] for i in range(len(node.dims)) if i not in used and i not in node.out]
        self.id_dims = node.dims
        symbol = opt_einsum.get_symbol
        self.equation = ",".join("".join(symbol(i) for i in node.subs[k]) for k in self.tensor_args) \
            + "->" + "".join(symbol(i) for i in self.core_ids)
        self._contractions = {}
        self._lock = threading.Lock()
        self.gram = gram_plan([node.operands[k] for k in self.tensor_args], [node.subs[k] for k in self.tensor_args],
                              self.core_ids, self._contract)

    def describe(self):
        return f"einsum {self.equation!r}" + (f" × {self.coeff:g}" if self.coeff != 1.0 else "") + \
            (" as a Gram product" if self.gram else "")

    def _contract(self, equation, arrays):
        if len(arrays) == 1:
            return np.einsum(equation, arrays[0])
        key = (equation,) + tuple(a.shape for a in arrays)
        contraction = self._contractions.get(key)
        if contraction is None:
            with self._lock:
                contraction = _contraction(equation, key[1:])
                if len(self._contractions) < 32:
                    self._contractions[key] = contraction
        return contraction(*arrays)

    def parts(self, args, sizes):
        """(core, factor): the contraction, with the scalar factor folded into its smallest operand."""
        factor = self.coeff
        for dim in self.orphan_dims:
            factor *= sizes[dim]
        for k in self.scalar_args:
            factor = factor * args[k]
        if not self.tensor_args:
            return None, factor
        arrays = [args[k] for k in self.tensor_args]
        if self.gram is not None:
            return self.gram(arrays, factor), 1.0
        if not (isinstance(factor, float) and factor == 1.0):
            smallest = min(range(len(arrays)), key=lambda k: arrays[k].size)
            arrays[smallest] = arrays[smallest] * factor
        return self._contract(self.equation, arrays), 1.0

    def __call__(self, args, sizes, dtype):
        core, factor = self.parts(args, sizes)
        id_sizes = {i: sizes[d] for i, d in enumerate(self.id_dims)}
        return assemble(core, self.core_ids, self.out_ids, id_sizes, factor, dtype)


class _ApplyStep:
    def __init__(self, node):
        self.fn = node.fn

    def describe(self):
        return f"elementwise {self.fn.display}"

    def __call__(self, args, sizes, dtype, functions=None):
        impl = _implementation(self.fn, functions)
        with np.errstate(all="ignore"):
            return np.asarray(impl(args[0]))


def _implementation(fn, functions):
    if functions:
        for name in fn.ascii_names:
            if name in functions:
                return _as_callable(functions[name], fn, 0)
        given = functions.get(fn.base)
        if given is not None:
            impl = _as_callable(given, fn, fn.order)
            if impl is not None:
                return impl
    if fn.numeric is None:
        raise EvaluationError(f"function {fn.display} has no numeric implementation: bind one with "
                              f"td.elementwise({fn.base!r}, fn, deriv) or pass functions={{{fn.ascii_names[1]!r}: ...}} "
                              f"(or functions={{{fn.base!r}: [f, f', f'', ...]}})")
    return fn.numeric


def _as_callable(given, fn, order):
    if hasattr(given, "numeric") and not callable(getattr(given, "__call__", None)):
        given = given.numeric
    if isinstance(given, (list, tuple)):
        if order >= len(given):
            return None
        return given[order]
    if order == 0 and callable(given):
        if hasattr(given, "numeric") and hasattr(given, "display"):
            return given.numeric
        return given
    return None


def _matrix_step(kind):
    def run(args, sizes, dtype, node=None):
        a = args[0]
        try:
            if kind == "inv":
                return np.linalg.inv(a)
            if kind == "det":
                return np.asarray(np.linalg.det(a))
            sign, logabs = np.linalg.slogdet(a)
            if sign == 0:
                raise np.linalg.LinAlgError("singular matrix")
            return np.asarray(logabs)
        except np.linalg.LinAlgError as exc:
            raise EvaluationError(f"{kind} of a singular matrix: {_label(node.arg)} ({exc})") from None
    return run


_inv_step, _det_step, _logdet_step = _matrix_step("inv"), _matrix_step("det"), _matrix_step("logdet")


def _solve_step(args, sizes, dtype, node=None):
    a, b = args
    try:
        flat = np.linalg.solve(a, b.reshape(b.shape[0], -1))
    except np.linalg.LinAlgError as exc:
        raise EvaluationError(f"inv of a singular matrix: {_label(node.matrix)} ({exc})") from None
    return flat.reshape(a.shape[:1] + b.shape[1:])


# ---------------------------------------------------------------- planning rewrites

def _use_solve(outputs):
    """Replace an inverse that is only applied, once, by a linear solve.

    c · inv(A)[a,b] · rest, with a in the output and b summed (or the transpose), becomes
    solve(A, B)[a, ...] with B = c · rest contracted to (b, ...): cheaper and more accurate than
    forming inv(A). An inverse used more than once is computed once instead.
    """
    nodes = topological(outputs)
    uses = {}
    for node in nodes:
        for child in node.children():
            uses[child] = uses.get(child, 0) + 1
    mapping = {}
    for node in nodes:
        if not isinstance(node, Einsum):
            continue
        for k, op in enumerate(node.operands):
            if isinstance(op, Inv) and uses.get(op) == 1 and op not in outputs:
                replacement = _solve_form(node, k)
                if replacement is not None:
                    mapping[node] = replacement
                    break
    return [substitute(e, mapping) for e in outputs] if mapping else list(outputs)


def _solve_form(node, k):
    sub = node.subs[k]
    if sub[0] == sub[1]:
        return None
    elsewhere = [i for j, s in enumerate(node.subs) if j != k for i in s]
    for free, summed, matrix in ((sub[0], sub[1], node.operands[k].arg), (sub[1], sub[0], None)):
        if node.out.count(free) == 1 and free not in elsewhere and summed not in node.out:
            if matrix is None:
                matrix = einsum_node(1.0, (node.operands[k].arg,), ((0, 1),), (1, 0), node.operands[k].shape)
            rest_out = tuple(dict.fromkeys(i for i in node.out if i != free))
            ops = node.operands[:k] + node.operands[k + 1:]
            subs = node.subs[:k] + node.subs[k + 1:]
            kept = [i for i in range(len(node.dims)) if i != free]  # the node's own orphans stay in rhs
            rhs = einsum_on(node.coeff, ops, subs, (summed,) + rest_out, node.dims, kept)
            if len(rhs.shape) == 0:
                return None
            solved = make(Solve, matrix, rhs)
            return einsum_on(1.0, (solved,), ((free,) + rest_out,), node.out, node.dims, (free,) + rest_out)
    return None


def _program(outputs, single):
    return Program(outputs, single)


def _fusable_terms(nodes, outputs):
    """Einsum terms of sums that nothing else uses: the sum splits them into factors (fusion.py)."""
    uses = {}
    for node in nodes:
        for child in node.children():
            uses[child] = uses.get(child, 0) + 1
    fused = set()
    for node in nodes:
        if isinstance(node, Add):
            fused.update(t for t in node.terms
                         if isinstance(t, Einsum) and uses.get(t) == 1 and t not in outputs)
    return fused


# ---------------------------------------------------------------- programs

class Program:
    """A compiled evaluation plan: call it with values (keywords or one dict) for the symbols.

    >>> f = td.compile([J, H])
    >>> J_value, H_value = f(X=X_value, y=y_value, lam=0.5)
    """

    def __init__(self, exprs, single):
        self.outputs = tuple(exprs)
        self.single = single
        planned, self.index_checks = plan_selections(_use_solve(factor_sums(self.outputs)))
        planned = tuple(planned)
        base = topological(planned)
        split = _fusable_terms(base, planned)
        sums = {node: SumPlan(node, split) for node in base if isinstance(node, Add)}

        def children(node):
            return sums[node].children if node in sums else node.children()

        nodes = topological(planned, children=children)
        self.nodes = nodes
        slot = {node: k for k, node in enumerate(nodes)}
        self.output_slots = tuple(slot[e] for e in planned)
        self.symbols = {node.name: node.dims for node in nodes if isinstance(node, Var)}
        dims = set()
        for node in nodes:
            dims.update(node.shape)
            if isinstance(node, Einsum):
                dims.update(node.dims)
        self.dims = dims
        last_use = {}
        inputs = {}
        for k, node in enumerate(nodes):
            inputs[node] = tuple(slot[c] for c in children(node))
            for s in inputs[node]:
                last_use[s] = k
        keep = set(self.output_slots)
        self.steps = []
        for k, node in enumerate(nodes):
            args = inputs[node]
            release = tuple(s for s in set(args) if last_use.get(s) == k and s not in keep)
            plan = FusedSumStep(node, sums[node]) if node in sums else _plan(node)
            self.steps.append((node, plan, args, release))

    def __reduce__(self):
        return (_program, (self.outputs, self.single))

    def __repr__(self):
        lines = [f"<tensordiff program: {len(self.steps)} steps, inputs {sorted(self.symbols)}>"]
        for k, (node, step, args, _) in enumerate(self.steps):
            if isinstance(node, Var):
                continue
            what = step.describe() if hasattr(step, "describe") else type(node).__name__.lower()
            lines.append(f"  %{k} = {what}({', '.join('%' + str(a) for a in args)})  shape {format_dims(node.shape)}")
        return "\n".join(lines)

    def __call__(self, *args, functions=None, **values):
        if args:
            if len(args) > 1 or not isinstance(args[0], dict):
                raise EvaluationError("pass values as keywords or as one dict {name: array}")
            values = {**args[0], **values}
        arrays, sizes, dtype = self._bind(values)
        results = [None] * len(self.steps)
        for k, (node, step, arg_slots, release) in enumerate(self.steps):
            if isinstance(node, Var):
                results[k] = arrays[node.name]
                continue
            operands = [results[s] for s in arg_slots]
            if isinstance(node, Apply):
                results[k] = step(operands, sizes, dtype, functions)
            elif isinstance(node, (Inv, Det, LogDet, Solve)):
                results[k] = step(operands, sizes, dtype, node)
            else:
                results[k] = step(operands, sizes, dtype)
            for s in release:
                results[s] = None
        outputs = []
        for s in self.output_slots:
            result = _finish(results[s], dtype)
            if any(np.may_share_memory(result, earlier) for earlier in outputs) or \
                    any(np.may_share_memory(result, given) for given in arrays.values()):
                result = result.copy()  # the caller owns what it gets back
            outputs.append(result)
        return outputs[0] if self.single else tuple(outputs)

    def _bind(self, values):
        arrays, sizes, origin, dtypes = {}, {}, {}, []
        for name, value in values.items():
            dims = self.symbols.get(name)
            if dims is None:
                dims = declared_dims(name)
                if dims is None:
                    raise EvaluationError(f"value given for {name!r}, which is no symbol of this expression "
                                          f"(its symbols: {', '.join(sorted(self.symbols)) or 'none'})")
            array = _to_array(name, value)
            if array.ndim != len(dims):
                raise ShapeError(f"value for {name!r} has shape {array.shape} but the symbol has dims "
                                 f"{format_dims(dims)} ({len(dims)} axes)")
            for axis, (dim, size) in enumerate(zip(dims, array.shape)):
                if dim in sizes and sizes[dim] != size:
                    raise ShapeError(f"dim {dim!r} is {sizes[dim]} in {origin[dim]} but {size} in axis {axis} of {name!r}")
                sizes[dim] = size
                origin.setdefault(dim, f"axis {axis} of {name!r}")
            if not isinstance(value, (int, float)):
                dtypes.append(array.dtype)
            arrays[name] = array
        missing = sorted(set(self.symbols) - set(arrays))
        if missing:
            raise EvaluationError("no value for symbol(s) " + ", ".join(
                f"{m!r} (dims {format_dims(self.symbols[m])})" for m in missing))
        bind_selections(self.dims, self.index_checks, sizes)
        unbound = sorted(self.dims - set(sizes))
        if unbound:
            raise EvaluationError(f"the size of dim(s) {', '.join(map(repr, unbound))} is unknown: pass a value "
                                  "for a symbol that has them")
        dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
        return arrays, sizes, dtype


def _to_array(name, value):
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes, list, tuple, dict)):
        raise EvaluationError(f"value for {name!r} must be a number or a numpy array, got {type(value).__name__}")
    if isinstance(value, (int, float)):
        return np.asarray(float(value))
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the caller's bad value
        raise EvaluationError(f"value for {name!r} cannot be read as an array: {exc}") from None
    if array.dtype.kind in "biu":
        array = array.astype(np.float64)
    elif array.dtype.kind not in "fc":
        raise EvaluationError(f"value for {name!r} must hold numbers, got dtype {array.dtype}")
    return array


def _finish(result, dtype):
    result = np.asarray(result)
    if result.dtype != dtype and result.dtype.kind != "c":
        result = result.astype(dtype)
    elif not result.flags.owndata or not result.flags.writeable:
        result = result.copy()
    return result


_PLANS = {
    Var: lambda node: None,
    Einsum: _EinsumStep,
    Apply: _ApplyStep,
    Inv: lambda node: _inv_step,
    Det: lambda node: _det_step,
    LogDet: lambda node: _logdet_step,
    Solve: lambda node: _solve_step,
    **SELECTION_PLANS,
}


def _plan(node):
    return _PLANS[type(node)](node)


def compile(exprs):
    """Compile one expression (the program returns an array) or a list (it returns a tuple).

    >>> f = td.compile(td.grad(td.logdet(X.T @ X), X))
    >>> f(X=np.random.randn(6, 3))
    """
    single = isinstance(exprs, Expr) or not isinstance(exprs, (list, tuple))
    items = (exprs,) if single else tuple(exprs)
    items = tuple(as_expr(e) for e in items)
    return Program(items, single)


def evaluate(expr, values=None, /, functions=None, **kwargs):
    """Evaluate ``expr`` (or a list of expressions) on numpy values; plans anew each call
    (use ``compile`` to plan once and call many times).

    >>> td.evaluate(X.T @ y, X=np.ones((3, 2)), y=np.ones(3))
    array([3., 3.])
    """
    if values is not None and not isinstance(values, dict):
        raise EvaluationError(f"the second argument of evaluate must be a dict of values, got {type(values).__name__}")
    merged = {**(values or {}), **kwargs}
    return compile(expr)(functions=functions, **merged)
