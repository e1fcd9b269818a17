"""Two solves with one matrix, nested, run as one step that factors the matrix once.

inverse→solve (passes.py) turns a product reading inv(A) twice, inv(A)·inv(A)·B, into
solve(A, solve(A, B)): two LU factorisations (4n³/3 flops) against the inverse's 2n³. When the
inner solve is read by the outer one only, the two are one step here: A is factored once and the
factors solve twice, so the pair costs one factorisation, and at small sizes one set of LAPACK
calls less. The inner solve has no step (and no slot) of its own.
"""

from .expr import Solve
from .functionsteps import MatrixStep

__all__ = ["repeated_solves", "RepeatedSolveStep"]


def repeated_solves(nodes, outputs):
    """{outer: inner} for each solve(A, solve(A, B)) among ``nodes`` whose inner solve nothing else
    reads (and is no output).

    >>> import tensordiff as td
    >>> from tensordiff.passes import run_passes
    >>> from tensordiff.expr import topological
    >>> A, b = td.matrix("A", "n n"), td.vector("b", "n")
    >>> planned, _ = run_passes([td.inv(A) @ (td.inv(A) @ b)])
    >>> [(type(outer.rhs).__name__, outer.matrix is inner.matrix) for outer, inner in
    ...  repeated_solves(topological(planned), planned).items()]
    [('Solve', True)]
    """
    readers = {}
    for node in nodes:
        for child in node.children():
            readers[child] = readers.get(child, 0) + 1
    return {node: node.rhs for node in nodes
            if isinstance(node, Solve) and isinstance(node.rhs, Solve) and node.rhs.matrix is node.matrix
            and readers.get(node.rhs) == 1 and node.rhs not in outputs}


class RepeatedSolveStep(MatrixStep):
    """solve(A, solve(A, B)) from (A, B), with A factored once on numpy (boundlinalg's "solve twice")."""

    made_by = "factor once"   # a step pass's step, computing the inner solve's node beside its own
    solves = 2   # right-hand-side solves per factorisation (pricing.py)

    def __init__(self, node, backend, singular, conditioning="warn"):
        super().__init__(node, backend, singular, conditioning)
        self.kind = "solve twice"

    def describe(self):
        return "solve twice"

    def bind(self, sizes, place):
        solve, on_singular = self.operation, self.on_singular
        bound = self.bound("solve twice")
        if bound is not None:
            return bound
        return lambda a, b: solve(a, solve(a, b, on_singular), on_singular)

    def __call__(self, args, sizes, dtype):
        a, b = args
        return self.operation(a, self.operation(a, b, self.on_singular), self.on_singular)
