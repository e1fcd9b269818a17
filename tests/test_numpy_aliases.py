"""numpy's functions that are other builders under numpy's names (numpyaliases.py): values equal
numpy's on the same arrays, derivatives agree with finite differences, and arguments an expression
cannot honour are refused naming them."""

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(77)
AX = td.matrix("AX", "an ap")
AT = td.tensor("AT", "ab an ap")
AS = td.tensor("AS", "ab an an")
ax, ay = td.vector("ax", "an"), td.vector("ay", "an")
aw = td.vector("aw", "an")
VALUES = dict(AX=RNG.standard_normal((4, 3)), AT=RNG.standard_normal((2, 4, 3)), AS=RNG.standard_normal((2, 4, 4)),
              ax=RNG.standard_normal(4), ay=RNG.standard_normal(4), aw=RNG.uniform(0.5, 1.5, 4))

# (name, the expression, numpy on the values)
CASES = [
    ("swapaxes", lambda: np.swapaxes(AT, 0, 2), lambda V: np.swapaxes(V["AT"], 0, 2)),
    ("swapaxes negative", lambda: np.swapaxes(AT, -1, 1), lambda V: np.swapaxes(V["AT"], -1, 1)),
    ("moveaxis", lambda: np.moveaxis(AT, 0, -1), lambda V: np.moveaxis(V["AT"], 0, -1)),
    ("moveaxis several", lambda: np.moveaxis(AT, [0, 1], [-1, 0]), lambda V: np.moveaxis(V["AT"], [0, 1], [-1, 0])),
    ("matrix_transpose", lambda: np.matrix_transpose(AT), lambda V: np.matrix_transpose(V["AT"])),
    ("linalg.matrix_transpose", lambda: np.linalg.matrix_transpose(AX), lambda V: V["AX"].T),
    ("reshape", lambda: np.reshape(AX, -1), lambda V: np.reshape(V["AX"], -1)),
    ("flip all", lambda: np.flip(AX), lambda V: np.flip(V["AX"])),
    ("flip one axis", lambda: np.flip(AT, axis=1), lambda V: np.flip(V["AT"], axis=1)),
    ("linalg.matmul", lambda: np.linalg.matmul(AX.T, ax), lambda V: V["AX"].T @ V["ax"]),
    ("linalg.outer", lambda: np.linalg.outer(ax, ay), lambda V: np.outer(V["ax"], V["ay"])),
    ("linalg.trace", lambda: np.linalg.trace(AS), lambda V: np.linalg.trace(V["AS"])),
    ("linalg.diagonal", lambda: np.linalg.diagonal(AS), lambda V: np.linalg.diagonal(V["AS"])),
    ("linalg.vecdot", lambda: np.linalg.vecdot(AX, AX), lambda V: np.linalg.vecdot(V["AX"], V["AX"])),
    ("linalg.vecdot axis", lambda: np.linalg.vecdot(AX, AX, axis=0), lambda V: np.linalg.vecdot(V["AX"], V["AX"], axis=0)),
    ("vecdot ufunc", lambda: np.vecdot(ax, ay), lambda V: np.vecdot(V["ax"], V["ay"])),
    ("vector_norm", lambda: np.linalg.vector_norm(AX), lambda V: np.linalg.vector_norm(V["AX"])),
    ("vector_norm p", lambda: np.linalg.vector_norm(AX, axis=1, ord=3), lambda V: np.linalg.vector_norm(V["AX"], axis=1, ord=3)),
    ("vector_norm 1", lambda: np.linalg.vector_norm(AT, axis=(0, 2), ord=1),
     lambda V: np.linalg.vector_norm(V["AT"], axis=(0, 2), ord=1)),
    ("vector_norm inf keepdims", lambda: np.linalg.vector_norm(AX, axis=0, ord=np.inf, keepdims=True),
     lambda V: np.linalg.vector_norm(V["AX"], axis=0, ord=np.inf, keepdims=True)),
    ("matrix_norm", lambda: np.linalg.matrix_norm(AX), lambda V: np.linalg.matrix_norm(V["AX"])),
    ("matrix_norm 1 batched", lambda: np.linalg.matrix_norm(AT, ord=1), lambda V: np.linalg.matrix_norm(V["AT"], ord=1)),
    ("average", lambda: np.average(AX), lambda V: np.average(V["AX"])),
    ("average weights along an axis", lambda: np.average(AX, axis=0, weights=aw),
     lambda V: np.average(V["AX"], axis=0, weights=V["aw"])),
    ("average keepdims", lambda: np.average(AX, axis=0, weights=aw, keepdims=True),
     lambda V: np.average(V["AX"], axis=0, weights=V["aw"], keepdims=True)),
    ("average weights of its shape", lambda: np.average(AX, weights=AX * AX), lambda V: np.average(V["AX"], weights=V["AX"] ** 2)),
    ("average returned", lambda: np.average(AX, axis=0, weights=aw, returned=True)[1],
     lambda V: np.average(V["AX"], axis=0, weights=V["aw"], returned=True)[1]),
    ("ptp", lambda: np.ptp(AX, axis=0), lambda V: np.ptp(V["AX"], axis=0)),
    ("hypot", lambda: np.hypot(ax, ay), lambda V: np.hypot(V["ax"], V["ay"])),
    ("deg2rad", lambda: np.deg2rad(ax), lambda V: np.deg2rad(V["ax"])),
    ("radians", lambda: np.radians(ax), lambda V: np.radians(V["ax"])),
    ("rad2deg", lambda: np.rad2deg(ax), lambda V: np.rad2deg(V["ax"])),
    ("degrees", lambda: np.degrees(ax), lambda V: np.degrees(V["ax"])),
    ("float_power", lambda: np.float_power(aw, 2.5), lambda V: np.float_power(V["aw"], 2.5)),
    ("hstack vectors", lambda: np.hstack([ax, td.tanh(ay)]), lambda V: np.hstack([V["ax"], np.tanh(V["ay"])])),
    ("hstack matrices", lambda: np.hstack([AX, AX * AX]), lambda V: np.hstack([V["AX"], V["AX"] ** 2])),
    ("vstack vectors", lambda: np.vstack([ax, ay]), lambda V: np.vstack([V["ax"], V["ay"]])),
    ("vstack matrices", lambda: np.vstack([AX, td.sin(AX)]), lambda V: np.vstack([V["AX"], np.sin(V["AX"])])),
    ("column_stack", lambda: np.column_stack([ax, AX]), lambda V: np.column_stack([V["ax"], V["AX"]])),
    ("block", lambda: np.block([[AX, 2 * AX], [AX ** 2, AX]]), lambda V: np.block([[V["AX"], 2 * V["AX"]],
                                                                                  [V["AX"] ** 2, V["AX"]]])),
    ("block of vectors", lambda: np.block([[ax], [ay]]), lambda V: np.block([[V["ax"]], [V["ay"]]])),
    ("atleast_2d", lambda: np.atleast_2d(ax), lambda V: np.atleast_2d(V["ax"])),
    ("zeros_like", lambda: np.zeros_like(AX) + td.tanh(AX), lambda V: np.tanh(V["AX"])),
    ("full_like", lambda: np.full_like(ax, 3.5) * ax, lambda V: 3.5 * V["ax"]),
    ("real", lambda: np.real(AX), lambda V: V["AX"]),
]


