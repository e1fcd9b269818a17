"""Every derivative rule, checked against central finite differences.

Each case is an expression built with the public API together with an independent numpy
reference implementation of the same function. For each case we check

* the value against the numpy reference,
* the first derivative with respect to every symbol it uses against central finite differences
  of the *numpy reference* (independent of tensordiff's evaluator) and against ``td.check``,
* the second derivative with ``td.check(expr, wrt, order=2)``,
* every mixed second partial ∂²/∂a∂b against finite differences of ∂/∂a, and its symmetry,
* the shapes: expr.shape + wrt.shape per order.

Symbols are created inside each test (a name is one symbol only while it is alive) and every name
has one set of dims in this file: n = 3, m = 4, k = 2.
"""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

import tensordiff as td
from tensordiff.randexpr import d2sigmoid, d2tanh, d3tanh, dsigmoid, dtanh, sigmoid, softplus
from tensordiff.testing import numeric_diff

SIZES = {"n": 3, "m": 4, "k": 2}
TOL = 1e-6


# ---------------------------------------------------------------- symbols and data

def make_symbols():
    return SimpleNamespace(
        s=td.scalar("s"), t=td.scalar("t"),
        x=td.vector("x", "n"), y=td.vector("y", "n"), z=td.vector("z", "m"),
        A=td.matrix("A", "n n"), B=td.matrix("B", "n n"),
        C=td.matrix("C", "n m"), D=td.matrix("D", "m n"),
        T=td.tensor("T", "n m k"), U=td.tensor("U", "n n m"),
        # positive data (for log, sqrt, negative and fractional powers, division)
        p=td.vector("p", "n"), P=td.matrix("P", "n m"),
        # data away from zero (for abs, relu: no kink within finite-difference reach)
        w=td.vector("w", "n"), W=td.matrix("W", "n m"),
    )


def make_values(seed=0):
    rng = np.random.default_rng(seed)
    n, m, k = SIZES["n"], SIZES["m"], SIZES["k"]

    def away(shape):
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.0, size=shape)

    return {
        "s": 0.7, "t": -1.3,
        "x": 0.5 * rng.standard_normal(n), "y": 0.5 * rng.standard_normal(n),
        "z": 0.5 * rng.standard_normal(m),
        "A": np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n),
        "B": np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n),
        "C": 0.5 * rng.standard_normal((n, m)), "D": 0.5 * rng.standard_normal((m, n)),
        "T": 0.5 * rng.standard_normal((n, m, k)), "U": 0.5 * rng.standard_normal((n, n, m)),
        "p": rng.uniform(0.5, 1.5, n), "P": rng.uniform(0.5, 1.5, (n, m)),
        "w": away(n), "W": away((n, m)),
    }


# abstract h = softplus, supplied at evaluation in the two accepted forms
H_LIST = {"h": [softplus, sigmoid, dsigmoid, d2sigmoid]}
H_DICT = {"h": softplus, "h'": sigmoid, "h''": dsigmoid, "h'''": d2sigmoid}
# bound g = tanh with g' bound; g'' supplied at evaluation
G_SECOND = {"g''": d2tanh, "g'''": d3tanh}


def _bound_g():
    return td.elementwise("g", np.tanh, dtanh)


def _bound_chain():
    # deriv given as an elementwise function with its own derivative: second order needs nothing more
    return td.elementwise("gc", np.tanh, td.elementwise("gcp", dtanh, d2tanh))


# ---------------------------------------------------------------- the cases
# (id, builder(S) -> expr, numpy reference(V) -> array, functions passed at evaluation)

E = np.einsum
I3 = np.eye(SIZES["n"])

