"""Randomized: many random well-shaped expressions, first and second derivatives vs finite differences.

Each random expression is built twice at once: with tensordiff and as a numpy function of the
values, so the value and the first derivatives are also checked against finite differences of an
implementation that shares no code with tensordiff. Data are kept well-conditioned: matrices
under inv/det/logdet are E Eᵀ + I, log/sqrt/negative powers/division only see e·e + 1, abs/relu
only see symbols whose values are away from zero, and subexpressions whose values grow large are
squashed with tanh. Seeded and deterministic; dims a = 3, b = 2.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import numeric_diff

SIZES = {"a": 3, "b": 2}
N_EXPRESSIONS = 80
TOL = 1e-6
DEPTH = 4
LIMIT = 4.0          # largest |value| a subexpression may have before it is squashed


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _softplus(v):
    return np.log1p(np.exp(v))


def _dsig(v):
    return _sigmoid(v) * (1 - _sigmoid(v))


def _d2sig(v):
    return _dsig(v) * (1 - 2 * _sigmoid(v))


def _dtanh(v):
    return 1 - np.tanh(v) ** 2


def _d2tanh(v):
    return -2 * np.tanh(v) * _dtanh(v)


FUNCTIONS = {"hr": [_softplus, _sigmoid, _dsig, _d2sig]}     # the abstract hr is softplus


class Gen:
    """Random expressions paired with numpy twins; ``V`` holds the symbols' values."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.S = {
            "r": td.scalar("r"), "q": td.scalar("q"),
            "u": td.vector("u", "a"), "v": td.vector("v", "a"), "w": td.vector("w", "b"),
            "M": td.matrix("M", "a a"), "N": td.matrix("N", "a b"), "T": td.tensor("T", "a b b"),
        }

        def away(shape):
            return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.4, 1.0, size=shape)

        self.V = {name: (float(away(())) if not sym.shape else away(tuple(SIZES[d] for d in sym.shape)))
                  for name, sym in self.S.items()}
        self.g = td.elementwise("gr", np.tanh, td.elementwise("grp", _dtanh, _d2tanh))
        self.h = td.elementwise("hr")

    # -- helpers
    def pick(self, seq):
        return seq[self.rng.integers(len(seq))]

    def sym(self, name):
        return self.S[name], (lambda V, name=name: np.asarray(V[name], dtype=float))

    def value(self, pair):
        return np.asarray(pair[1](self.V))

    def tame(self, pair):
        """Squash a subexpression whose values are large (keeps everything well-conditioned)."""
        e, f = pair
        if np.max(np.abs(self.value(pair)), initial=0.0) > LIMIT:
            return td.tanh(e), (lambda V: np.tanh(f(V)))
        return pair

    @staticmethod
    def pos(pair):
        e, f = pair
        return e * e + 1, (lambda V: f(V) * f(V) + 1)

    def spd(self, d):
        other = self.pick(["a", "b"])
        e, f = self.gen((d, other), 1)
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
            if self.rng.random() < 0.5:
                return td.diag(S["w"]), (lambda V: np.diag(V["w"]))
            return td.sum(S["T"], axis=0), (lambda V: V["T"].sum(axis=0))
        raise AssertionError(shape)

    # -- the grammar
    def gen(self, shape, depth):
        if depth <= 0 or self.rng.random() < 0.1:
            return self.leaf(shape)
        rules = [self.elementwise_binary, self.scalar_broadcast, self.unary, self.power, self.divide,
                 self.abs_relu, self.user_function]
        if shape == ():
            rules += [self.scalar_rules] * 5
        elif len(shape) == 1:
            rules += [self.vector_rules] * 4
        else:
            rules += [self.matrix_rules] * 4
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
        (e1, f1) = self.gen(shape, depth - 1)
        p, fp = self.pos(self.gen(self.pick([shape, ()]), depth - 1))
        return e1 / p, (lambda V: f1(V) / fp(V))

    def abs_relu(self, shape, depth):
        e, f = self.leaf(shape)
        if self.rng.random() < 0.5:
            return td.abs(e), (lambda V: np.abs(f(V)))
        return td.relu(e), (lambda V: np.maximum(f(V), 0))

    def user_function(self, shape, depth):
        e, f = self.gen(shape, depth - 1)
        if self.rng.random() < 0.5:
            return self.g(e), (lambda V: np.tanh(f(V)))
        return self.h(e), (lambda V: _softplus(f(V)))

    def scalar_rules(self, shape, depth):
        d = self.pick(["a", "b"])
        kind = self.pick(["dot", "trace", "sum", "norm", "det", "logdet", "quad", "einsum", "det", "logdet"])
        if kind == "dot":
            (e1, f1), (e2, f2) = self.gen((d,), depth - 1), self.gen((d,), depth - 1)
            return e1 @ e2, (lambda V: f1(V) @ f2(V))
        if kind == "trace":
            e, f = self.gen((d, d), depth - 1)
            return td.trace(e), (lambda V: np.trace(f(V)))
        if kind == "sum":
            e, f = self.gen(self.pick([(d,), (d, "a"), ("b", d)]), depth - 1)
            return td.sum(e), (lambda V: np.sum(f(V)))
        if kind == "norm":
            e, f = self.pos(self.gen(self.pick([(d,), (d, "b")]), depth - 1))
            return td.norm(e), (lambda V: np.sqrt(np.sum(f(V) ** 2)))
        if kind in ("det", "logdet"):
            e, f = self.spd(d)
            if kind == "det":
                return td.det(e), (lambda V: np.linalg.det(f(V)))
            return td.logdet(e), (lambda V: np.linalg.slogdet(f(V))[1])
        if kind == "quad":
            (x, fx), (A, fA) = self.gen((d,), depth - 1), self.spd(d)
            return x @ td.inv(A) @ x, (lambda V: fx(V) @ np.linalg.solve(fA(V), fx(V)))
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
            if self.rng.random() < 0.5:
                A, fA = self.gen((d, e2), depth - 1)
                return td.sum(A, axis=1), (lambda V: fA(V).sum(axis=1))
            A, fA = self.gen((e2, d), depth - 1)
            return td.sum(A, axis=-2), (lambda V: fA(V).sum(axis=-2))
        if kind == "solve":
            (A, fA), (x, fx) = self.spd(d), self.gen((d,), depth - 1)
            return td.inv(A) @ x, (lambda V: np.linalg.solve(fA(V), fx(V)))
        if kind == "einsum":
            (A, fA), (x, fx) = self.gen((d, e2), depth - 1), self.gen((e2,), depth - 1)
            return td.einsum("ij,j->i", A, x), (lambda V: np.einsum("ij,j->i", fA(V), fx(V)))
        # through the order-3 symbol T (a b b)
        T = self.S["T"]
        if d == "a":
            (x, fx) = self.gen(("b",), depth - 1)
            return td.einsum("ijk,k->i", T, x), (lambda V: np.einsum("ijk,k->i", V["T"], fx(V)))
        (x, fx) = self.gen(("a",), depth - 1)
        return td.einsum("ijk,i->k", T, x), (lambda V: np.einsum("ijk,i->k", V["T"], fx(V)))

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
            A, fA = self.spd(d1)
            return td.inv(A), (lambda V: np.linalg.inv(fA(V)))
        if kind == "inv_mm":
            (A, fA), (B, fB) = self.spd(d1), self.gen((d1, d2), depth - 1)
            return td.inv(A) @ B, (lambda V: np.linalg.solve(fA(V), fB(V)))
        # through T (a b b): contract or sum an axis
        T = self.S["T"]
        if shape == ("b", "b"):
            x, fx = self.gen(("a",), depth - 1)
            return td.einsum("ijk,i->jk", T, x), (lambda V: np.einsum("ijk,i->jk", V["T"], fx(V)))
        if shape == ("a", "b"):
            axis = int(self.pick([1, 2]))
            return td.sum(T, axis=axis), (lambda V: V["T"].sum(axis=axis))
        if shape == ("b", "a"):
            x, fx = self.gen(("b",), depth - 1)
            return td.einsum("ijk,j->ki", T, x), (lambda V: np.einsum("ijk,j->ki", V["T"], fx(V)))
        x, fx = self.gen(("b",), depth - 1)
        return td.einsum("ijk,k,lj->il", T, x, self.S["N"]), \
            (lambda V: np.einsum("ijk,k,lj->il", V["T"], fx(V), V["N"]))


