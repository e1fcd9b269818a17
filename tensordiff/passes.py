"""The planning passes of a compiled program, listed in one place, in the order they run.

A compiled program is made in two stages. The expression passes (``EXPRESSION_PASSES``) each
map the outputs' graph to an equal graph that is cheaper to evaluate; ``run_passes`` applies
them in order. The step passes (``STEP_PASSES``) then choose how each node of that graph runs:
they are applied where ``Program`` makes its steps, and listed here with what they do, so that
``program.explain()`` can say which pass made each step (``made_by``).
"""

from collections import namedtuple

from .expr import Add, Einsum, Inv, Solve, Var, make, topological
from .factoring import factor_sums
from .grouping import group_factors
from .reshapesteps import plan_structures
from .scalefolding import fold_scales
from .select import plan_selections
from .einsumnodes import einsum_node, einsum_on, scale
from .simplify import substitute
from .sumnodes import add_node
from .sumdistribution import distribute_sums

__all__ = ["Pass", "EXPRESSION_PASSES", "STEP_PASSES", "run_passes", "made_by", "use_solve", "AS_DERIVED"]

Pass = namedtuple("Pass", "name run summary")
Pass.__doc__ = """A named planning pass: ``run(outputs, checks)`` returns the rewritten outputs (an
expression pass; it may append (dim, index) checks a selection needs); None for a step pass."""

AS_DERIVED = "as derived"   # a step no pass made: a node of the expression as differentiated