def _values(expr):   # the sizes too: a sum of weights broadcast over an axis has no value sizing it
    return {name: VALUES[name] for name in expr.free} | dict(an=4, ap=3, ab=2)


@pytest.mark.parametrize("name, build, reference", CASES, ids=[c[0] for c in CASES])
def test_values_are_numpys(name, build, reference):
    got = td.evaluate(build(), **_values(build()))
    want = reference(VALUES)
    assert np.shape(got) == np.shape(want) and np.allclose(got, want)


@pytest.mark.parametrize("name, build, reference", CASES, ids=[c[0] for c in CASES])
def test_derivatives_match_finite_differences(name, build, reference):
    expr = build()
    wrt = {"AX": AX, "AT": AT, "AS": AS, "ax": ax, "ay": ay, "aw": aw}[sorted(expr.free)[0]]
    assert td.check(expr, wrt, **_values(expr)).max_rel_error < 1e-6


def test_the_count_returned_without_weights_is_numpys():
    total = np.average(AX, axis=1, returned=True)[1]
    assert np.array_equal(td.evaluate(total, an=4, ap=3), np.average(np.ones((4, 3)), axis=1, returned=True)[1])


def test_aliases_are_the_builders_themselves():
    assert np.swapaxes(AX, 0, 1) is AX.T
    assert np.matrix_transpose(AX) is AX.T
    assert np.linalg.vector_norm(AX) is td.norm(AX)
    assert np.linalg.matmul(AX.T, ax) is AX.T @ ax
    assert np.reshape(AX, "an·ap") is td.reshape(AX, "an·ap")


