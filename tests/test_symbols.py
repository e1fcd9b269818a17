"""Symbols are values, not global names (issue 14.2): a name declared again with other dims is a
new symbol (re-running a notebook cell works), the same dims and kind give the same symbol, values
still bind by name, and one expression that mixes two symbols of one name is a clear error."""

import gc
import pickle

import numpy as np
import pytest

import tensordiff as td
from tensordiff import symboltable as symbols_module

RNG = np.random.default_rng(14)


def test_rerunning_a_notebook_cell_with_other_dims_works():
    X = td.matrix("X", "n p")
    f = td.sum(X.T @ X)
    X = td.matrix("X", "N D")          # the cell edited and run again
    g = td.trace(X @ X.T)
    assert g.shape == () and X.shape == ("N", "D")
    value = RNG.standard_normal((4, 2))
    # both expressions keep their own X, and both evaluate with X's value bound by name
    np.testing.assert_allclose(td.evaluate(f, X=value), np.sum(value.T @ value))
    np.testing.assert_allclose(td.evaluate(g, X=value), np.trace(value @ value.T))
    np.testing.assert_allclose(td.evaluate(td.grad(g, X), X=value), 2 * value)


def test_same_dims_and_kind_give_the_same_symbol():
    assert td.matrix("X", "n p") is td.matrix("X", ("n", "p")) is td.tensor("X", "n p")
    assert td.vector("y", "n") is td.tensor("y", "n")
    assert td.scalar("lam") is td.tensor("lam", "")
    assert td.matrix("S", "n n", symmetric=True) is td.matrix("S", "n n", symmetric=True)
    assert td.matrix("S", "n n", symmetric=True) is not td.matrix("S", "n n")
    X = td.matrix("X", "n p")
    assert td.parse("X*y", X="n p") is X @ td.vector("y", "p")
    assert td.parse("X*y") is X @ td.vector("y", "p")


def test_mixing_two_symbols_of_one_name_is_an_error_naming_both():
    old, new = td.matrix("Z", "n p"), td.matrix("Z", "p n")
    y = td.vector("y", "n")
    builders = [lambda: old + new.T, lambda: old - new.T, lambda: old * new.T, lambda: old / new.T,
                lambda: old @ new, lambda: td.einsum("ij,jk->ik", old, new), lambda: td.outer(old, new),
                lambda: td.sum(old.T @ y) * td.sum(new @ y)]
    for build in builders:
        with pytest.raises(td.ShapeError) as info:
            build()
        message = str(info.value)
        assert "'Z'" in message and "(n, p)" in message and "(p, n)" in message


def test_compile_and_diff_refuse_a_mix_too():
    old = td.matrix("Z", "n p")
    f = td.sum(old)
    new = td.matrix("Z", "n q")
    g = td.sum(new)
    with pytest.raises(td.ShapeError, match="'Z'.*\\(n, p\\).*\\(n, q\\)"):
        td.compile([f, g])          # values bind by name: one Z value cannot serve both
    with pytest.raises(td.ShapeError, match="'Z'"):
        td.grad(f, new)             # the symbol differentiated is not the one f holds
    with pytest.raises(td.ShapeError, match="'Z'"):
        td.grad(f, [old, new])
    assert td.grad(f, old).shape == ("n", "p")


def test_parse_finds_symbols_passed_to_it():
    X = td.matrix("X", "n p")
    X2 = td.matrix("X", "N D")                           # declared last: what a bare name means
    assert td.parse("X*y").shape == ("N",)
    assert td.parse("X*y", X=X).shape == ("n",)          # a symbol passed as the dims of its name
    assert td.parse("X*y", symbols=[X]).shape == ("n",)
    assert td.parse("X*y", symbols={"X": X}).shape == ("n",)
    assert td.parse("X*y", symbols=X).shape == ("n",)
    assert td.parse("X*y", X="a b").shape == ("a",)      # dims given: that symbol
    assert td.parse("X'*X", X=X2) is X2.T @ X2
    with pytest.raises(td.ShapeError, match="'X'"):
        td.parse("X*y", symbols={"Y": X})
    with pytest.raises(td.ShapeError, match="'X'"):
        td.parse("X*y", symbols=[X, X2])
    with pytest.raises(td.ShapeError, match="'X'"):
        td.parse("X*y", symbols=[X], X="n p")
    with pytest.raises(td.ShapeError, match="own name"):
        td.parse("X*y", X=td.matrix("W", "n p"))
    with pytest.raises(td.ShapeError, match="symbols="):
        td.parse("X*y", symbols="X")


def test_lookup_and_declared_dims_follow_the_latest_live_declaration():
    X = td.matrix("Xl", "n_l p_l")
    assert symbols_module.lookup_symbol("Xl") is X and symbols_module.declared_dims("Xl") == ("n_l", "p_l")
    Y = td.matrix("Xl", "a_l b_l")
    assert symbols_module.lookup_symbol("Xl") is Y and symbols_module.declared_dims("Xl") == ("a_l", "b_l")
    del Y
    gc.collect()
    assert symbols_module.lookup_symbol("Xl") is X         # the only one left alive
    assert symbols_module.symbol_with_dim("a_l") == ("Xl", 0)
    assert symbols_module.symbol_with_dim("p_l") == ("Xl", 1)   # from the older declaration, still alive


def test_evaluation_binds_by_name_and_sizes_an_identity_from_another_value():
    X, lam = td.matrix("X", "n p"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p"))
    td.matrix("X", "m q")                                # a homonym declared meanwhile
    value = RNG.standard_normal((6, 3))
    np.testing.assert_allclose(td.evaluate(q, X=value, lam=0.5), np.linalg.inv(value.T @ value + 0.5 * np.eye(3)))
    np.testing.assert_allclose(td.evaluate(q, {X: value, lam: 0.5}), np.linalg.inv(value.T @ value + 0.5 * np.eye(3)))


def test_pickling_keeps_each_homonym():
    old, new = td.matrix("Xp", "n p"), td.matrix("Xp", "n q")
    f, g = td.sum(old @ td.vector("v", "p")), td.sum(new @ td.vector("w", "q"))
    assert pickle.loads(pickle.dumps(old)) is old and pickle.loads(pickle.dumps(new)) is new
    assert pickle.loads(pickle.dumps(f)) is f and pickle.loads(pickle.dumps(g)) is g
    program = pickle.loads(pickle.dumps(td.compile(td.grad(g, new))))
    np.testing.assert_allclose(program(Xp=np.ones((2, 3)), w=np.arange(3.0)), np.tile(np.arange(3.0), (2, 1)))
