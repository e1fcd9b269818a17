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
    assert text.count("vector(1)") == 1, text
    # ... and its derivative, a where over a where of spread scalars, spread once too
    slope = td.where(-td.log(1 + R * R) > -Q, 0, td.where(-td.log(1 + R * R) < -Q, -1, -0.5)) * td.ones("a")
    assert to_matrix(slope).count("vector(1)") == 1, to_matrix(slope)
    results, _ = check_example(51136, max_order=2, properties=["parse round trip"])
    assert not any(results.values()), results