@pytest.mark.parametrize("call, error, message", [
    (lambda: np.swapaxes(AX, 0, 5), td.ShapeError, "np.swapaxes: axis 5 is out of bounds"),
    (lambda: np.moveaxis(AX, [0], [0, 1]), td.ShapeError, "same number of elements"),
    (lambda: np.moveaxis(AX, [0, 0], [0, 1]), td.ShapeError, "repeated axis in `source`"),
    (lambda: np.matrix_transpose(ax), td.ShapeError, r"np.matrix_transpose needs at least two axes, got ax \(an\)"),
    (lambda: np.reshape(AX, -1, order="F"), td.TensorDiffError, "C order only, got order='F'"),
    (lambda: np.linalg.trace(AX, offset=1), td.TensorDiffError, "does not take offset=1"),
    (lambda: np.linalg.trace(AX), td.ShapeError, r"square matrices in the last two axes, got AX \(an, ap\)"),
    (lambda: np.average(AX, axis=0, weights=td.vector("apv", "ap")), td.ShapeError, r"weights apv \(ap\)"),
    (lambda: np.vecdot(ax, ax, axis=0), td.TensorDiffError, "takes no keyword arguments, got axis"),
    (lambda: np.linalg.vector_norm(AX, ord=0), td.TensorDiffError, r"vector_norm\(ord=0\)"),
    (lambda: np.flip(AX, axis=3), td.ShapeError, "np.flip: axis 3 is out of bounds"),
    (lambda: np.linalg.outer(AX, ax), td.ShapeError, r"np.linalg.outer takes two vectors, got AX \(an, ap\)"),
    (lambda: np.ptp(AX, out=np.zeros(3)), td.TensorDiffError, "np.ptp on a tensordiff expression does not take out="),
    (lambda: np.block([[AX], AX]), td.ShapeError, "nested to different depths"),
    (lambda: np.full_like(ax, ay), td.TensorDiffError, "np.full_like fills with a number"),
    (lambda: np.zeros_like(ax, dtype=np.float32), td.TensorDiffError, "np.zeros_like on a tensordiff expression does not take dtype="),
], ids=["swapaxes", "moveaxis count", "moveaxis repeated", "matrix_transpose", "reshape order", "trace offset",
        "trace square", "average weights", "vecdot axis", "vector_norm ord", "flip axis", "outer", "ptp out",
        "block depths", "full_like expression", "zeros_like dtype"])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("call, hint", [
    (lambda: np.linalg.lstsq(AX, ax), "td.pinv(a) @ b"),
    (lambda: np.prod(ax), "td.exp(td.sum(td.log(x), axis))"),
    (lambda: np.cumprod(ax), "td.exp(td.cumsum(td.log(x), axis))"),
], ids=["lstsq", "prod", "cumprod"])
def test_refusals_say_what_to_write_instead(call, hint):
    with pytest.raises(td.TensorDiffError, match="does not take tensordiff expressions") as info:
        call()
    assert hint in str(info.value)


def test_array_attributes_of_numpy():
    """.T reverses a tensor's axes and .mT swaps the last two, as numpy's; .copy() and .conj() of an
    immutable, real expression are the expression."""
    T3 = td.tensor("AT3", "aa ab ac")
    v = RNG.standard_normal((2, 3, 4))
    assert T3.T.shape == ("ac", "ab", "aa") and np.allclose(td.evaluate(T3.T, AT3=v), v.T)
    assert T3.mT.shape == ("aa", "ac", "ab") and np.allclose(td.evaluate(T3.mT, AT3=v), np.matrix_transpose(v))
    assert AX.mT is AX.T and ax.T is ax
    assert AX.copy() is AX and AX.conj() is AX and AX.conjugate() is AX
    with pytest.raises(td.ShapeError, match=r"\.mT needs at least two axes, got shape \(an\)"):
        _ = ax.mT
