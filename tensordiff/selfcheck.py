"""Self-check: random well-typed expressions over every operation, checked against independent references.

    python -m tensordiff.selfcheck --examples N [--seed S] [--max-order K] [--no-jax] [--quiet]

Each example is a random expression over scalars, vectors, matrices and an order-3 tensor, built
together with a numpy twin that shares no code with tensordiff (``ExpressionGenerator``). Every
property of ``PROPERTIES`` is checked on it: the value against the twin; first derivatives against
central finite differences of the twin; second (and, for small symbols, third) derivatives against
finite differences of the symbolic derivative one order lower; derivatives against jax's nested
``jacfwd`` of the expression's generated jax code (when jax is installed); parse(matrix_notation)
round trips; generated numpy code equals evaluation; simplifier invariants; pickling. It prints a
table of examples tried and failed per property, a reproducer for each failure, and exits 1 when
anything failed. The test suite runs the same checks through a hypothesis strategy.
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
from .testing import numeric_diff

__all__ = ["ExpressionGenerator", "PROPERTIES", "check_example", "main"]

SIZES = {"a": 3, "b": 2}
DEPTH = 4
LIMIT = 4.0            # largest |value| a subexpression may have before it is squashed with tanh
FD_TOL = 1e-6          # finite differences, relative to the largest entry (at least 1e-3)
EXACT_TOL = 1e-8       # against jax, generated code and rebuilt expressions
SHAPES = [(), (), (), ("a",), ("b",), ("a", "a"), ("a", "b"), ("b", "a"), ("b", "b"), ("a", "b", "b")]
SMALL = 4              # third derivatives only with respect to symbols of at most this many entries


# ---------------------------------------------------------------- numeric helpers of the twins

def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _softplus(v):
    return np.log1p(np.exp(v))


def _dsig(v):
    return _sigmoid(v) * (1 - _sigmoid(v))


def _d2sig(v):
    return _dsig(v) * (1 - 2 * _sigmoid(v))


def _d3sig(v):
    return _d2sig(v) * (1 - 2 * _sigmoid(v)) - 2 * _dsig(v) ** 2


def _dtanh(v):
    return 1 - np.tanh(v) ** 2


def _d2tanh(v):
    return -2 * np.tanh(v) * _dtanh(v)


def _d3tanh(v):
    return -2 * _dtanh(v) ** 2 + 4 * np.tanh(v) ** 2 * _dtanh(v)


# The abstract user function hr is softplus: its implementations are passed at evaluation.
USER_FUNCTIONS = {"hr": [_softplus, _sigmoid, _dsig, _d2sig, _d3sig]}


class ExpressionGenerator:
    """Random expressions paired with numpy twins; ``S`` holds the symbols, ``V`` their values.

    Every structural decision is ``choose(n)`` (an int in [0, n)): a seeded numpy generator by
    default, a hypothesis draw in the tests (so failures shrink towards small expressions).
    Data are kept well-conditioned: matrices under inv/det/logdet are E Eᵀ + I, log, sqrt,
    negative powers and division see only e·e + 1, abs and relu see only symbols whose values
    are away from zero, and a subexpression whose values grow large is squashed with tanh.

    >>> gen = ExpressionGenerator(seed=0)
    >>> expr, twin = gen.gen(("a", "b"), depth=3)      # twin(gen.V) == td.evaluate(expr, gen.V)
    """

    def __init__(self, seed, choose=None):
        rng = np.random.default_rng(seed)
        self.choose = choose or (lambda n: int(rng.integers(n)))
        self.S = {
            "r": td.scalar("r"), "q": td.scalar("q"),
            "u": td.vector("u", "a"), "v": td.vector("v", "a"), "w": td.vector("w", "b"),
            "M": td.matrix("M", "a a"), "N": td.matrix("N", "a b"), "T": td.tensor("T", "a b b"),
        }

        def away(shape):
            return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.4, 1.0, size=shape)

        self.V = {name: (float(away(())) if not sym.shape else away(tuple(SIZES[d] for d in sym.shape)))
                  for name, sym in self.S.items()}
        self.g = td.elementwise("gr", np.tanh, td.elementwise("grp", _dtanh, td.elementwise("grpp", _d2tanh, _d3tanh)))
        self.h = td.elementwise("hr")

    # -- helpers
    def pick(self, seq):
        return seq[self.choose(len(seq))]

    def sym(self, name):
        return self.S[name], (lambda V, name=name: np.asarray(V[name], dtype=float))

    def value(self, pair):
        return np.asarray(pair[1](self.V))

    def tame(self, pair):
        """Squash a subexpression whose values are large into (-1, 1), keeping everything well-conditioned.

        The argument is scaled to at most 1 first: a saturated tanh would lose its derivatives to
        cancellation (1 - tanh² of 10 is 1e-8, computed from two numbers near 1).
        """
        e, f = pair
        largest = np.max(np.abs(self.value(pair)), initial=0.0)
        if largest > LIMIT:
            c = 1.0 / float(np.ceil(largest))
            return td.tanh(c * e), (lambda V: np.tanh(c * f(V)))
        return pair

    @staticmethod
    def pos(pair):
        e, f = pair
        return e * e + 1, (lambda V: f(V) * f(V) + 1)

    def spd(self, d, depth):
        other = self.pick(["a", "b"])
        e, f = self.gen((d, other), depth)
        return e @ e.T + td.eye(d), (lambda V: f(V) @ f(V).T + np.eye(SIZES[d]))

    def leaf(self, shape):
        S = self.S
        if shape == ():
            return self.sym(self.pick(["r", "q"]))
        if shape == ("a",):
            return self.sym(self.pick(["u", "v"]))
        if shape == ("b",):
            return self.sym("w")
        if shape == ("a", "a"):
            return self.sym("M")
        if shape == ("a", "b"):
            return self.sym("N")
        if shape == ("b", "a"):
            return S["N"].T, (lambda V: V["N"].T)
        if shape == ("b", "b"):
            if self.choose(2):
                return td.diag(S["w"]), (lambda V: np.diag(V["w"]))
            return td.sum(S["T"], axis=0), (lambda V: V["T"].sum(axis=0))
        if shape == ("a", "b", "b"):
            return self.sym("T")
        raise AssertionError(shape)

    # -- the grammar
    def gen(self, shape, depth):
        """A random expression of ``shape`` (dims "a"/"b") at most ``depth`` operations deep, and its twin."""
        if depth <= 0 or self.choose(10) == 0:
            return self.leaf(shape)
        rules = [self.elementwise_binary, self.scalar_broadcast, self.unary, self.power, self.divide,
                 self.abs_relu, self.user_function]
        rules += [{0: self.scalar_rules, 1: self.vector_rules, 2: self.matrix_rules,
                   3: self.tensor_rules}[len(shape)]] * (5 if not shape else 4)
        return self.tame(self.pick(rules)(shape, depth))

    def elementwise_binary(self, shape, depth):
        (e1, f1), (e2, f2) = self.gen(shape, depth - 1), self.gen(shape, depth - 1)
        op = self.pick(["+", "-", "*"])
        if op == "+":
            return e1 + e2, (lambda V: f1(V) + f2(V))
        if op == "-":
            return e1 - e2, (lambda V: f1(V) - f2(V))
        return e1 * e2, (lambda V: f1(V) * f2(V))

    def scalar_broadcast(self, shape, depth):
        (e1, f1), (s, fs) = self.gen(shape, depth - 1), self.gen((), depth - 1)
        op = self.pick(["s*", "*s", "s+", "-s", "c*"])
        if op == "s*":
            return s * e1, (lambda V: fs(V) * f1(V))
        if op == "*s":
            return e1 * s, (lambda V: f1(V) * fs(V))
        if op == "s+":
            return s + e1, (lambda V: fs(V) + f1(V))
        if op == "-s":
            return -e1 - s, (lambda V: -f1(V) - fs(V))
        c = float(self.pick([0.5, -1.5, 2.0]))
        return c * e1, (lambda V: c * f1(V))

    def unary(self, shape, depth):
        e, f = self.gen(shape, depth - 1)
        name = self.pick(["tanh", "sin", "cos", "sigmoid", "exp", "exp", "neg"])
        if name == "tanh":
            return td.tanh(e), (lambda V: np.tanh(f(V)))
        if name == "sin":
            return td.sin(e), (lambda V: np.sin(f(V)))
        if name == "cos":
            return td.cos(e), (lambda V: np.cos(f(V)))
        if name == "sigmoid":
            return td.sigmoid(e), (lambda V: _sigmoid(f(V)))
        if name == "exp":
            return td.exp(e), (lambda V: np.exp(f(V)))       # |e| <= LIMIT after taming
        return -e, (lambda V: -f(V))

    def power(self, shape, depth):
        e, f = self.gen(shape, depth - 1)
        kind = self.pick(["sq", "cube", "inv", "sqrt", "-1.5", "log"])
        if kind == "sq":
            return e ** 2, (lambda V: f(V) ** 2)
        if kind == "cube":
            return e ** 3, (lambda V: f(V) ** 3)
        p, fp = self.pos((e, f))
        if kind == "inv":
            return p ** -1, (lambda V: fp(V) ** -1.0)
        if kind == "sqrt":
            return td.sqrt(p), (lambda V: np.sqrt(fp(V)))
        if kind == "-1.5":
            return p ** -1.5, (lambda V: fp(V) ** -1.5)
        return td.log(p), (lambda V: np.log(fp(V)))

    def divide(self, shape, depth):
        if self.choose(4) == 0:
            p, fp = self.pos(self.gen(shape, depth - 1))
            return 2.0 / p, (lambda V: 2.0 / fp(V))
        p, fp = self.pos(self.gen(self.pick([shape, ()]), depth - 1))
        e1, f1 = self.gen(shape, depth - 1)
        return e1 / p, (lambda V: f1(V) / fp(V))

    def abs_relu(self, shape, depth):
        e, f = self.leaf(shape)
        if self.choose(2):
            return td.abs(e), (lambda V: np.abs(f(V)))
        return td.relu(e), (lambda V: np.maximum(f(V), 0))

    def user_function(self, shape, depth):
        e, f = self.gen(shape, depth - 1)
        if self.choose(2):
            return self.g(e), (lambda V: np.tanh(f(V)))
        return self.h(e), (lambda V: _softplus(f(V)))

    def scalar_rules(self, shape, depth):
        d = self.pick(["a", "b"])
        kind = self.pick(["dot", "trace", "sum", "norm", "det", "logdet", "quad", "einsum", "det", "logdet",
                          "tensor"])
        if kind == "dot":
            (e1, f1), (e2, f2) = self.gen((d,), depth - 1), self.gen((d,), depth - 1)
            return e1 @ e2, (lambda V: f1(V) @ f2(V))
        if kind == "trace":
            e, f = self.gen((d, d), depth - 1)
            return td.trace(e), (lambda V: np.trace(f(V)))
        if kind == "sum":
            e, f = self.gen(self.pick([(d,), (d, "a"), ("b", d), ("a", "b", "b")]), depth - 1)
            return td.sum(e), (lambda V: np.sum(f(V)))
        if kind == "norm":
            e, f = self.pos(self.gen(self.pick([(d,), (d, "b")]), depth - 1))
            return td.norm(e), (lambda V: np.sqrt(np.sum(f(V) ** 2)))
        if kind in ("det", "logdet"):
            e, f = self.spd(d, depth - 1)
            if kind == "det":
                return td.det(e), (lambda V: np.linalg.det(f(V)))
            return td.logdet(e), (lambda V: np.linalg.slogdet(f(V))[1])
        if kind == "quad":
            (x, fx), (A, fA) = self.gen((d,), depth - 1), self.spd(d, depth - 1)
            return x @ td.inv(A) @ x, (lambda V: fx(V) @ np.linalg.solve(fA(V), fx(V)))
        if kind == "tensor":
            (A, fA), (x, fx) = self.gen(("a", "b", "b"), depth - 1), self.gen(("b",), depth - 1)
            return td.einsum("ijk,j,k->", A, x, x), (lambda V: np.einsum("ijk,j,k->", fA(V), fx(V), fx(V)))
        (A, fA), (x, fx) = self.gen((d, "b"), depth - 1), self.gen(("b",), depth - 1)
        (y, fy) = self.gen((d,), depth - 1)
        return td.einsum("i,ij,j->", y, A, x), (lambda V: np.einsum("i,ij,j->", fy(V), fA(V), fx(V)))

    def vector_rules(self, shape, depth):
        (d,) = shape
        e2 = self.pick(["a", "b"])
        kind = self.pick(["mv", "vm", "diagonal", "sum", "solve", "einsum", "tensor"])
        if kind == "mv":
            (A, fA), (x, fx) = self.gen((d, e2), depth - 1), self.gen((e2,), depth - 1)
            return A @ x, (lambda V: fA(V) @ fx(V))
        if kind == "vm":
            (x, fx), (A, fA) = self.gen((e2,), depth - 1), self.gen((e2, d), depth - 1)
            return x @ A, (lambda V: fx(V) @ fA(V))
        if kind == "diagonal":
            A, fA = self.gen((d, d), depth - 1)
            return td.diagonal(A), (lambda V: np.diagonal(fA(V)).copy())
        if kind == "sum":
            if self.choose(2):
                A, fA = self.gen((d, e2), depth - 1)
                return td.sum(A, axis=1), (lambda V: fA(V).sum(axis=1))
            A, fA = self.gen((e2, d), depth - 1)
            return td.sum(A, axis=-2), (lambda V: fA(V).sum(axis=-2))
        if kind == "solve":
            (A, fA), (x, fx) = self.spd(d, depth - 1), self.gen((d,), depth - 1)
            return td.inv(A) @ x, (lambda V: np.linalg.solve(fA(V), fx(V)))
        if kind == "einsum":
            (A, fA), (x, fx) = self.gen((d, e2), depth - 1), self.gen((e2,), depth - 1)
            return td.einsum("ij,j->i", A, x), (lambda V: np.einsum("ij,j->i", fA(V), fx(V)))
        T, fT = self.gen(("a", "b", "b"), depth - 1)
        if d == "a":
            (x, fx) = self.gen(("b",), depth - 1)
            return td.einsum("ijk,k->i", T, x), (lambda V: np.einsum("ijk,k->i", fT(V), fx(V)))
        (x, fx) = self.gen(("a",), depth - 1)
        return td.einsum("ijk,i->k", T, x), (lambda V: np.einsum("ijk,i->k", fT(V), fx(V)))

    def matrix_rules(self, shape, depth):
        d1, d2 = shape
        mid = self.pick(["a", "b"])
        kinds = ["mm", "T", "outer", "tensor"]
        if d1 == d2:
            kinds += ["diag", "inv", "inv_mm"]
        kind = self.pick(kinds)
        if kind == "mm":
            (A, fA), (B, fB) = self.gen((d1, mid), depth - 1), self.gen((mid, d2), depth - 1)
            return A @ B, (lambda V: fA(V) @ fB(V))
        if kind == "T":
            A, fA = self.gen((d2, d1), depth - 1)
            return A.T, (lambda V: fA(V).T)
        if kind == "outer":
            (x, fx), (y, fy) = self.gen((d1,), depth - 1), self.gen((d2,), depth - 1)
            return td.outer(x, y), (lambda V: np.outer(fx(V), fy(V)))
        if kind == "diag":
            x, fx = self.gen((d1,), depth - 1)
            return td.diag(x), (lambda V: np.diag(fx(V)))
        if kind == "inv":
            A, fA = self.spd(d1, depth - 1)
            return td.inv(A), (lambda V: np.linalg.inv(fA(V)))
        if kind == "inv_mm":
            (A, fA), (B, fB) = self.spd(d1, depth - 1), self.gen((d1, d2), depth - 1)
            return td.inv(A) @ B, (lambda V: np.linalg.solve(fA(V), fB(V)))
        # through an order-3 tensor (a b b): contract or sum an axis
        T, fT = self.gen(("a", "b", "b"), depth - 1)
        if shape == ("b", "b"):
            x, fx = self.gen(("a",), depth - 1)
            return td.einsum("ijk,i->jk", T, x), (lambda V: np.einsum("ijk,i->jk", fT(V), fx(V)))
        if shape == ("a", "b"):
            axis = int(self.pick([1, 2]))
            return td.sum(T, axis=axis), (lambda V: fT(V).sum(axis=axis))
        if shape == ("b", "a"):
            x, fx = self.gen(("b",), depth - 1)
            return td.einsum("ijk,j->ki", T, x), (lambda V: np.einsum("ijk,j->ki", fT(V), fx(V)))
        (x, fx), (N, fN) = self.gen(("b",), depth - 1), self.gen(("a", "b"), depth - 1)
        return td.einsum("ijk,k,lj->il", T, x, N), (lambda V: np.einsum("ijk,k,lj->il", fT(V), fx(V), fN(V)))

    def tensor_rules(self, shape, depth):
        kind = self.pick(["outer", "contract", "scale", "permute", "mixed"])
        if kind == "outer":
            (A, fA), (x, fx) = self.gen(("a", "b"), depth - 1), self.gen(("b",), depth - 1)
            return td.outer(A, x), (lambda V: np.einsum("ij,k->ijk", fA(V), fx(V)))
        T, fT = self.gen(shape, depth - 1)
        if kind == "contract":
            B, fB = self.gen(("b", "b"), depth - 1)
            return td.einsum("ijk,kl->ijl", T, B), (lambda V: np.einsum("ijk,kl->ijl", fT(V), fB(V)))
        if kind == "scale":
            x, fx = self.gen(("a",), depth - 1)
            return td.einsum("ijk,i->ijk", T, x), (lambda V: np.einsum("ijk,i->ijk", fT(V), fx(V)))
        if kind == "permute":
            return td.einsum("ijk->ikj", T), (lambda V: np.einsum("ijk->ikj", fT(V)))
        (A, fA), (B, fB) = self.gen(("a", "a"), depth - 1), self.gen(("b", "b"), depth - 1)
        return td.einsum("li,ijk,jk->ljk", A, T, B), (lambda V: np.einsum("li,ijk,jk->ljk", fA(V), fT(V), fB(V)))


# ---------------------------------------------------------------- one example and its checks

class Example:
    """A random expression with its values, twin, and memoised symbolic derivatives."""

    def __init__(self, seed, choose=None):
        self.seed = seed
        self.gen = ExpressionGenerator(seed, choose)
        self.shape = SHAPES[self.gen.choose(len(SHAPES))]
        self.expr, self.twin = self.gen.gen(self.shape, DEPTH)
        self.V = self.gen.V
        self.S = self.gen.S
        self.names = sorted(self.expr.free)
        rng = np.random.default_rng(seed)
        order = [str(n) for n in rng.permutation(self.names)]
        self.second = order[:2]                                # symbols for d²/dx²
        self.mixed = tuple(order[:2]) if len(order) >= 2 else None
        small = [n for n in order if self.V[n] is not None and np.size(self.V[n]) <= SMALL]
        self.third = small[:1]
        self._derivatives = {}
        self._values = {}

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


class CheckFailure(AssertionError):
    """A property does not hold on an example."""


def assert_close(got, want, tol, what):
    """|got - want| <= tol · max(|want|, 1e-3) entrywise-max, with equal shapes and finite values."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        raise CheckFailure(f"{what}: shape {got.shape} != {want.shape}")
    if not np.all(np.isfinite(got)):
        raise CheckFailure(f"{what}: non-finite values")
    error = float(np.max(np.abs(got - want))) if got.size else 0.0
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-3)
    if not error <= tol * scale:
        raise CheckFailure(f"{what}: max abs error {error:.3e}, relative {error / scale:.3e}")


