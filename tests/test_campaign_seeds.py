"""Failures this session's selfcheck campaign found (seeds 50000 and up), each reduced to a minimal
expression and kept fixed; each test names the seed that found it."""

import numpy as np

import tensordiff as td
from tensordiff.matrixform import to_matrix
from tensordiff.selfcheck import check_example

R, Q = td.scalar("r"), td.scalar("q")


def _reads_back(e, values, size):
    """The matrix notation of ``e``, a vector of spread scalars, read back: its vector(1) has a dim
    of its own, sized here as e's is."""
    text = to_matrix(e)
    assert text is not None
    parsed = td.parse(text, symbols=[R, Q])
    assert len(parsed.shape) == len(e.shape), text
    np.testing.assert_allclose(td.evaluate(parsed, values, **{parsed.shape[0]: size}),
                               td.evaluate(e, values, **{e.shape[0]: size}), rtol=1e-12, err_msg=text)
    return text


def test_seed_51136_a_spread_scalar_of_a_sum_inside_maximum_is_spread_once():
    # selfcheck --seed 50900 --examples 300: example 51136, maximum(-log(1 + r*r), -q) over a vector
    # printed 'maximum(-log(1 + r*r)*vector(1), -q)*vector(1)', spread twice, which td.parse refuses.
    # Writing the sum 1 + r*r cleared the mark that lets an operand of maximum stand as a scalar.
    values = dict(r=0.3, q=-0.2)
    spread = td.maximum(-td.log(1 + R * R) * td.ones("a"), -Q * td.ones("a"))
    text = _reads_back(spread, values, 3)
    assert text.count("vector(1") == 1, text   # vector(1, size(a)): no symbol has a, so it is named
    # ... and its derivative, a where over a where of spread scalars, spread once too
    slope = td.where(-td.log(1 + R * R) > -Q, 0, td.where(-td.log(1 + R * R) < -Q, -1, -0.5)) * td.ones("a")
    assert to_matrix(slope).count("vector(1") == 1, to_matrix(slope)
    results, _ = check_example(51136, max_order=2, properties=["parse round trip"])
    assert not any(results.values()), results


def test_seed_51268_an_all_ones_vector_is_no_common_factor_of_terms_of_two_inner_sizes():
    # selfcheck --seed 51200 --examples 300 --max-order 3: example 51268, d/dr of u' inv(A + (B - r)(B - r)')
    # printed '(... *inv(M)' + ... *inv(M)'*(B - r))*vector(1)': the trailing vector(1) of the two
    # terms is (a) in one and (b) in the other, so taken out once it read back as a sum of an
    # (a, a) and an (a, b) matrix. vector(1) and matrix(1) are sized where they stand.
    A, B, u = td.matrix("A", "a a"), td.matrix("B", "a b"), td.vector("u", "a")
    rng = np.random.default_rng(51268)
    values = dict(A=3 * np.eye(3), B=rng.standard_normal((3, 2)), u=rng.standard_normal(3), r=0.3)
    slope = td.diff(u @ td.inv(A + (B - R) @ (B - R).T), R)
    text = to_matrix(slope)
    parsed = td.parse(text, symbols=[A, B, u, R])
    assert parsed.shape == ("a",), text
    np.testing.assert_allclose(td.evaluate(parsed, values), td.evaluate(slope, values), rtol=1e-12, err_msg=text)
    results, _ = check_example(51268, max_order=3, properties=["parse round trip"])
    assert not any(results.values()), results


def test_seed_61066_a_merge_of_a_repeated_index_read_as_another_merge_keeps_its_diagonal():
    # selfcheck --seed 61000 --examples 150 --max-order 3 --jax-every 10: example 61066's d/dM printed
    # 'cosh(tr(M))*unvec(vec(S)*vec(eye)')', which read back with a matrix of ones for the identity:
    # unvec(vec(eye)) is Σ_kl [k = (j,i)] [k = (l,l)], and the plan read the second merge as the first
    # (l, l) -> (j, i) without tying j to i, the diagonal that the repeated l says.
    for text in ("unvec(vec(eye))", "unvec(vec(eye)')"):
        identity = td.parse(text)   # the parser names an unsized eye's dim after the live symbols' dims
        np.testing.assert_array_equal(td.evaluate(identity, **{identity.shape[0]: 3}), np.eye(3), err_msg=text)
    A = td.matrix("A", "n n")
    values = dict(A=np.arange(9.0).reshape(3, 3) + 1)
    tied = td.parse("unvec(vec(eye)) * A", symbols=[A])   # the identity's diagonal as a matrix product's factor
    np.testing.assert_allclose(td.evaluate(tied, values), values["A"], rtol=1e-15)
    results, _ = check_example(61066, max_order=3, properties=["parse round trip"], widened=True)
    assert not any(results.values()), results