CASES = [
    # symbols
    ("var-scalar", lambda S: S.s, lambda V: np.asarray(V["s"]), None),
    ("var-vector", lambda S: S.x, lambda V: V["x"], None),
    ("var-matrix", lambda S: S.C, lambda V: V["C"], None),
    ("var-tensor3", lambda S: S.T, lambda V: V["T"], None),
    # einsum
    ("einsum-matmul", lambda S: td.einsum("ij,jk->ik", S.A, S.C), lambda V: E("ij,jk->ik", V["A"], V["C"]), None),
    ("einsum-iij", lambda S: td.einsum("iij,j->i", S.U, S.z), lambda V: E("iij,j->i", V["U"], V["z"]), None),
    ("einsum-implicit", lambda S: td.einsum("ij,jk", S.A, S.C), lambda V: E("ij,jk", V["A"], V["C"]), None),
    ("einsum-implicit-scalar", lambda S: td.einsum("ij,ij", S.C, S.P), lambda V: E("ij,ij", V["C"], V["P"]), None),
    ("einsum-implicit-transpose", lambda S: td.einsum("ji", S.C), lambda V: E("ji", V["C"]), None),
    ("einsum-trace", lambda S: td.einsum("ii", S.A), lambda V: E("ii", V["A"]), None),
    ("einsum-diagonal", lambda S: td.einsum("ii->i", S.A), lambda V: E("ii->i", V["A"]), None),
    ("einsum-transpose", lambda S: td.einsum("ij->ji", S.C), lambda V: E("ij->ji", V["C"]), None),
    ("einsum-permute3", lambda S: td.einsum("ijk->kij", S.T), lambda V: E("ijk->kij", V["T"]), None),
    ("einsum-full-sum", lambda S: td.einsum("ijk->", S.T), lambda V: E("ijk->", V["T"]), None),
    ("einsum-three-operands", lambda S: td.einsum("ijk,jl,i->kl", S.T, S.D, S.x),
     lambda V: E("ijk,jl,i->kl", V["T"], V["D"], V["x"]), None),
    ("einsum-ellipsis-left", lambda S: td.einsum("...j,j->...", S.C, S.z), lambda V: E("...j,j->...", V["C"], V["z"]), None),
    ("einsum-ellipsis-right", lambda S: td.einsum("i...,i->...", S.T, S.x), lambda V: E("i...,i->...", V["T"], V["x"]), None),
    ("einsum-ellipsis-implicit", lambda S: td.einsum("...j,j", S.C, S.z), lambda V: E("...j,j", V["C"], V["z"]), None),
    ("einsum-hadamard", lambda S: td.einsum("ij,ij->ij", S.C, S.C), lambda V: E("ij,ij->ij", V["C"], V["C"]), None),
    ("einsum-scalar-operand", lambda S: td.einsum(",ij->ij", S.s, S.C), lambda V: E(",ij->ij", V["s"], V["C"]), None),
    ("einsum-outer-repeated", lambda S: td.einsum("i,j,i->ij", S.x, S.z, S.x), lambda V: E("i,j,i->ij", V["x"], V["z"], V["x"]), None),
    # + - * / with scalar broadcast
    ("add", lambda S: S.x + S.y, lambda V: V["x"] + V["y"], None),
    ("add-scalar", lambda S: S.x + S.s, lambda V: V["x"] + V["s"], None),
    ("radd-scalar", lambda S: S.s + S.C, lambda V: V["s"] + V["C"], None),
    ("add-number", lambda S: 2.5 + S.x, lambda V: 2.5 + V["x"], None),
    ("sub", lambda S: S.A - S.B, lambda V: V["A"] - V["B"], None),
    ("sub-scalar", lambda S: S.x - S.s, lambda V: V["x"] - V["s"], None),
    ("rsub-scalar", lambda S: S.s - S.x, lambda V: V["s"] - V["x"], None),
    ("mul", lambda S: S.x * S.y, lambda V: V["x"] * V["y"], None),
    ("mul-self", lambda S: S.x * S.x, lambda V: V["x"] * V["x"], None),
    ("mul-scalar", lambda S: S.C * S.s, lambda V: V["C"] * V["s"], None),
    ("rmul-scalar", lambda S: S.s * S.x, lambda V: V["s"] * V["x"], None),
    ("mul-scalars", lambda S: S.s * S.t, lambda V: np.asarray(V["s"] * V["t"]), None),
    ("div", lambda S: S.C / S.P, lambda V: V["C"] / V["P"], None),
    ("div-scalar", lambda S: S.x / S.s, lambda V: V["x"] / V["s"], None),
    ("rdiv-scalar", lambda S: S.s / S.p, lambda V: V["s"] / V["p"], None),
    ("rdiv-number", lambda S: 2.0 / S.p, lambda V: 2.0 / V["p"], None),
    # powers
    ("pow2", lambda S: S.x ** 2, lambda V: V["x"] ** 2, None),
    ("pow3", lambda S: S.x ** 3, lambda V: V["x"] ** 3, None),
    ("pow-1", lambda S: S.p ** -1, lambda V: V["p"] ** -1.0, None),
    ("pow0.5", lambda S: S.P ** 0.5, lambda V: V["P"] ** 0.5, None),
    ("pow-1.5", lambda S: S.p ** -1.5, lambda V: V["p"] ** -1.5, None),
    ("pow-scalar", lambda S: S.s ** 3, lambda V: np.asarray(V["s"] ** 3), None),
    ("pow-of-pow", lambda S: (S.p ** 0.5) ** 3, lambda V: V["p"] ** 1.5, None),
    # unary minus, plus
    ("neg", lambda S: -S.A, lambda V: -V["A"], None),
    ("neg-tensor", lambda S: -S.T, lambda V: -V["T"], None),
    # @ in the four combinations
    ("matmul-mm", lambda S: S.A @ S.C, lambda V: V["A"] @ V["C"], None),
    ("matmul-mv", lambda S: S.C @ S.z, lambda V: V["C"] @ V["z"], None),
    ("matmul-vm", lambda S: S.x @ S.C, lambda V: V["x"] @ V["C"], None),
    ("matmul-vv", lambda S: S.x @ S.y, lambda V: np.asarray(V["x"] @ V["y"]), None),
    ("matmul-self", lambda S: S.A @ S.A, lambda V: V["A"] @ V["A"], None),
    ("matmul-chain", lambda S: S.x @ S.A @ S.C @ S.z, lambda V: np.asarray(V["x"] @ V["A"] @ V["C"] @ V["z"]), None),
    # transpose
    ("T", lambda S: S.C.T, lambda V: V["C"].T, None),
    ("T-product", lambda S: (S.A @ S.C).T @ S.x, lambda V: (V["A"] @ V["C"]).T @ V["x"], None),
    ("T-vector", lambda S: S.x.T @ S.A, lambda V: V["x"] @ V["A"], None),
    ("gram", lambda S: S.C.T @ S.C, lambda V: V["C"].T @ V["C"], None),
    # sums
    ("sum-all", lambda S: td.sum(S.T), lambda V: np.asarray(V["T"].sum()), None),
    ("sum-axis0", lambda S: td.sum(S.T, axis=0), lambda V: V["T"].sum(axis=0), None),
    ("sum-axis1", lambda S: td.sum(S.T, axis=1), lambda V: V["T"].sum(axis=1), None),
    ("sum-axis-neg", lambda S: td.sum(S.T, axis=-1), lambda V: V["T"].sum(axis=-1), None),
    ("sum-axis-tuple", lambda S: td.sum(S.T, axis=(0, 2)), lambda V: V["T"].sum(axis=(0, 2)), None),
    ("sum-axis-tuple-neg", lambda S: td.sum(S.T, axis=(-1, 0)), lambda V: V["T"].sum(axis=(-1, 0)), None),
    ("sum-matrix-axis", lambda S: td.sum(S.C * S.C, axis=1), lambda V: (V["C"] ** 2).sum(axis=1), None),
    ("sum-vector", lambda S: td.sum(S.x), lambda V: np.asarray(V["x"].sum()), None),
    # trace, diag, diagonal, outer
    ("trace", lambda S: td.trace(S.A), lambda V: np.asarray(np.trace(V["A"])), None),
    ("trace-product", lambda S: td.trace(S.A @ S.B @ S.A), lambda V: np.asarray(np.trace(V["A"] @ V["B"] @ V["A"])), None),
    ("diag", lambda S: td.diag(S.x), lambda V: np.diag(V["x"]), None),
    ("diag-product", lambda S: td.diag(S.x) @ S.A @ td.diag(S.y), lambda V: np.diag(V["x"]) @ V["A"] @ np.diag(V["y"]), None),
    ("diagonal", lambda S: td.diagonal(S.A), lambda V: np.diagonal(V["A"]).copy(), None),
    ("diagonal-product", lambda S: td.diagonal(S.A @ S.B), lambda V: np.diagonal(V["A"] @ V["B"]).copy(), None),
    ("outer-vv", lambda S: td.outer(S.x, S.z), lambda V: np.outer(V["x"], V["z"]), None),
    ("outer-mv", lambda S: td.outer(S.A, S.x), lambda V: E("ij,k->ijk", V["A"], V["x"]), None),
    ("outer-self", lambda S: td.outer(S.x, S.x), lambda V: np.outer(V["x"], V["x"]), None),
    # matrix functions
    ("inv", lambda S: td.inv(S.A), lambda V: np.linalg.inv(V["A"]), None),
    ("inv-applied", lambda S: td.inv(S.A) @ S.x, lambda V: np.linalg.solve(V["A"], V["x"]), None),
    ("inv-product", lambda S: td.inv(S.A @ S.B), lambda V: np.linalg.inv(V["A"] @ V["B"]), None),
    ("inv-spd", lambda S: td.inv(S.C @ S.C.T + S.s * td.eye("n")),
     lambda V: np.linalg.inv(V["C"] @ V["C"].T + V["s"] * I3), None),
    ("det", lambda S: td.det(S.A), lambda V: np.asarray(np.linalg.det(V["A"])), None),
    ("det-product", lambda S: td.det(S.A @ S.B.T), lambda V: np.asarray(np.linalg.det(V["A"] @ V["B"].T)), None),
    ("logdet", lambda S: td.logdet(S.A), lambda V: np.asarray(np.linalg.slogdet(V["A"])[1]), None),
    ("logdet-negative-det", lambda S: td.logdet(-S.A), lambda V: np.asarray(np.linalg.slogdet(-V["A"])[1]), None),
    ("logdet-spd", lambda S: td.logdet(S.C @ S.C.T + S.s ** 2 * td.eye("n")),
     lambda V: np.asarray(np.linalg.slogdet(V["C"] @ V["C"].T + V["s"] ** 2 * I3)[1]), None),
    ("norm-vector", lambda S: td.norm(S.x), lambda V: np.asarray(np.linalg.norm(V["x"])), None),
    ("norm-matrix", lambda S: td.norm(S.C), lambda V: np.asarray(np.linalg.norm(V["C"])), None),
    ("norm-tensor", lambda S: td.norm(S.T), lambda V: np.asarray(np.sqrt((V["T"] ** 2).sum())), None),
    ("norm-residual", lambda S: td.norm(S.A @ S.x - S.y), lambda V: np.asarray(np.linalg.norm(V["A"] @ V["x"] - V["y"])), None),
    # elementwise built-ins
    ("exp", lambda S: td.exp(S.C), lambda V: np.exp(V["C"]), None),
    ("log", lambda S: td.log(S.p), lambda V: np.log(V["p"]), None),
    ("log-of-positive", lambda S: td.log(S.x * S.x + 1), lambda V: np.log(V["x"] ** 2 + 1), None),
    ("sin", lambda S: td.sin(S.x), lambda V: np.sin(V["x"]), None),
    ("cos", lambda S: td.cos(S.C), lambda V: np.cos(V["C"]), None),
    ("tanh", lambda S: td.tanh(S.A @ S.x), lambda V: np.tanh(V["A"] @ V["x"]), None),
    ("sigmoid", lambda S: td.sigmoid(S.C), lambda V: sigmoid(V["C"]), None),
    ("sqrt", lambda S: td.sqrt(S.p), lambda V: np.sqrt(V["p"]), None),
    ("abs", lambda S: td.abs(S.w), lambda V: np.abs(V["w"]), None),
    ("abs-matrix", lambda S: td.abs(S.W) * S.C, lambda V: np.abs(V["W"]) * V["C"], None),
    ("relu", lambda S: td.relu(S.W), lambda V: np.maximum(V["W"], 0), None),
    ("relu-vector", lambda S: td.relu(S.w) * S.x, lambda V: np.maximum(V["w"], 0) * V["x"], None),
    ("exp-scalar", lambda S: td.exp(S.s * S.t), lambda V: np.asarray(np.exp(V["s"] * V["t"])), None),
    ("sin-tensor", lambda S: td.sin(S.T), lambda V: np.sin(V["T"]), None),
    ("softplus", lambda S: td.softplus(S.A @ S.x), lambda V: np.logaddexp(0.0, V["A"] @ V["x"]), None),
    ("log1p", lambda S: td.log1p(S.p), lambda V: np.log1p(V["p"]), None),
    # user elementwise functions
    ("abstract-h-list", lambda S: td.elementwise("h")(S.C), lambda V: softplus(V["C"]), H_LIST),
    ("abstract-h-dict", lambda S: td.elementwise("h")(S.A @ S.x), lambda V: softplus(V["A"] @ V["x"]), H_DICT),
    ("abstract-h-scalar", lambda S: td.elementwise("h")(S.x @ S.y), lambda V: np.asarray(softplus(V["x"] @ V["y"])), H_LIST),
    ("bound-g", lambda S: _bound_g()(S.C), lambda V: np.tanh(V["C"]), G_SECOND),
    ("bound-g-composite", lambda S: _bound_g()(S.A @ S.x) @ S.y, lambda V: np.asarray(np.tanh(V["A"] @ V["x"]) @ V["y"]), G_SECOND),
    ("bound-chain", lambda S: _bound_chain()(S.x * S.s), lambda V: np.tanh(V["x"] * V["s"]), None),
    # canonical rewrites and evaluation plans (power merging, inverse as a solve, symmetric operands)
    ("pow-merge-scaled", lambda S: S.x ** 2 * (2 * S.x), lambda V: 2 * V["x"] ** 3, None),
    ("pow-merge-matmul", lambda S: (S.x ** 2) @ (S.s * S.x), lambda V: np.asarray(V["s"] * np.sum(V["x"] ** 3)), None),
    ("pow-merge-delta", lambda S: td.diag(S.p ** -1) @ td.diag(S.p ** -1), lambda V: np.diag(V["p"] ** -2.0), None),
    ("pow-merge-sum", lambda S: td.sum(td.tanh(S.C) ** 2 * (S.s * td.tanh(S.C))),
     lambda V: np.asarray(V["s"] * np.sum(np.tanh(V["C"]) ** 3)), None),
    ("inv-vector-left", lambda S: S.x @ td.inv(S.A), lambda V: np.linalg.solve(V["A"].T, V["x"]), None),
    ("inv-transposed", lambda S: td.inv(S.A).T @ S.x, lambda V: np.linalg.inv(V["A"]).T @ V["x"], None),
    ("inv-matrix-rhs", lambda S: 2 * td.inv(S.A) @ S.C, lambda V: 2 * np.linalg.solve(V["A"], V["C"]), None),
    ("inv-used-twice", lambda S: td.inv(S.A) @ S.x + td.inv(S.A) @ S.y,
     lambda V: np.linalg.solve(V["A"], V["x"] + V["y"]), None),
    ("inv-trace", lambda S: td.trace(td.inv(S.A)), lambda V: np.asarray(np.trace(np.linalg.inv(V["A"]))), None),
    ("inv-of-scaled-transpose", lambda S: td.inv(-2 * S.A.T) @ S.x, lambda V: np.linalg.solve(-2 * V["A"].T, V["x"]), None),
    ("inv-of-inv", lambda S: td.inv(td.inv(S.A) + S.B), lambda V: np.linalg.inv(np.linalg.inv(V["A"]) + V["B"]), None),
    ("det-transpose", lambda S: td.det(S.A.T), lambda V: np.asarray(np.linalg.det(V["A"])), None),
    ("logdet-inv", lambda S: td.logdet(td.inv(S.A)), lambda V: np.asarray(-np.linalg.slogdet(V["A"])[1]), None),
    ("symmetric-transposed", lambda S: S.x @ td.tanh(S.A @ S.A.T).T @ S.y + td.sum(td.inv(S.C @ S.C.T + td.eye("n")).T @ S.A),
     lambda V: np.asarray(V["x"] @ np.tanh(V["A"] @ V["A"].T).T @ V["y"]
                          + np.sum(np.linalg.inv(V["C"] @ V["C"].T + I3).T @ V["A"])), None),
    ("symmetric-half", lambda S: td.sum((S.A @ S.A.T) * S.B), lambda V: np.asarray(np.sum((V["A"] @ V["A"].T) * V["B"])), None),
    ("broadcast-sum", lambda S: td.sum(S.s + S.C) * S.t, lambda V: np.asarray(np.sum(V["s"] + V["C"]) * V["t"]), None),
    ("norm-scalar", lambda S: td.norm(S.t), lambda V: np.asarray(abs(V["t"])), None),
    ("sum-scalar", lambda S: td.sum(S.s * S.t), lambda V: np.asarray(V["s"] * V["t"]), None),
    # a few compositions that mix rules
    ("composite-quadratic", lambda S: S.x @ td.inv(S.A) @ S.x + td.logdet(S.A @ S.A.T + td.eye("n")),
     lambda V: np.asarray(V["x"] @ np.linalg.solve(V["A"], V["x"]) + np.linalg.slogdet(V["A"] @ V["A"].T + I3)[1]), None),
    ("composite-network", lambda S: td.sum(td.sigmoid(S.C.T @ td.tanh(S.A @ S.x)) * S.z),
     lambda V: np.asarray((sigmoid(V["C"].T @ np.tanh(V["A"] @ V["x"])) * V["z"]).sum()), None),
    ("composite-det-trace", lambda S: td.det(S.A) * td.trace(td.inv(S.B) @ S.A) / S.s,
     lambda V: np.asarray(np.linalg.det(V["A"]) * np.trace(np.linalg.solve(V["B"], V["A"])) / V["s"]), None),
]