def fd_twin(twin, V, name, eps=1e-6):
    """Central finite differences of the numpy twin with respect to symbol ``name``."""
    x0 = np.asarray(V[name], dtype=float)
    f0 = np.asarray(twin(V))
    out = np.zeros(f0.shape + x0.shape)
    as_value = (lambda a: a) if x0.shape else float
    for index in np.ndindex(*x0.shape):
        plus, minus = x0.copy(), x0.copy()
        plus[index] += eps
        minus[index] -= eps
        out[(Ellipsis,) + index] = (np.asarray(twin({**V, name: as_value(plus)}))
                                    - np.asarray(twin({**V, name: as_value(minus)}))) / (2 * eps)
    return out


def _check_value(ex, max_order):
    assert_close(ex.evaluate(ex.expr), ex.twin(ex.V), 1e-10, "value vs numpy twin")


def _check_first(ex, max_order):
    if not ex.names:
        return False
    for name in ex.names:
        assert_close(ex.evaluate(ex.d(name)), fd_twin(ex.twin, ex.V, name), FD_TOL, f"d/d{name} vs FD of the twin")


def _check_second(ex, max_order):
    if max_order < 2 or not ex.names:
        return False
    for name in ex.second:
        assert_close(ex.evaluate(ex.d(name, name)), ex.numeric(ex.d(name), name), FD_TOL, f"d²/d{name}² vs FD")
    if ex.mixed:
        a, b = ex.mixed
        assert_close(ex.evaluate(ex.d(a, b)), ex.numeric(ex.d(a), b), FD_TOL, f"d²/d{a}d{b} vs FD")


