"""Self-check: random well-typed expressions over every operation, checked against independent references.

    python -m tensordiff.selfcheck --examples N [--seed S] [--max-order K] [--no-jax] [--quiet]

Each example is a random expression over scalars, vectors, matrices and an order-3 tensor, built
together with a numpy twin that shares no code with tensordiff (``ExpressionGenerator``). Every
property of ``PROPERTIES`` is checked on it: the value against the twin; first derivatives against
central finite differences of the twin; second (and, for small symbols, third) derivatives against
finite differences of the symbolic derivative one order lower (``confirm_by_differences``:
other steps where the first disagrees, none across a branch of maximum/where/a kink);
derivatives against jax's nested ``jacfwd`` of the expression's generated jax code (when jax is
installed); parse(matrix_notation) round trips, of the plain form and the one that names a repeated
call (t1 = ...), each read back alone with every dim sized (a constant prints its size); generated
numpy code equals evaluation; simplifier invariants; pickling. It prints a table of examples tried
and failed per property, a reproducer for each failure, and exits 1 when anything failed. The test
suite runs the same checks through a hypothesis strategy.
"""

import argparse
import inspect
import os
import pickle
import sys
import time
import traceback

import numpy as np

import tensordiff as td
from .expr import Apply, Einsum, topological
from .matrixform import to_matrix
from .printing import user_function_name
from .randexpr import DEPTH, SHAPES, SIZES, USER_FUNCTIONS, ExpressionGenerator
from .widedraws import MERGED_SHAPES
from .testing import numeric_diff
from .selfcheckcompare import EXACT_TOL, CheckFailure, assert_close, confirm_by_differences, fd_twin
from .selfcheckreading import reads_back

__all__ = ["ExpressionGenerator", "PROPERTIES", "check_example", "main", "Example", "CheckFailure", "confirm_by_differences",
           "fd_twin"]

SMALL = 4              # third derivatives only with respect to symbols of at most this many entries
# ... and only of second derivatives of at most this many nodes. The product rule keeps terms that
# are equal up to a transpose apart, so a derivative can multiply out: seed 1292's second
# derivative of 646 nodes has a third of 46,494, which takes minutes to derive (issue 16).
MAX_THIRD_ORDER_BASE = 200


# ---------------------------------------------------------------- one example and its checks

class Example:
    """A random expression with its values, twin, and memoised symbolic derivatives."""

    def __init__(self, seed, choose=None, reshaping=True, widened=False):
        self.seed = seed
        self.gen = ExpressionGenerator(seed, choose, reshaping, widened)
        shapes = SHAPES + MERGED_SHAPES if widened else SHAPES
        self.shape = shapes[self.gen.choose(len(shapes))]
        self.expr, self.twin = self.gen.gen(self.shape, DEPTH)
        self.V = self.gen.V
        self.S = self.gen.S
        self.names = sorted(self.expr.free)
        rng = np.random.default_rng(seed)
        order = [str(n) for n in rng.permutation(self.names)]
        self.second = order[:2]                                # symbols for d²/dx²
        self.mixed = tuple(order[:2]) if len(order) >= 2 else None
        small = [n for n in order if self.V[n] is not None and np.size(self.V[n]) <= SMALL]
        self.small = small[:1]
        self._derivatives = {}
        self._values = {}

    @property
    def third(self):
        """The symbols for d³/dx³: a small one whose second derivative is small enough to differentiate."""
        return [n for n in self.small if len(topological([self.d(n, n)])) <= MAX_THIRD_ORDER_BASE]

    def d(self, *names):
        """The symbolic derivative along ``names`` (memoised: each order built from the one below)."""
        if not names:
            return self.expr
        if names not in self._derivatives:
            self._derivatives[names] = td.diff(self.d(*names[:-1]), self.S[names[-1]])
        return self._derivatives[names]

    def evaluate(self, e):
        if e not in self._values:
            self._values[e] = np.asarray(td.evaluate(e, functions=USER_FUNCTIONS, **self.V))
        return self._values[e]

    def numeric(self, lower, name):
        return numeric_diff(lower, self.S[name], self.V, functions=USER_FUNCTIONS)

    def derivatives(self, max_order):
        """Every derivative the checks look at, lowest order first."""
        result = [self.d(n) for n in self.names]
        if max_order >= 2:
            result += [self.d(n, n) for n in self.second]
            if self.mixed:
                result.append(self.d(*self.mixed))
        if max_order >= 3:
            result += [self.d(n, n, n) for n in self.third]
        return result


def _check_value(ex, max_order):
    assert_close(ex.evaluate(ex.expr), ex.twin(ex.V), 1e-10, "value vs numpy twin")


