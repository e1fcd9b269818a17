"""What an evaluation will cost, before paying it: result size, FLOPs and peak memory.

``cost`` compiles the expressions (the numpy plan ``td.compile`` makes) and replays its steps
with the dim sizes (pricing.py): the FLOPs of each step and the peak memory of the run, inputs,
intermediates and temporaries included; evaluation refuses the same peak when it is over the
memory limit. ``derivative_size`` says how large a derivative of a given order will be, from the
lower orders only, before anyone builds it (``td.cost(..., wrt=X, order=k)`` reports it too).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from numpy.typing import DTypeLike

from .diff import diff
from .errors import EvaluationError, TensorDiffError
from .evaluate import compile as compile_program
from .expr import Einsum, Var, topological
from .dimsizes import priced_table
from .memory import format_bytes, get_memory_limit
from .pricing import replay
from .constantnodes import is_zero
from .sumnodes import terms_of
from .annotations import Exprs
from .expr import Expr
from .symmetry import orbit_sum, orbit_terms

__all__ = ["cost", "Cost", "derivative_size", "DerivativeSize"]


class Cost:
    """What evaluating some expressions will cost, as reported by ``td.cost``.

    ``repr(cost)`` prints it whole, with a line saying when the result is over the memory limit.

    Attributes
    ----------
    shapes : list of tuple of int
        The shape of each result.
    dtype : numpy.dtype
        The dtype priced (float64 or float32).
    sizes : dict
        The dim sizes priced, by dim name.
    entries, bytes : int
        The number of entries and bytes of all results together.
    flops : int
        Floating-point operations of the planned steps (contractions priced by opt_einsum's path).
    peak_bytes : int
        The most memory alive at once: inputs, live intermediates, outputs and temporaries (what
        the memory guard compares with the limit, less the inputs).
    input_bytes : int
        The bytes of the inputs, included in ``peak_bytes``.
    steps : int
        The number of planned steps.
    derivative : DerivativeSize or None
        With ``td.cost(..., wrt=X, order=k)``: the estimated size of the order-k derivative, made
        before building it (``td.derivative_size``); else None.
    derivative_entries : int or None
        The entries of that derivative's value at these sizes; else None.

    Examples
    --------
    >>> import tensordiff as td
    >>> A, B = td.matrix("A", "n k"), td.matrix("B", "k m")
    >>> c = td.cost(A @ B, n=300, k=200, m=100)
    >>> c.shapes, c.bytes, c.flops
    ([(300, 100)], 240000, 12000000)
    >>> c.peak_bytes - c.input_bytes     # what evaluation allocates at its peak: the result and its copy
    480000
    """

    def __init__(self, shapes, dtype, sizes, flops, peak_bytes, input_bytes, steps):
        self.shapes = shapes
        self.dtype = dtype
        self.sizes = sizes
        self.entries = sum(math.prod(shape) for shape in shapes)
        self.bytes = self.entries * dtype.itemsize
        self.flops = flops
        self.peak_bytes = peak_bytes
        self.input_bytes = input_bytes
        self.steps = steps
        self.derivative = None
        self.derivative_entries = None

    def __repr__(self) -> str:
        dims = ", ".join(f"{d}={n}" for d, n in sorted(self.sizes.items()))
        lines = [f"tensordiff cost ({self.dtype}; {dims}):"]
        for shape in self.shapes:
            entries = math.prod(shape)
            lines.append(f"  result  {shape}  {entries:.3g} entries  {format_bytes(entries * self.dtype.itemsize)}")
        if len(self.shapes) > 1:
            lines.append(f"  total   {self.entries:.3g} entries  {format_bytes(self.bytes)}")
        lines.append(f"  flops   {self.flops:.3g} ({self.steps} planned steps)")
        lines.append(f"  peak    {format_bytes(self.peak_bytes)} (inputs {format_bytes(self.input_bytes)} included)")
        if self.derivative is not None:
            value = "" if self.derivative_entries is None else (
                f"; its value {self.derivative_entries:.3g} entries, "
                f"{format_bytes(self.derivative_entries * self.dtype.itemsize)}")
            lines.append(f"  {self.derivative.describe()}{value}")
        limit = get_memory_limit()
        if limit is not None and self.peak_bytes - self.input_bytes > limit:
            lines.append(f"  over the memory limit of {format_bytes(limit)}: td.evaluate would refuse it "
                         "(backend=\"dask\" or a product instead)")
        return "\n".join(lines)


def cost(exprs: Exprs, dtype: DTypeLike = "float64", *, wrt: Optional[Expr] = None, order: int = 1,
         **dim_sizes: int) -> Cost:
    """The size, FLOPs and peak memory of evaluating expressions at given dim sizes, before paying it.

    The expressions are compiled (the numpy plan ``td.compile`` makes) and its steps are walked with
    the sizes: contractions are priced by opt_einsum's path, elementwise functions and written
    outputs by their entries, and LU-based linear algebra by the usual n³ counts. Peak memory replays
    the lifetimes of the inputs, intermediates and outputs.

    Parameters
    ----------
    exprs : Expr or list of Expr
        What would be evaluated.
    dtype : {"float64", "float32"}, optional
        The dtype of the values (default "float64").
    wrt : Expr, optional
        A symbol: also estimate, without building it, the size of the derivative of the (one)
        expression with respect to it at ``order`` (``Cost.derivative``, see ``td.derivative_size``).
    order : int, optional
        The order of that derivative (default 1).
    **dim_sizes : int
        The size of every dim of the expressions, by name; sizes of dims that a derivative lost
        (those of what it was derived from) are taken too, so one table serves f and its derivatives.

    Returns
    -------
    Cost
        The report; print it for a summary.

    Raises
    ------
    EvaluationError
        If a dim has no size, a size is not a non-negative int, or ``dtype`` is not float32 or
        float64.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "n")
    >>> print(td.cost(td.diff(td.logdet(X.T @ X), X, order=2), n=200, p=50))   # doctest: +ELLIPSIS
    tensordiff cost (float64; n=200, p=50):
      result  (200, 50, 200, 50)  1e+08 entries  763 MiB
    ...
    """
    program = compile_program(exprs)
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    if kind != "f" or np.dtype(dtype).itemsize not in (4, 8):
        raise EvaluationError(f"dtype must be float32 or float64 (float16 values compute in float32), got {dtype!r}")
    dtype = np.dtype(dtype)
    sizes = priced_table(program, dim_sizes, "td.cost(expr, ")   # f's table of sizes serves its derivatives
    report = _replay(program, sizes, dtype)
    if wrt is not None:
        if not hasattr(exprs, "shape"):
            raise TensorDiffError("cost(..., wrt=...) estimates the derivative of one expression, got a list")
        report.derivative = derivative_size(exprs, wrt, order)  # type: ignore[arg-type]  # one expression: checked above
        if all(d in sizes for d in report.derivative.shape):   # a wrt not in exprs has dims of no size here
            report.derivative_entries = math.prod(sizes[d] for d in report.derivative.shape)
    return report


def _replay(program, sizes, dtype):
    price = replay(program, sizes, dtype.itemsize)
    return Cost([tuple(sizes[d] for d in program.nodes[s].shape) for s in program.output_slots], dtype, dict(sizes),
                price.flops, price.peak_bytes, price.input_bytes, price.steps)


# ---------------------------------------------------------------- the size of a derivative, before building it

MAX_PROBED_ORDER = 3    # lower orders actually derived; higher ones are extrapolated
MAX_PROBED_NODES = 5000  # a probe this large is the last one: deriving it again is the cost being avoided


class DerivativeSize:
    """How large ``td.diff(expr, wrt, order=k)`` will be, as estimated by ``td.derivative_size``.

    Attributes
    ----------
    order : int
        The order estimated.
    nodes : int
        Estimated distinct graph nodes of the derivative (shared subexpressions counted once).
    terms : int
        Estimated top-level terms of the derivative (the operands of its sum; 1 if it is no sum).
    exact : bool
        True where the counts are not estimates: the derivative is identically zero from a lower order on.
    probed : list of tuple of int
        (order, nodes, terms) of the lower orders that were derived to make the estimate.
    shape : tuple of str
        The derivative's shape (dim names): expr.shape followed by wrt.shape ``order`` times.
    slots : int
        The slots the derivative is symmetrised over (``td.diff`` builds one term per orbit of their
        permutations from order 3 on, and ``terms`` counts those); 0 where it is not.

    Examples
    --------
    >>> import tensordiff as td
    >>> x, A = td.vector("x", "n"), td.matrix("A", "n n")
    >>> td.derivative_size(x @ A @ x, x, order=4)
    DerivativeSize(order=4, nodes=1, terms=0, exact=True, shape=('n', 'n', 'n', 'n'))
    """

    def __init__(self, order, nodes, terms, exact, probed, shape, slots=0):
        self.order, self.nodes, self.terms, self.exact, self.probed, self.shape = (
            order, nodes, terms, exact, probed, shape)
        self.slots = slots

    def __repr__(self) -> str:
        return (f"DerivativeSize(order={self.order}, nodes={self.nodes}, terms={self.terms}, "
                f"exact={self.exact}, shape={self.shape})")

    def describe(self) -> str:
        """One line for a report: the order, the estimated nodes and terms, and where they come from."""
        how = "exact: zero from a lower order on" if self.exact else (
            "extrapolated from orders " + ", ".join(str(k) for k, _, _ in self.probed))
        orbits = f", one per orbit of its {self.slots} slots, then sym over them" if self.slots else ""
        return (f"order-{self.order} derivative: about {self.nodes:.3g} nodes, {self.terms:.3g} terms{orbits} "
                f"({how})")


def _extrapolate(counts, order, accelerating=True):
    """counts[k] at orders 0..m (m < order) carried on to ``order``.

    The ratio of successive counts is carried on growing linearly (as it does where every order
    multiplies the terms by a product rule over more factors: factorial growth), or constant with
    a single ratio, or 2 with a single count (forward mode adds about a node per node); it never
    shrinks below 1 (sizes of nonzero derivatives do not fall for long)."""
    ratios = [b / a for a, b in zip(counts, counts[1:]) if a > 0] or [2.0]   # one count: doubling
    value = float(counts[-1])
    steps = [b - a for a, b in zip(ratios, ratios[1:])][-2:]
    step = max(steps + [0.0]) if accelerating else 0.0   # the larger of the last two: one low count does not stop it
    ratio = ratios[-1]
    for _ in range(len(counts), order + 1):
        ratio = max(ratio + step, 1.0)
        value *= ratio
    return value


def derivative_size(expr: Expr, wrt: Expr, order: int) -> DerivativeSize:
    """Estimate the nodes and terms of ``td.diff(expr, wrt, order=order)`` without building it.

    Why a function of its own and not only a field of ``td.cost``: the size of a derivative depends
    on the expression and the order, not on the dim sizes that ``td.cost`` prices, and a user about
    to ask for order 8 has no sizes to give yet. ``td.cost(expr, wrt=X, order=k, **sizes)`` reports
    this estimate beside the price of evaluating ``expr``.

    The lower orders 1, 2, ... (at most ``MAX_PROBED_ORDER`` = 3, and never ``order`` itself) are
    derived and their distinct graph nodes and top-level terms counted, and the terms of the next
    order are counted by the product rule over the last one (one term per term of each operand that
    depends on ``wrt``), without deriving it. The growth from one order to the next is carried on
    to ``order``: from order 3 on, where ``td.diff`` builds one term per orbit of the slot
    permutations (terms counted in the sum its symmetrisation averages, and the product-rule count
    shared among the k + 1 slots), at a constant ratio; at order 2 the ratio grows linearly when it
    grew over the last counts (factorial growth); a first derivative is estimated
    at twice the expression's nodes (forward mode adds about a node per node); nodes are at least
    the terms.
    On the families in tests/test_cost_estimate.py (Tikhonov in X at orders 1-6, tanh
    networks to order 4, x'Ax) the estimate is within a factor of 3 of the true counts; from a single probe (a
    Hessian) it is rougher: a 200-step chain of A@x and tanh, whose Hessian has 7 times the nodes of
    its gradient, is underestimated about 4 times. A derivative that is zero from a lower order on
    is reported exactly.

    Parameters
    ----------
    expr : Expr
        The expression to differentiate.
    wrt : Expr
        The symbol (td.matrix, td.vector, td.scalar) to differentiate with respect to.
    order : int
        The order of the derivative, at least 1.

    Returns
    -------
    DerivativeSize
        The estimate, with the probes it was made from.

    Raises
    ------
    TensorDiffError
        If ``wrt`` is not a symbol or ``order`` is not a positive int.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    >>> q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    >>> size = td.derivative_size(q, X, order=5)
    >>> size.nodes < 1000, [k for k, _, _ in size.probed]      # order 5 has 148 nodes, one term per orbit
    (True, [1, 2, 3])
    """
    if not isinstance(wrt, Var):
        raise TensorDiffError(f"derivative_size differentiates with respect to a symbol (td.matrix, td.vector, "
                              f"td.scalar), got {type(wrt).__name__}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise TensorDiffError(f"order must be a positive int, got {order!r:.60}")
    shape = tuple(expr.shape) + tuple(wrt.shape) * order
    nodes, terms, probed, current = [len(topological([expr]))], [len(terms_of(expr))], [], expr
    kept = 1.0   # the share of the product rule's terms the simplifier kept at the last probed order
    for k in range(1, min(order - 1, MAX_PROBED_ORDER) + 1):
        predicted = _product_rule_terms(current, wrt.name) / (k / 2 if k > 2 and wrt.ndim else 1)
        current = diff(expr, wrt, order=k)   # built as td.diff builds it: by orbits of its slots from order 3
        if is_zero(current):
            return DerivativeSize(order, 1, 0, True, probed + [(k, 1, 0)], shape)
        nodes.append(len(topological([current])))
        current = orbit_sum(current)
        probed_terms = len(terms_of(current))
        if k == 2 and order > 2 and wrt.ndim:   # the orders above count a Hessian's terms by orbits too
            current = orbit_terms(current, expr.ndim, wrt.ndim, 2)
        terms.append(len(terms_of(current)))
        if predicted and k > 2:   # collected terms (matrixrules.py) make fewer than the product rule's
            kept = min(1.0, terms[-1] / predicted)
        probed.append((k, nodes[-1], probed_terms))
        if nodes[-1] > MAX_PROBED_NODES:
            break
    # terms at order 0 are 1 whatever the expression: their growth is read from order 1 on
    # the next order's product-rule terms fall into orbits of its k + 1 slots, about k + 1 terms each
    next_order = len(terms)
    orbits = next_order / 2 if next_order > 2 and wrt.ndim else 1   # (the count below is about half the truth)
    term_counts = terms[1:] + [_product_rule_terms(current, wrt.name) / orbits * kept]
    # by orbits (order 3 on, symmetry.py) the counts grow geometrically, no longer factorially
    accelerating = not (order > 2 and wrt.ndim)
    term_estimate = _extrapolate(term_counts, order - 1, accelerating)   # term_counts[j] is order j + 1
    node_estimate = max(_extrapolate(nodes, order, accelerating), term_estimate)   # a term holds a node at least
    return DerivativeSize(order, round(node_estimate), max(1, round(term_estimate)), False, probed, shape,
                          0 if accelerating else order)


def _product_rule_terms(expr, name):
    """The terms of the next derivative by the product rule: each term of ``expr`` gives one term
    per term of each operand that depends on ``name``."""
    count = 0
    for term in terms_of(expr):
        operands = term.operands if isinstance(term, Einsum) else (term,)
        count += sum(len(terms_of(operand)) for operand in operands if name in operand.free)
    return count
