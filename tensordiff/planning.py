"""A compiled program's plan and its text: ``Program``'s planning, once per ``td.compile`` (evaluate.py has its calls).

The planning passes (listed in ``passes``) rewrite the expressions, the shared graph is ordered so
that each common subexpression is one step computed once, and each node becomes a step (steps.py,
functionsteps.py and the plans of select.py, reductionsteps.py, reshapesteps.py) that calls the
primitive operations of the program's backend, the same steps on every array library; each step
lists the slots it reads and those it releases after it, and on a backend that writes in place the
steps that may write into a dying argument's buffer (inplace.py). ``repr`` and ``explain`` print the
plan (records.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from . import backends, conditioning as conditioning_checks
from .errors import EvaluationError
from .expr import Add, Apply, Einsum, Var, topological, without_cycle_collection
from .functionsteps import ApplyStep, MatrixStep
from .repeatedsolve import RepeatedSolveStep, repeated_solves
from .fusion import SumPlan
from .inplace import donate_buffers, smaller_first
from .dimsizes import priced_table
from .indices import base_dims, slice_of
from .memory import validate_limit
from .passes import run_passes
from .progress import validate_progress
from .records import explain_text, plan_text
from .reductionsteps import CONDITIONED_PLANS, REDUCTION_PLANS
from .reshapesteps import STRUCTURE_PLANS
from .reuse import reuse_pairs
from .select import SELECTION_PLANS
from .steps import EinsumStep, SumStep
from .symboltable import check_homonyms

__all__ = ["ProgramPlan", "PLANS"]


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


class ProgramPlan:
    """The plan of a compiled program: its steps, in order, with the slots each reads and releases,
    printed by ``repr`` and ``explain``.

    ``Program`` (evaluate.py) is this plan with its calls; make one with ``td.compile``.

    Parameters
    ----------
    exprs : tuple of Expr
        The expressions.
    single : bool
        Whether a call returns one array rather than a tuple.
    backend, singular, memory_limit, chunks, conditioning, progress
        As for ``td.compile``.

    Raises
    ------
    EvaluationError
        If ``singular`` or ``conditioning`` is not one of the choices, or ``chunks`` is given for
        a backend other than dask.

    Examples
    --------
    >>> import tensordiff as td
    >>> from tensordiff.planning import ProgramPlan
    >>> x = td.vector("x", "n")
    >>> plan = ProgramPlan((td.sum(td.exp(x)),), single=True)
    >>> [type(step).__name__ for _, step, _, _ in plan.steps]
    ['NoneType', 'ApplyStep', 'EinsumStep']
    """

    @without_cycle_collection()   # planning a deep program allocates its steps by the thousand and no cycles
    def __init__(self, exprs, single, backend=None, singular="raise", memory_limit="auto", chunks=None,
                 conditioning="warn", progress=None):
        self.progress = validate_progress(progress)
        self.outputs = tuple(exprs)
        self.single = single
        self.nesting = None   # compile's record of nested tuples of outputs (td.hessian(f, [x, y]))
        check_homonyms(*self.outputs)   # values bind by name: two symbols of one name could not both be bound
        self.symmetric = {node.name: node for node in topological(self.outputs)
                          if isinstance(node, Var) and node.symmetric}
        self.follows_inputs = backend is None   # a call with torch/jax/cupy/dask arrays runs a twin on theirs
        self.twins = {}
        self.backend = backends.get_backend("numpy" if backend is None else backend)
        if not (isinstance(singular, str) and singular in backends.SINGULAR_POLICIES):
            raise EvaluationError(f"singular must be one of {', '.join(map(repr, backends.SINGULAR_POLICIES))}, "
                                  f"got {singular!r:.60}")
        if not (isinstance(conditioning, str) and conditioning in conditioning_checks.POLICIES):
            raise EvaluationError(f"conditioning must be one of {', '.join(map(repr, conditioning_checks.POLICIES))}, "
                                  f"got {conditioning!r:.60}")
        self.conditioning = conditioning
        if chunks is not None and not self.backend.lazy:
            raise EvaluationError(f"chunks= is for backend=\"dask\", not {backend!r}" if backend is not None else
                                  "chunks= is for backend=\"dask\": name it (no backend was named)")
        self.singular, self.chunks = singular, chunks
        self.memory_limit = validate_limit(memory_limit, "memory_limit")
        # signature of the values -> the program specialised to it (specialise.py); None on a lazy backend
        self.specialisations = {} if self.backend.specialises else None
        self.prices = {}   # (sizes, itemsize) -> [a bound on the peak, replay() once the bound is over the limit]
        planned, self.index_checks = run_passes(self.outputs)
        planned = tuple(planned)
        base = topological(planned)
        split = _fusable_terms(base, planned)
        sums = {node: SumPlan(node, split) for node in base if isinstance(node, Add)}
        solved_twice = repeated_solves(base, planned)   # outer solve -> the inner one it factors for

        def planned_children(node):
            if node in sums:
                return sums[node].children
            if node in solved_twice:
                return (node.matrix, solved_twice[node].rhs)
            return node.children()

        # products that read a pair another step computes (reuse.py); found on the program's nodes
        self.reads = reuse_pairs(topological(planned, children=planned_children))

        def children(node):
            return planned_children(self.reads.get(node, node))

        nodes = topological(planned, children=smaller_first(children))   # inplace.py: big values made late
        self.nodes = nodes
        # the dims _peak_bound prices, as plain tuples: torch.compile traces a call and cannot hash nodes
        self.bound_dims = ([node.shape for node in nodes],
                           [self.reads.get(node, node).dims for node in nodes if isinstance(node, Einsum)])
        slot = {node: k for k, node in enumerate(nodes)}
        self.output_slots = tuple(slot[e] for e in planned)
        self.symbols = {node.name: node.dims for node in nodes if isinstance(node, Var)}
        self.user_function_names = {name for node in nodes if isinstance(node, Apply) and node.fn.user
                                    for name in (node.fn.base, *node.fn.ascii_names)}
        dims = set()
        for node in nodes:
            dims.update(node.shape)
            if isinstance(node, Einsum):
                dims.update(node.dims)
            for term in node.terms if isinstance(node, Add) else ():   # a constant term is no node: size(m)
                dims.update(term.dims if isinstance(term, Einsum) else term.shape)
        dims.update(dim for dim, _ in self.index_checks)   # a checked selection planned away (a zero)
        for dim in list(dims):   # a sliced dim's size follows from its base's: "n[2:5]" needs n
            while (parts := slice_of(dim)) is not None:
                dim = parts[0]
                dims.add(dim)
        dims.update(base for dim in list(dims) for base in base_dims(dim))   # n·m and n+m need n and m
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
            if node in sums:
                plan = SumStep(node, sums[node], self.backend)
            elif isinstance(node, Einsum):
                plan = EinsumStep.of(self.reads.get(node, node), self.backend)
            elif node in solved_twice:
                plan = RepeatedSolveStep(node, self.backend, singular, conditioning)
            elif type(node) in MatrixStep.OPERATIONS:
                plan = MatrixStep(self.reads.get(node, node), self.backend, singular, conditioning)
            elif type(node) in CONDITIONED_PLANS:
                plan = CONDITIONED_PLANS[type(node)](self.reads.get(node, node), self.backend, singular, conditioning)
            else:
                plan = PLANS[type(node)](self.reads.get(node, node), self.backend, singular)
            self.steps.append((node, plan, args, release))
        if self.backend.writes_in_place:
            donate_buffers(self.steps, self.output_slots)   # steps written into a dying argument's buffer (inplace.py)


    def __repr__(self) -> str:
        return plan_text(self)

    def explain(self, dtype: DTypeLike = "float64", **sizes: int) -> str:
        """The plan, a line per step: what it computes, the pass that made it, and its price.

        Each line gives the step's operation and the steps it reads (as ``repr`` does), its shape,
        and in brackets the planning pass that made it (tensordiff/passes.py lists them in order;
        "as derived" is a node of the expression as differentiated). Given every dim's size, each
        step also shows its FLOPs, the bytes it writes and its temporaries, and a last line the
        totals and peak memory that ``td.cost`` reports.

        Parameters
        ----------
        dtype : {"float64", "float32"}, optional
            The dtype to price the bytes in (default "float64").
        **sizes : int
            The size of every dim, by name (none: the plan without prices); sizes of dims a
            derivative lost (those of what it was derived from) are taken too, as td.cost takes them.

        Returns
        -------
        str
            The plan, one line per step.

        Raises
        ------
        EvaluationError
            If some sizes are given but a dim has none, or a size is not a non-negative int.

        Examples
        --------
        >>> import tensordiff as td
        >>> A, x = td.matrix("A", "n n"), td.vector("x", "n")
        >>> print(td.compile(td.inv(A) @ x).explain(n=100))   # doctest: +ELLIPSIS
        <tensordiff plan: 3 steps, inputs ['A', 'x']>
          passes, in order: sum distribution, composite structures, common factors, inverse→solve, ...
          made steps here: inverse→solve
          %2 = solve(%0, %1)  shape (n) = (100,)  6.87e+05 flops, 800 B + 78.1 KiB temporary  [inverse→solve]
          total 6.87e+05 flops; peak 158 KiB (inputs 78.9 KiB included)
        """
        if not sizes:
            return explain_text(self)
        sizes = priced_table(self, sizes, "program.explain(")   # f's table of sizes serves its derivatives
        return explain_text(self, sizes, np.dtype(dtype).itemsize)


PLANS = {
    Var: lambda node, backend, singular: None,
    Apply: lambda node, backend, singular: ApplyStep(node, backend),
    **SELECTION_PLANS,
    **REDUCTION_PLANS,
    **STRUCTURE_PLANS,
}