def _check_first(ex, max_order):
    if not ex.names:
        return False
    applied = [confirm_by_differences(ex, ex.evaluate(ex.d(name)), name, None, f"d/d{name} vs FD of the twin",
                                      differenced=ex.evaluate(ex.expr)) for name in ex.names]
    return any(applied) or False


def _check_second(ex, max_order):
    if max_order < 2 or not ex.names:
        return False
    applied = [confirm_by_differences(ex, ex.evaluate(ex.d(name, name)), name, ex.d(name), f"d²/d{name}² vs FD",
                                      differenced=ex.evaluate(ex.d(name))) for name in ex.second]
    if ex.mixed:
        a, b = ex.mixed
        applied.append(confirm_by_differences(ex, ex.evaluate(ex.d(a, b)), b, ex.d(a), f"d²/d{a}d{b} vs FD",
                                              differenced=ex.evaluate(ex.d(a))))
    return any(applied) or False


def _check_third(ex, max_order):
    if max_order < 3 or not ex.third:
        return False
    applied = [confirm_by_differences(ex, ex.evaluate(ex.d(name, name, name)), name, ex.d(name, name),
                                      f"d³/d{name}³ vs FD", differenced=ex.evaluate(ex.d(name, name)))
               for name in ex.third]
    return any(applied) or False


def _function_arguments(source, exprs, implementations, sizes, values, name="f"):
    """Run generated ``source`` and call its function with values, user functions and dim sizes."""
    namespace = {}
    exec(compile(source, "<tensordiff codegen>", "exec"), namespace)  # noqa: S102 - our own generated code
    fn = namespace[name]
    known = dict(values)
    for node in topological(list(exprs)):
        if isinstance(node, Apply) and node.fn.user:
            known[user_function_name(node.fn)] = implementations(node.fn)
    known.update({d: s for d, s in sizes.items() if d not in known})
    args = {p: known[p] for p in inspect.signature(fn).parameters}
    return fn, args


def _numpy_implementation(fn):
    return fn.numeric if fn.numeric is not None else USER_FUNCTIONS[fn.base][fn.order]


def _check_codegen(ex, max_order):
    exprs = [ex.expr] + ex.derivatives(min(max_order, 2))
    source = td.codegen(exprs, target="numpy")
    fn, args = _function_arguments(source, exprs, _numpy_implementation, SIZES, ex.V)
    with np.errstate(all="ignore"):
        results = fn(**args)
    for k, (e, got) in enumerate(zip(exprs, results)):
        assert_close(got, ex.evaluate(e), EXACT_TOL, f"generated numpy code, output {k}")


def _check_jax(ex, max_order):
    if not ex.names:
        return False
    try:
        import jax
    except ImportError:
        return False
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    jax_impl = {"gr": jnp.tanh, "hr": jax.nn.softplus}
    source = td.codegen(ex.expr, target="jax")
    values = {k: jnp.asarray(v) for k, v in ex.V.items()}
    fn, args = _function_arguments(source, [ex.expr], lambda f: jax_impl[f.base], SIZES, values)
    wanted = [(name,) for name in ex.names]
    if max_order >= 2:
        wanted += [(name, name) for name in ex.second] + ([ex.mixed] if ex.mixed else [])
    if max_order >= 3:
        wanted += [(name,) * 3 for name in ex.third]

    def nested(names, xs):
        """jacfwd along names[0], then names[1], ...: axes in the order td.diff gives them."""
        g = lambda ys: fn(**{**args, **ys})  # noqa: E731
        for name in names:
            g = (lambda h, name: lambda ys: jax.jacfwd(lambda x: h({**ys, name: x}))(ys[name]))(g, name)
        return g(xs)

    # one compiled program per example: eager jax would dispatch (and compile) op by op
    everything = jax.jit(lambda xs: [nested(names, xs) for names in wanted])
    results = everything({name: args[name] for name in ex.names})
    for names, got in zip(wanted, results):
        assert_close(ex.evaluate(ex.d(*names)), _symmetrised(ex, names, got), EXACT_TOL,
                     f"d/d{'d'.join(names)} vs nested jax.jacfwd")


def _symmetrised(ex, names, got):
    """jax's derivative with each slot of a symmetric symbol symmetrised: sym(G), as td.diff gives it."""
    got, axis = np.asarray(got), ex.expr.ndim
    for name in names:
        if ex.S[name].symmetric:
            got = (got + np.swapaxes(got, axis, axis + 1)) / 2
        axis += ex.S[name].ndim
    return got


def _has_user_function(e):
    return any(isinstance(n, Apply) and n.fn.user for n in topological([e]))


