"""Generated code sizes a dim that a symbol holds only inside a composite dim (sizecode.py): θ of dims
d·k gives k = θ.shape[0] // d, v of dims a+b gives b = v.shape[0] - a, nested composites unwrap part
by part. The code runs to the expression's value, in to_einsum and codegen, and its text depends on
the expression and the arguments only, never on which symbols are alive."""

import numpy as np
import pytest

import tensordiff as td
from helpers import assert_close

RNG = np.random.default_rng(4417)


def _merged():
    theta, X = td.vector("th_sz", "d_sz·k_sz"), td.matrix("X_sz", "n_sz d_sz")
    return td.sum(td.tanh(X @ td.reshape(theta, "d_sz k_sz"))), dict(th_sz=(3 * 4,), X_sz=(5, 3)), {}


def _concatenated():
    v, q = td.vector("v_sz", "a_sz+b_sz"), td.vector("q_sz", "a_sz")
    return td.sum(v * td.concatenate([q, td.ones("b_sz")])), dict(v_sz=(3 + 2,), q_sz=(3,)), {"b_sz": 2}


def _nested():
    # (a+c)·m: m from A, then a+c = w.shape[0] // m, then c = that - a
    w, A = td.vector("w_sz", "(a_sz+c_sz)·m_sz"), td.matrix("A_sz", "a_sz m_sz")
    e = td.sum(td.reshape(w, "a_sz+c_sz m_sz") * td.concatenate([A, td.ones("c_sz m_sz")]))
    return e, dict(w_sz=((3 + 4) * 2,), A_sz=(3, 2)), {"c_sz": 4}


def _two_unknowns_in_turn():
    # p·q·r with r from B; q only from the concatenation u of dims q+r: q = u.shape[0] - r, then p
    t, u, B = td.vector("t_sz", "p_sz·q_sz·r_sz"), td.vector("u_sz", "q_sz+r_sz"), td.vector("B_sz", "r_sz")
    e = td.sum(td.reshape(t, "p_sz q_sz r_sz") * B) + td.sum(u * td.concatenate([td.ones("q_sz"), B]))
    return e, dict(t_sz=(2 * 3 * 4,), u_sz=(3 + 4,), B_sz=(4,)), {"q_sz": 3}   # evaluation solves no sum


CASES = {"merged": _merged, "concatenated": _concatenated, "nested": _nested, "in turn": _two_unknowns_in_turn}


def _values(shapes):
    return {name: RNG.standard_normal(shape) for name, shape in shapes.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_einsum_code_derives_the_size_and_runs(case):
    e, shapes, sizes = CASES[case]()
    values = _values(shapes)
    text = td.to_einsum(e)
    assert "# " not in text, text   # every size is read or derived, none left to the caller
    scope = {"np": np, **values}
    exec(text, scope)   # noqa: S102 - the generated code is what is tested
    assert_close(scope["out"], td.evaluate(e, values, **sizes), 1e-12, text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_codegen_derives_the_size_instead_of_asking_for_it(case):
    e, shapes, sizes = CASES[case]()
    values = _values(shapes)
    source = td.codegen(e, name="f_sz")
    scope = {}
    exec(source, scope)   # noqa: S102
    assert_close(scope["f_sz"](**values), td.evaluate(e, values, **sizes), 1e-12, source)


def test_the_derived_sizes_read_as_expected():
    assert td.to_einsum(_merged()[0]).splitlines()[:2] == ["d_sz = X_sz.shape[1]", "k_sz = th_sz.shape[0] // d_sz"]
    assert td.to_einsum(_concatenated()[0]).splitlines()[:2] == ["a_sz = q_sz.shape[0]",
                                                                 "b_sz = v_sz.shape[0] - a_sz"]
    lines = td.to_einsum(_nested()[0]).splitlines()
    assert "c_sz = w_sz.shape[0] // m_sz - a_sz" in lines, lines
    assert lines.index("c_sz = w_sz.shape[0] // m_sz - a_sz") > max(lines.index("a_sz = A_sz.shape[0]"),
                                                                    lines.index("m_sz = A_sz.shape[1]"))


def test_a_size_sized_by_derives_from_a_composite_dim_of_the_symbol():
    # d(X θ)/dθ holds no θ: d is read from X, k from sized_by's θ of dims d·k
    theta, X = td.vector("th_sb", "d_sb·k_sb"), td.matrix("X_sb", "n_sb d_sb")
    g = td.diff(td.sum(X @ td.reshape(theta, "d_sb k_sb"), axis=1), theta)
    values = _values(dict(th_sb=(3 * 2,), X_sb=(4, 3)))
    text = td.to_einsum(g, sized_by=[theta])
    scope = {"np": np, **values}
    exec(text, scope)   # noqa: S102
    assert_close(scope["out"], td.evaluate(g, values), 1e-12, text)


def test_a_dim_no_shape_determines_is_still_left_to_the_caller():
    # k·k with nothing else of k: no part is known, so k is a parameter / a comment, not a guess
    s = td.vector("s_sq", "k_sq·k_sq")
    e = td.trace(td.reshape(s, "k_sq k_sq"))
    assert "# k_sq:" in td.to_einsum(e)
    assert "def f_sq(s_sq, k_sq):" in td.codegen(e, name="f_sq")


def test_the_derivation_does_not_depend_on_live_symbols():
    e = _nested()[0]
    alone = td.to_einsum(e), td.codegen(e, name="f_sz")
    decoys = [td.vector(f"{prefix}_dec", d) for prefix in ("A0", "zz") for d in ("a_sz", "c_sz", "m_sz", "a_sz+c_sz")]
    decoys += [td.matrix(f"{prefix}_dec2", "c_sz m_sz") for prefix in ("A0", "zz")]
    assert (td.to_einsum(e), td.codegen(e, name="f_sz")) == alone
    e_again = _nested()[0]
    assert e_again is e and (td.to_einsum(e_again), td.codegen(e_again, name="f_sz")) == alone
    assert decoys


def test_codegen_asserts_a_composite_axis_has_the_size_its_parts_give():
    # k = θ.shape[0] // d truncates: a θ of 7 entries with d = 3 must be refused, not read as k = 2
    e, shapes, _ = _merged()
    scope = {}
    exec(td.codegen(e, name="f_sz", asserts=True), scope)   # noqa: S102
    values = _values(shapes)
    assert_close(scope["f_sz"](**values), td.evaluate(e, values), 1e-12, "asserts on")
    with pytest.raises(AssertionError, match="th_sz: axis 0 is dim d_sz·k_sz, of size 12, got 13"):
        scope["f_sz"](**{**values, "th_sz": RNG.standard_normal(13)})


def test_codegen_asserts_a_concatenated_axis_against_parts_read_elsewhere():
    # v of dims a+b, with a and b each read off a symbol of its own: v's length is checked against a + b
    v, q, r = td.vector("v_cc", "a_cc+b_cc"), td.vector("q_cc", "a_cc"), td.vector("r_cc", "b_cc")
    e = td.sum(v * td.concatenate([q, r]))
    scope = {}
    exec(td.codegen(e, name="g_cc", asserts=True), scope)   # noqa: S102
    q_value, r_value = RNG.standard_normal(3), RNG.standard_normal(2)
    assert_close(scope["g_cc"](q_cc=q_value, r_cc=r_value, v_cc=np.ones(5)), q_value.sum() + r_value.sum(), 1e-12, "")
    with pytest.raises(AssertionError, match="v_cc: axis 0 is dim a_cc\\+b_cc, of size 5, got 6"):
        scope["g_cc"](q_cc=q_value, r_cc=r_value, v_cc=np.ones(6))