def _check_third(ex, max_order):
    if max_order < 3 or not ex.third:
        return False
    for name in ex.third:
        assert_close(ex.evaluate(ex.d(name, name, name)), ex.numeric(ex.d(name, name), name), FD_TOL,
                     f"d³/d{name}³ vs FD")


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
        assert_close(ex.evaluate(ex.d(*names)), got, EXACT_TOL, f"d/d{'d'.join(names)} vs nested jax.jacfwd")


def _has_user_function(e):
    return any(isinstance(n, Apply) and n.fn.user for n in topological([e]))


def _check_parse_round_trip(ex, max_order):
    tried = False
    for e in [ex.expr] + [ex.d(n) for n in ex.names]:
        if e.ndim > 2 or _has_user_function(e):
            continue  # the parser reads matrices and the built-in functions only
        text = to_matrix(e)
        if text is None:
            continue
        tried = True
        try:
            parsed = td.parse(text)
            if parsed.shape != e.shape and e.ndim == 2:  # a lone identity: the notation carries no size
                parsed = td.parse(text, eye=e.shape[0])
        except td.TensorDiffError as exc:
            raise CheckFailure(f"td.parse({text!r}) failed: {exc}") from None
        assert_close(ex.evaluate(parsed), ex.evaluate(e), EXACT_TOL, f"td.parse({text!r})")
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
        for op, sub in zip(node.operands, node.subs):
            if isinstance(op, Einsum) and not op.operands and len(set(op.out)) < len(op.out) \
                    and any(i not in node.out for i in sub):
                raise CheckFailure(f"a dense identity is summed in the evaluation plan:\n{td.index_notation(node)}")