SHAPES = [(), (), (), ("a",), ("b",), ("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]


def fd_numpy(f, V, name, eps=1e-6):
    x0 = np.asarray(V[name], dtype=float)
    f0 = np.asarray(f(V))
    out = np.zeros(f0.shape + x0.shape)
    for index in np.ndindex(*x0.shape):
        plus, minus = x0.copy(), x0.copy()
        plus[index] += eps
        minus[index] -= eps
        as_value = (lambda a: a) if x0.shape else float
        out[(Ellipsis,) + index] = (np.asarray(f({**V, name: as_value(plus)}))
                                    - np.asarray(f({**V, name: as_value(minus)}))) / (2 * eps)
    return out


def assert_fd_close(symbolic, numeric, what):
    symbolic, numeric = np.asarray(symbolic), np.asarray(numeric)
    assert symbolic.shape == numeric.shape, f"{what}: shape {symbolic.shape} != {numeric.shape}"
    assert np.all(np.isfinite(symbolic)), f"{what}: non-finite values"
    error = float(np.max(np.abs(symbolic - numeric))) if symbolic.size else 0.0
    scale = max(float(np.max(np.abs(numeric))) if numeric.size else 0.0, 1e-3)
    assert error <= TOL * scale, f"{what}: max abs error {error:.3e}, relative {error / scale:.3e}"


@pytest.mark.parametrize("seed", range(N_EXPRESSIONS))
def test_random_expression(seed):
    gen = Gen(1000 + seed)
    shape = SHAPES[seed % len(SHAPES)]
    expr, f = gen.gen(shape, DEPTH)
    V = gen.V
    sizes = tuple(SIZES[d] for d in shape)
    context = f"seed {seed}:\n{expr}"
    assert expr.shape == shape, context

    value = td.evaluate(expr, functions=FUNCTIONS, **V)
    want = np.asarray(f(V))
    assert value.shape == want.shape == sizes, context
    np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12, err_msg=context)

    names = sorted(expr.free)
    for name in names:
        wrt = gen.S[name]
        d1 = td.diff(expr, wrt)
        assert d1.shape == shape + wrt.shape, context
        got = td.evaluate(d1, functions=FUNCTIONS, **V)
        assert_fd_close(got, fd_numpy(f, V, name), f"d/d{name} vs numpy FD, {context}")
        result = td.check(expr, wrt, functions=FUNCTIONS, **V)
        assert_fd_close(result.symbolic, result.numeric, f"td.check d/d{name}, {context}")

    rng = np.random.default_rng(seed)
    for name in rng.permutation(names)[:2]:
        wrt = gen.S[name]
        result = td.check(expr, wrt, order=2, functions=FUNCTIONS, **V)
        assert result.symbolic.shape == sizes + tuple(SIZES[d] for d in wrt.shape) * 2, context
        assert_fd_close(result.symbolic, result.numeric, f"td.check order 2 d²/d{name}², {context}")

    # all of them compiled into one program (shared subexpressions planned once) give the same arrays
    first = [td.diff(expr, gen.S[name]) for name in names]
    second = [td.diff(first[0], gen.S[names[0]])] if names else []
    together = td.compile([expr, *first, *second, expr])(functions=FUNCTIONS, **V)
    alone = [td.evaluate(e, functions=FUNCTIONS, **V) for e in (expr, *first, *second)]
    for got, want in zip(together, alone + [alone[0]]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=context)
    assert together[0] is not together[-1]

    if len(names) >= 2:
        na, nb = rng.permutation(names)[:2]
        a, b = gen.S[na], gen.S[nb]
        da = td.diff(expr, a)
        dab = td.diff(da, b)
        assert dab.shape == shape + a.shape + b.shape, context
        assert_fd_close(td.evaluate(dab, functions=FUNCTIONS, **V), numeric_diff(da, b, V, functions=FUNCTIONS),
                        f"d²/d{na}d{nb}, {context}")


def test_generator_covers_the_operations():
    """The random expressions exercise every node type and function (guards the generator)."""
    from tensordiff.expr import Add, Apply, Det, Einsum, Inv, LogDet, Var, topological
    seen_types, seen_fns = set(), set()
    for seed in range(N_EXPRESSIONS):
        gen = Gen(1000 + seed)
        expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
        for node in topological([expr]):
            seen_types.add(type(node))
            if isinstance(node, Apply):
                seen_fns.add(node.fn.display if node.fn.name != "pow" else f"pow{node.fn.p:g}")
    assert {Var, Einsum, Add, Apply, Inv, Det, LogDet} <= seen_types
    assert {"tanh", "sin", "cos", "sigmoid", "exp", "log", "abs", "relu", "gr", "hr", "pow0.5", "pow2", "pow3",
            "pow-1", "pow-1.5"} <= seen_fns, seen_fns