def _check_parse_round_trip(ex, max_order):
    """Each matrix-notation text of the expression and its derivatives reads back equal: the plain
    form, and td.matrix_notation's, which names a repeated call once (t1 = ...)."""
    tried = False
    second = [d for d in ex.derivatives(max_order) if len(d.shape) > 2] if max_order >= 2 else []
    # each with the symbols it was taken by, which size what it no longer holds (sized_by=)
    printed = {ex.expr: ()} | {ex.d(n): (ex.S[n],) for n in ex.names} | {d: tuple(ex.S.values()) for d in second}
    for e, sized_by in printed.items():   # tprod notation too
        if e.ndim > 4 or _has_user_function(e):
            continue  # the parser reads up to order 4 (tprod, tbox, outer) and the built-in functions only
        text = to_matrix(e)
        if text is None:
            continue
        for written in dict.fromkeys([text, str(td.matrix_notation(e)), to_matrix(e, sized_by=sized_by)]):
            tried |= reads_back(ex, e, written)
    return tried


def _check_simplify(ex, max_order):
    for e in [ex.expr] + ex.derivatives(min(max_order, 2)):
        once = td.simplify(e)
        assert_close(ex.evaluate(once), ex.evaluate(e), EXACT_TOL, "simplify keeps the value")
        if td.simplify(once) is not once:
            raise CheckFailure("simplify is not idempotent: simplifying twice gives another node")


def _check_plan(ex, max_order):
    """No Kronecker delta is an operand of a contraction that sums over its index."""
    program = td.compile([ex.expr] + ex.derivatives(min(max_order, 2)))
    for node in program.nodes:
        if not isinstance(node, Einsum):
            continue
        for op, sub in zip(node.operands, node.subscripts):
            if isinstance(op, Einsum) and not op.operands and len(set(op.out)) < len(op.out) \
                    and any(i not in node.out for i in sub):
                raise CheckFailure(f"a dense identity is summed in the evaluation plan:\n{td.index_notation(node)}")


def _check_pickle(ex, max_order):
    for e in [ex.expr] + [ex.d(n) for n in ex.names]:
        if pickle.loads(pickle.dumps(e)) is not e:
            raise CheckFailure("an expression does not unpickle to the same (interned) node")


def _check_several(ex, max_order):
    """td.grad/td.jacobian/td.hessian of several symbols at once (a tuple, nested tuples of blocks
    as jax.hessian(argnums=...)) equal the derivatives taken one symbol at a time, which the other
    properties check; one td.compile of all of them shares their work and gives the same values."""
    if len(ex.names) < 2:
        return False
    wrt = [ex.S[n] for n in ex.names[:3]]
    firsts = td.jacobian(ex.expr, wrt) if ex.expr.shape else td.grad(ex.expr, wrt)
    wanted = [(name,) for name in ex.names[:3]]
    got = [firsts]
    if max_order >= 2 and not ex.expr.shape:
        got.append(td.hessian(ex.expr, wrt[:2]))
        wanted += [(a, b) for a in ex.names[:2] for b in ex.names[:2]]
    values = td.compile(got)(functions=USER_FUNCTIONS, **ex.V)
    flat = list(values[0]) + [block for row in values[1:] for blocks in row for block in blocks]
    if not isinstance(firsts, tuple) or len(firsts) != len(wrt):
        raise CheckFailure(f"several symbols at once gave {type(firsts).__name__}, not a tuple of {len(wrt)}")
    for names, value in zip(wanted, flat):
        assert_close(value, ex.evaluate(ex.d(*names)), EXACT_TOL, f"d/d{'d'.join(names)} of several at once")


# name: (check, what it compares). A check returns False when it does not apply to the example.
PROPERTIES = {
    "builds": (None, "the random expression builds, with the shape asked for"),
    "value": (_check_value, "value vs a numpy twin (elementwise functions: their table row's numpy)"),
    "d1 vs FD": (_check_first, "first derivatives vs central FD of the twin"),
    "d2 vs FD": (_check_second, "second derivatives (pure, mixed) vs FD of the first"),
    "d3 vs FD": (_check_third, "third derivatives (small symbols) vs FD of the second"),
    "vs jax": (_check_jax, "derivatives (orders 1..max) vs nested jax.jacfwd of generated jax code"),
    "several at once": (_check_several, "grad/jacobian/hessian of a list of symbols equal one at a time"),
    "parse round trip": (_check_parse_round_trip,
                         "td.parse(matrix notation, t1 = ... names too) sizes every dim and evaluates equal"),
    "codegen numpy": (_check_codegen, "generated numpy code equals evaluation"),
    "simplify": (_check_simplify, "simplify keeps the value and is idempotent"),
    "no summed identity": (_check_plan, "no dense identity is summed in an evaluation plan"),
    "pickle": (_check_pickle, "expressions unpickle to the same node"),
}