def _check_pickle(ex, max_order):
    for e in [ex.expr] + [ex.d(n) for n in ex.names]:
        if pickle.loads(pickle.dumps(e)) is not e:
            raise CheckFailure("an expression does not unpickle to the same (interned) node")


# name: (check, what it compares). A check returns False when it does not apply to the example.
PROPERTIES = {
    "builds": (None, "the random expression builds, with the shape asked for"),
    "value": (_check_value, "value vs a numpy twin sharing no code"),
    "d1 vs FD": (_check_first, "first derivatives vs central FD of the twin"),
    "d2 vs FD": (_check_second, "second derivatives (pure, mixed) vs FD of the first"),
    "d3 vs FD": (_check_third, "third derivatives (small symbols) vs FD of the second"),
    "vs jax": (_check_jax, "derivatives (orders 1..max) vs nested jax.jacfwd of generated jax code"),
    "parse round trip": (_check_parse_round_trip, "td.parse(matrix notation) evaluates equal"),
    "codegen numpy": (_check_codegen, "generated numpy code equals evaluation"),
    "simplify": (_check_simplify, "simplify keeps the value and is idempotent"),
    "no summed identity": (_check_plan, "no dense identity is summed in an evaluation plan"),
    "pickle": (_check_pickle, "expressions unpickle to the same node"),
}