def use_solve(outputs, checks=None):
    """Replace an inverse that is only applied, once or twice in one product, by linear solves.

    c · inv(A)[a,b] · rest, with a in the output and b summed (or the transpose), becomes
    solve(A, B)[a, ...] with B = c · rest contracted to (b, ...): cheaper and more accurate than
    forming inv(A). Sound because Σ_b inv(A)[a,b] B[b,...] is solve(A, B)[a,...] by definition,
    for any B. A product reading the inverse twice (inv(A)·inv(A)·v, as d/dα of (M + αI)⁻¹ b
    gives) becomes two nested solves, the inner one solving the rest with the second read:
    two LU factorisations (4n³/3 flops) cost less than an inverse (2n³). An inverse read three
    times or more, or by several nodes, is computed once instead.

    >>> import tensordiff as td
    >>> A, b = td.matrix("A", "n n"), td.vector("b", "n")
    >>> [type(node).__name__ for node in use_solve([td.inv(A) @ b])]
    ['Solve']
    >>> twice = use_solve([td.inv(A) @ (td.inv(A) @ b)])[0]
    >>> type(twice).__name__, type(twice.rhs).__name__
    ('Solve', 'Solve')
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
            if not isinstance(op, Inv) or op in outputs:
                continue
            reads = node.operands.count(op)
            if reads == uses.get(op) == 1:
                replacement = _solve_form(node, k, uses.get(op.arg) == 1)
            elif reads == uses.get(op) == 2:
                replacement = _solve_form(node, k, solve_rhs=_solving_read_of(op))
            else:
                continue
            if replacement is not None:
                mapping[node] = replacement
                break
    return [substitute(e, mapping) for e in outputs] if mapping else list(outputs)


def _solving_read_of(inverse):
    """A function of a right-hand side that reads ``inverse`` once: that read made a solve (None
    where the rhs does not read it once, or the read is not of solve form)."""
    def solve_rhs(rhs):
        if not isinstance(rhs, Einsum) or rhs.operands.count(inverse) != 1:
            return None
        return _solve_form(rhs, rhs.operands.index(inverse))
    return solve_rhs


def _solve_form(node, k, matrix_read_once=False, solve_rhs=None):
    sub = node.subscripts[k]
    if sub[0] == sub[1]:
        return None
    elsewhere = [i for j, s in enumerate(node.subscripts) if j != k for i in s]
    for free, summed, matrix in ((sub[0], sub[1], node.operands[k].arg), (sub[1], sub[0], None)):
        if node.out.count(free) == 1 and free not in elsewhere and summed not in node.out:
            if matrix is None:
                matrix = einsum_node(1.0, (node.operands[k].arg,), ((0, 1),), (1, 0), node.operands[k].shape)
            rest_out = tuple(dict.fromkeys(i for i in node.out if i != free))
            ops = node.operands[:k] + node.operands[k + 1:]
            subs = node.subscripts[:k] + node.subscripts[k + 1:]
            kept = [i for i in range(len(node.dims)) if i != free]  # the node's own orphans stay in rhs
            rhs = einsum_on(1.0, ops, subs, (summed,) + rest_out, node.dims, kept)
            if len(rhs.shape) == 0:
                return None
            if node.coeff != 1.0:
                if matrix_read_once and not _computed(rhs) and isinstance(matrix, (Add, Einsum)):
                    # c·B would be a step of its own, as large as B: solve(A/c, B) instead, the 1/c
                    # folded into the step that computes A
                    matrix = _scaled(matrix, 1.0 / node.coeff)
                else:
                    rhs = einsum_on(node.coeff, ops, subs, (summed,) + rest_out, node.dims, kept)
            if solve_rhs is not None:
                rhs = solve_rhs(rhs)
                if rhs is None:
                    continue
            solved = make(Solve, matrix, rhs)
            return einsum_on(1.0, (solved,), ((free,) + rest_out,), node.out, node.dims, (free,) + rest_out)
    return None


def _computed(node):
    """Whether ``node`` is a contraction, a fill or a sum whose step a coefficient would fold into."""
    if isinstance(node, Add):
        return True
    return isinstance(node, Einsum) and (len(node.operands) != 1 or node.subscripts[0] != node.out)


def _scaled(node, factor):
    """factor · node, with the factor in each term of a sum (a sum's one-pass step scales them for free)."""
    if isinstance(node, Add):
        return add_node([scale(term, factor) for term in node.terms], node.shape)
    return scale(node, factor)


def composite_structures(outputs, checks=None):
    """reshapesteps.plan_structures as a pass."""
    return plan_structures(outputs)


def common_factors(outputs, checks=None):
    """factoring.factor_sums as a pass."""
    return factor_sums(outputs)


def factor_grouping(outputs, checks=None):
    """grouping.group_factors as a pass."""
    return group_factors(outputs)


def selections(outputs, checks):
    """select.plan_selections as a pass: the int selections it finds are appended to ``checks``."""
    planned, found = plan_selections(outputs)
    checks.extend(found)
    return planned


EXPRESSION_PASSES = (
    Pass("sum distribution", distribute_sums,
         "a product reading a sum with more axes than its result and its other operands becomes the sum of its "
         "products with each term: the larger sum is never built, and each term loses its Kronecker deltas "
         "(sumdistribution.py)"),
    Pass("composite structures", composite_structures,
         "a product with a merge or an embedding (vec, kron, reshape, stack, concatenate) becomes reshapes, "
         "slices and pads of its operands (reshapesteps.py): no Kronecker product or 0/1 tensor is built"),
    Pass("common factors", common_factors,
         "Σ S·W1 + Σ S·W2 = Σ S·(W1 + W2): terms sharing a skeleton contract it once (factoring.py)"),
    Pass("inverse→solve", use_solve,
         "an inverse applied once becomes a linear solve: cheaper and more accurate than inv(A)"),
    Pass("selections", selections,
         "a selection of a summed index becomes a slice of the operands (select.py): nothing is computed "
         "to be thrown away"),
    Pass("factor grouping", factor_grouping,
         "Σ_t F⊗R_t = F⊗Σ_t R_t: terms sharing an outer factor write it once against the sum of their rests, "
         "and a group sum that is another's transposition reads it (grouping.py)"),
    Pass("scale folding", fold_scales,
         "c·F·Σ_t T_t = Σ_t c·F·T_t: a product's coefficient and broadcast factors of a sum it alone reads are "
         "written by the sum's one pass, not in passes of their own (scalefolding.py)"),
)

STEP_PASSES = (
    Pass("term splitting", None,
         "a term of a sum splits into independent factors tied only by summed indices (fusion.split_term)"),
    Pass("one-pass sums", None,
         "a sum of products is written into its output in one pass of the kernels (fusion.FusedSumStep)"),
    Pass("pair reuse", None,
         "a product reads a pairwise contraction the program computes anyway (reuse.py)"),
    Pass("Gram products", None,
         "G.T @ (w G) when a product's halves are one tensor: a symmetric rank-k update (gram.py)"),
    Pass("factor once", None,
         "solve(A, solve(A, B)), two solves inverse→solve made of an inverse read twice, runs as one step that "
         "factors A once and solves twice (repeatedsolve.py)"),
    Pass("buffer reuse", None,
         "a sum, a ufunc or a contraction's scaling writes into the buffer of an argument that nothing reads "
         "again, a view of it included (inplace.donate_buffers, buffers.py; its step says \"in place\"), and a "
         "contraction scales its own intermediate in place (pairwise.scaling_in_place)"),
    Pass("specialisation", None,
         "at the first call with new shapes, the steps become one straight-line function (specialise.py)"),
)


def run_passes(outputs):
    """(the outputs after every expression pass, the (dim, index) checks of their selections).

    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "n")
    >>> planned, checks = run_passes([td.inv(X.T @ X) @ X.T @ y])
    >>> any(type(node).__name__ == "Solve" for node in td.expr.topological(planned)), checks
    (True, [])
    """
    outputs, checks = list(outputs), []
    for step in EXPRESSION_PASSES:
        outputs = list(step.run(outputs, checks))
    return tuple(outputs), sorted(set(checks))


def made_by(program):
    """The name of the pass that made each step of ``program`` (by slot); "input" for a symbol.

    The expression passes are run again to see which nodes each introduced; a step's own pass
    (a Gram product, a one-pass sum, a product reading a reused pair) is read from the step.
    """
    seen = set(topological(list(program.outputs)))
    introduced = {}
    outputs, checks = list(program.outputs), []
    for step in EXPRESSION_PASSES:
        outputs = list(step.run(outputs, checks))
        for node in topological(outputs):
            if node not in seen:
                introduced[node] = step.name
                seen.add(node)
    names = {}
    for k, (node, step, _, _) in enumerate(program.steps):
        if isinstance(node, Var):
            names[k] = "input"
        elif node in program.reads:
            names[k] = "pair reuse"
        elif getattr(step, "solves", 1) > 1:   # repeatedsolve.py's step: it computes a node beside its own
            names[k] = step.made_by
        elif getattr(step, "gram", None) is not None:
            names[k] = "Gram products"
        elif node in introduced:   # a sum an expression pass made (a group sum) is that pass's, though run in one pass
            names[k] = introduced[node]
        elif getattr(step, "made_by", None) is not None:   # a sum written in one pass (steps.py)
            names[k] = step.made_by
        elif node not in seen:   # a factor group of a split term: made when the steps were
            names[k] = "term splitting"
        else:
            names[k] = AS_DERIVED
    return names