def check_example(seed, max_order=2, properties=None, choose=None, jax_every=1, reshaping=True, widened=False):
    """({property: None (passed), False (not applicable) or the failure text}, the example).

    jax compiles a program per example (about a second), so it checks only every ``jax_every``-th seed.

    >>> results, example = check_example(7)
    >>> [p for p, r in results.items() if r]
    []
    """
    try:
        ex = Example(seed, choose, reshaping, widened)
        if ex.expr.shape != ex.shape:
            raise CheckFailure(f"built an expression of shape {ex.expr.shape}, not {ex.shape}")
    except Exception:  # noqa: BLE001 - building must not fail either; report it as a failure
        return {"builds": traceback.format_exc()}, None
    results = {"builds": None}
    for name in properties or PROPERTIES:
        check = PROPERTIES[name][0]
        if check is None:
            continue
        if name == "vs jax" and seed % jax_every:
            results[name] = False
            continue
        try:
            applied = check(ex, max_order)
            results[name] = False if applied is False else None
        except CheckFailure as exc:
            results[name] = str(exc)
        except Exception:  # noqa: BLE001 - any crash is a failure of the property, reported in full
            results[name] = traceback.format_exc()
    return results, ex


# ---------------------------------------------------------------- the command line

def _table(counts):
    lines = [f"{'property':<20} {'tried':>7} {'failed':>7}  checks"]
    for name, (tried, failed) in counts.items():
        lines.append(f"{name:<20} {tried:>7} {failed:>7}  {PROPERTIES[name][1]}")
    return "\n".join(lines)


def run(examples, seed=0, max_order=2, properties=None, jax_every=1, out=sys.stdout, quiet=False, reshaping=True,
        widened=False):
    """Check ``examples`` random examples (seeds seed, seed+1, ...); returns {property: (tried, failed)}, failures."""
    names = list(properties or PROPERTIES)
    counts = {name: [0, 0] for name in names}
    failures = []
    large = 0   # examples whose third derivative was not taken: their second is over MAX_THIRD_ORDER_BASE nodes
    start = time.perf_counter()
    for k in range(examples):
        results, ex = check_example(seed + k, max_order, names, jax_every=jax_every, reshaping=reshaping,
                                    widened=widened)
        large += bool(max_order >= 3 and ex is not None and ex.small and not ex.third)
        for name, result in results.items():
            if result is not False:
                counts[name][0] += 1
            if result:
                counts[name][1] += 1
                failures.append((seed + k, name, result, ex.expr if ex else None))
        if not quiet and (k + 1) % 100 == 0:
            print(f"  {k + 1}/{examples} examples, {len(failures)} failures, "
                  f"{time.perf_counter() - start:.0f} s", file=out, flush=True)
    if large and not quiet:
        print(f"  {large} example(s) without a third derivative: the second has over {MAX_THIRD_ORDER_BASE} nodes",
              file=out)
    return {name: tuple(c) for name, c in counts.items()}, failures


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tensordiff.selfcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="number of random examples (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first example (default 0)")
    parser.add_argument("--max-order", type=int, default=3, choices=(1, 2, 3), help="highest derivative order")
    parser.add_argument("--no-jax", action="store_true", help="skip the comparison with jax")
    parser.add_argument("--jax-every", type=int, default=10, metavar="K",
                        help="compare with jax on every K-th example only (default 10; jax compiles each)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--without-reshaping", action="store_true",
                        help="draw no vec/kron/reshape/stack/concatenate: the seeds of runs before they were added")
    parser.add_argument("--without-widening", action="store_true",
                        help="draw no results over merged dims (vec(F), kron(A, B)): the seeds of runs below 50000")
    args = parser.parse_args(argv)
    properties = [p for p in PROPERTIES if not (args.no_jax and p == "vs jax")]
    start = time.perf_counter()
    if "jax" not in sys.modules:  # the programs jax compiles here are tiny and run once: skip LLVM's optimiser
        os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    counts, failures = run(args.examples, args.seed, args.max_order, properties, max(args.jax_every, 1),
                           quiet=args.quiet, reshaping=not args.without_reshaping,
                           widened=not (args.without_widening or args.without_reshaping))
    print(f"tensordiff selfcheck: {args.examples} examples from seed {args.seed}, max order {args.max_order}, "
          f"{time.perf_counter() - start:.0f} s")
    print(_table(counts))
    for seed, name, message, expr in failures:
        print(f"\nFAILED {name} on example seed {seed}; reproduce with\n"
              f"  python -m tensordiff.selfcheck --seed {seed} --examples 1 --max-order {args.max_order}\n"
              f"expression:\n{td.index_notation(expr) if expr is not None else '(none built)'}\n{message.rstrip()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