IDS = [c[0] for c in CASES]


def build(case):
    _, builder, reference, functions = case
    S = make_symbols()
    expr = builder(S)
    symbols = {name: getattr(S, name) for name in sorted(expr.free)}
    return S, expr, symbols, reference, functions


def fd_reference(reference, values, name, eps=1e-6):
    """Central differences of the numpy reference (independent of tensordiff)."""
    x0 = np.asarray(values[name], dtype=np.float64)
    f0 = np.asarray(reference(values))
    out = np.zeros(f0.shape + x0.shape)
    for index in np.ndindex(*x0.shape):
        plus, minus = x0.copy(), x0.copy()
        plus[index] += eps
        minus[index] -= eps
        fp = np.asarray(reference({**values, name: plus if x0.shape else float(plus)}))
        fm = np.asarray(reference({**values, name: minus if x0.shape else float(minus)}))
        out[(Ellipsis,) + index] = (fp - fm) / (2 * eps)
    return out


def assert_fd_close(symbolic, numeric, what):
    """max |symbolic - numeric| < TOL relative to max |numeric| (absolute below a scale of 1e-3)."""
    symbolic, numeric = np.asarray(symbolic), np.asarray(numeric)
    assert symbolic.shape == numeric.shape, f"{what}: shape {symbolic.shape} != {numeric.shape}"
    assert np.all(np.isfinite(symbolic)), f"{what}: non-finite values"
    error = float(np.max(np.abs(symbolic - numeric))) if symbolic.size else 0.0
    scale = max(float(np.max(np.abs(numeric))) if numeric.size else 0.0, 1e-3)
    assert error <= TOL * scale, f"{what}: max abs error {error:.3e}, relative {error / scale:.3e}"