def check_example(seed, max_order=2, properties=None, choose=None, jax_every=1):
    """({property: None (passed), False (not applicable) or the failure text}, the example).

    jax compiles a program per example (about a second), so it checks only every ``jax_every``-th seed.

    >>> results, example = check_example(7)
    >>> [p for p, r in results.items() if r]
    []
    """
    try:
        ex = Example(seed, choose)
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


def run(examples, seed=0, max_order=2, properties=None, jax_every=1, out=sys.stdout, quiet=False):
    """Check ``examples`` random examples (seeds seed, seed+1, ...); returns {property: (tried, failed)}, failures."""
    names = list(properties or PROPERTIES)
    counts = {name: [0, 0] for name in names}
    failures = []
    start = time.perf_counter()
    for k in range(examples):
        results, ex = check_example(seed + k, max_order, names, jax_every=jax_every)
        for name, result in results.items():
            if result is not False:
                counts[name][0] += 1
            if result:
                counts[name][1] += 1
                failures.append((seed + k, name, result, ex.expr if ex else None))
        if not quiet and (k + 1) % 100 == 0:
            print(f"  {k + 1}/{examples} examples, {len(failures)} failures, "
                  f"{time.perf_counter() - start:.0f} s", file=out, flush=True)
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
    args = parser.parse_args(argv)
    properties = [p for p in PROPERTIES if not (args.no_jax and p == "vs jax")]
    start = time.perf_counter()
    if "jax" not in sys.modules:  # the programs jax compiles here are tiny and run once: skip LLVM's optimiser
        os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    counts, failures = run(args.examples, args.seed, args.max_order, properties, max(args.jax_every, 1),
                           quiet=args.quiet)
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
