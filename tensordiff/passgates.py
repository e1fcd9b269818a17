"""Which planning passes a backend runs, which it skips, and why: the plan's record of both.

Every backend gets the same plan. The expression passes (passes.EXPRESSION_PASSES) rewrite the
graph before any array library is involved, and term splitting and pair reuse plan on that graph,
so all of them fire alike on every backend. A few step passes choose an operation that only some
libraries have; each is gated by one capability of the backend (``PASS_GATES``: pass name -> the
backend attribute that enables it), and a backend whose capability is off says why in its
``declines`` table ({attribute: reason}). ``skipped_passes`` reads the two together, and
``fired_passes`` reads a compiled program's steps for the passes that made or changed them;
``program.explain()`` prints both, and tests/test_backend_passes.py checks, on the benchmark
problems, that every pass the numpy plan makes is made on each other backend or skipped there
with a reason, so that a pass silently missing on a backend fails a test.
"""

from .errors import EvaluationError
from .expr import Var
from .passes import AS_DERIVED, EXPRESSION_PASSES, STEP_PASSES, made_by

__all__ = ["PASS_GATES", "skipped_passes", "fired_passes"]

# step pass -> the backend capability it needs (numpyarrays.NumpyBackend documents each)
PASS_GATES = {
    "one-pass sums": "writes_in_place",
    "buffer reuse": "writes_in_place",
    "Gram products": "gram_products",
    "specialisation": "specialises",
}


def skipped_passes(backend):
    """{pass name: why} for each planning pass that ``backend`` does not run, in the passes' order.

    >>> from tensordiff.backends import get_backend
    >>> skipped_passes(get_backend("numpy"))
    {}
    """
    skipped = {}
    for name, capability in PASS_GATES.items():
        if not getattr(backend, capability):
            reason = backend.declines.get(capability)
            if not reason:   # a capability turned off must say why: the plan reports it
                raise EvaluationError(f"backend {backend.name!r} turns {capability} off without a reason "
                                      f"in its declines table (pass {name!r})")
            skipped[name] = reason
    return skipped


def fired_passes(program):
    """The names of the planning passes that made or changed a step of ``program``, in the passes' order.

    Read from the steps themselves: the pass that made each step (passes.made_by), a sum written in
    one pass, a Gram product, a product reading a reused pair, a step writing into a dying
    argument's buffer; "specialisation" where the backend specialises its calls.

    >>> import tensordiff as td
    >>> A, b = td.matrix("A", "n n"), td.vector("b", "n")
    >>> fired_passes(td.compile(td.inv(A) @ b))
    ('inverse→solve', 'specialisation')
    """
    fired = {name for name in made_by(program).values() if name not in ("input", AS_DERIVED)}
    for node, step, _, _ in program.steps:
        if isinstance(node, Var):
            continue
        if getattr(step, "fused", None) is not None:
            fired.add("one-pass sums")
        if getattr(step, "gram", None) is not None:
            fired.add("Gram products")
        if node in program.reads:
            fired.add("pair reuse")
        if getattr(getattr(step, "fused", None) or step, "donor", None) is not None:
            fired.add("buffer reuse")
    if program.backend.specialises:
        fired.add("specialisation")
    return tuple(p.name for p in EXPRESSION_PASSES + STEP_PASSES if p.name in fired)