def assert_check_ok(result, what):
    assert_fd_close(result.symbolic, result.numeric, what)


def sizes_of(dims):
    return tuple(SIZES[d] for d in dims)


# ---------------------------------------------------------------- tests over the cases

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_matches_numpy(case):
    S, expr, symbols, reference, functions = build(case)
    values = make_values()
    got = td.evaluate(expr, functions=functions, **values)
    want = np.asarray(reference(values))
    assert got.shape == want.shape == sizes_of(expr.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_first_derivative(case):
    S, expr, symbols, reference, functions = build(case)
    values = make_values()
    assert symbols, "every case uses at least one symbol"
    for name, sym in symbols.items():
        d = td.diff(expr, sym)
        assert d.shape == expr.shape + sym.shape
        got = td.evaluate(d, functions=functions, **values)
        assert got.shape == sizes_of(expr.shape + sym.shape)
        numeric = fd_reference(reference, values, name)
        assert np.any(numeric != 0), f"d/d{name}: the case should have a non-zero derivative"
        assert_fd_close(got, numeric, f"d/d{name} vs finite differences of numpy")
        assert_check_ok(td.check(expr, sym, functions=functions, **values), f"td.check d/d{name}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_second_derivative(case):
    S, expr, symbols, reference, functions = build(case)
    values = make_values()
    for name, sym in symbols.items():
        d2 = td.diff(expr, sym, order=2)
        assert d2.shape == expr.shape + sym.shape + sym.shape
        result = td.check(expr, sym, order=2, functions=functions, **values)
        assert result.symbolic.shape == sizes_of(expr.shape + sym.shape + sym.shape)
        assert_check_ok(result, f"td.check order 2 d²/d{name}²")


MIXED = [c for c in CASES if len(build(c)[2]) >= 2]


@pytest.mark.parametrize("case", MIXED, ids=[c[0] for c in MIXED])
def test_mixed_partials(case):
    S, expr, symbols, reference, functions = build(case)
    values = make_values()
    for (na, a), (nb, b) in itertools.permutations(symbols.items(), 2):
        da = td.diff(expr, a)
        dab = td.diff(da, b)
        assert dab.shape == expr.shape + a.shape + b.shape
        got = td.evaluate(dab, functions=functions, **values)
        numeric = numeric_diff(da, b, values, functions=functions)
        assert_fd_close(got, numeric, f"d²/d{na}d{nb}")
        # symmetry of mixed partials: ∂b∂a = ∂a∂b with the two wrt blocks swapped
        other = td.evaluate(td.diff(td.diff(expr, b), a), functions=functions, **values)
        e, ka, kb = len(expr.shape), len(a.shape), len(b.shape)
        perm = tuple(range(e)) + tuple(range(e + kb, e + kb + ka)) + tuple(range(e, e + kb))
        np.testing.assert_allclose(np.transpose(other, perm), got, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- differentiation w.r.t. each kind of symbol

@pytest.mark.parametrize("wrt_name", ["s", "x", "C", "T"])
def test_derivative_shapes_for_each_order(wrt_name):
    S = make_symbols()
    values = make_values()
    wrt = getattr(S, wrt_name)
    # an expression of shape (n,) that depends on every one of s, x, C, T
    expr = td.tanh(S.s * S.x + td.sum(td.sum(S.T, axis=2) * S.C, axis=1))
    for order in range(4):
        d = td.diff(expr, wrt, order=order)
        assert d.shape == expr.shape + wrt.shape * order
        assert td.evaluate(d, **values).shape == sizes_of(expr.shape + wrt.shape * order)
    for order in (1, 2, 3):
        assert_check_ok(td.check(expr, wrt, order=order, **values), f"order {order} w.r.t. {wrt_name}")


def test_derivative_wrt_absent_symbol_is_zero_of_right_shape():
    S = make_symbols()
    values = make_values()
    expr = S.A @ S.x
    d = td.diff(expr, S.T)
    assert d.shape == ("n", "n", "m", "k")
    got = td.evaluate(d, **values)
    assert got.shape == (3, 3, 4, 2)
    assert not np.any(got)


def test_order_zero_is_the_expression():
    S = make_symbols()
    expr = S.A @ S.x
    assert td.diff(expr, S.x, order=0) is expr


def test_derivative_of_symbol_is_identity_tensor():
    S = make_symbols()
    got = td.evaluate(td.diff(S.T, S.T), T=make_values()["T"])
    n, m, k = 3, 4, 2
    want = np.einsum("ad,be,cf->abcdef", np.eye(n), np.eye(m), np.eye(k))
    np.testing.assert_array_equal(got, want)
    s_got = td.evaluate(td.diff(S.s, S.s), s=0.3)
    assert s_got.shape == () and s_got == 1.0


def test_third_order_mixed_against_finite_differences():
    S = make_symbols()
    values = make_values()
    expr = td.logdet(S.A @ S.A.T + td.diag(S.x * S.x) + td.eye("n")) * td.sum(S.C @ S.z)
    d = td.diff(td.diff(td.diff(expr, S.A), S.x), S.z)
    assert d.shape == ("n", "n", "n", "m")
    lower = td.diff(td.diff(expr, S.A), S.x)
    assert_fd_close(td.evaluate(d, **values), numeric_diff(lower, S.z, values), "∂³/∂A∂x∂z")


def test_jacobian_grad_hessian_agree_with_diff():
    S = make_symbols()
    values = make_values()
    f = td.sum(td.tanh(S.A @ S.x) ** 2)
    np.testing.assert_allclose(td.evaluate(td.grad(f, S.x), **values), td.evaluate(td.diff(f, S.x), **values))
    H = td.evaluate(td.hessian(f, S.x), **values)
    np.testing.assert_allclose(H, td.evaluate(td.diff(f, S.x, 2), **values))
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-14)
    J = td.evaluate(td.jacobian(S.A @ S.x, S.x), **values)
    np.testing.assert_allclose(J, values["A"])
