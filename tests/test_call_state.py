"""What a call reads per call that it could have cached: numpy's error state (a call ignores
floating-point errors inside, and leaves the caller's state as it was, whatever that state is
when the call runs), and the signature of jax arrays (keyed first, by their abstract value)."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.numpyarrays import NumpyBackend
from tensordiff.specialise import signature


def test_a_call_ignores_errors_inside_and_keeps_each_callers_state():
    quiet = NumpyBackend(np).quiet
    x = td.vector("x", "n")
    program = td.compile(td.sum(td.log(x)))
    for state in (dict(all="raise"), dict(divide="warn", over="raise"), dict(all="ignore"), dict(all="raise")):
        with np.errstate(**state):
            before = np.geterr()
            with quiet():
                assert set(np.geterr().values()) == {"ignore"}
            assert np.geterr() == before
            assert program(x=np.array([0.0, 1.0])) == -np.inf   # log(0): no FloatingPointError, no warning
            assert np.geterr() == before
    previous = np.getbufsize()
    try:
        np.setbufsize(previous * 2)
        with quiet():   # made from the state current now, not from the one first seen
            assert np.getbufsize() == previous * 2
    finally:
        np.setbufsize(previous)


def test_jax_arrays_are_keyed_by_their_abstract_value():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    backend = td.backends.get_backend("jax")
    a, b = jnp.ones((2, 3)), jnp.ones((2, 3), dtype=jnp.float32)
    key = signature({"A": a, "n": 3, "x": np.ones(2)}, backend, dims={"n"})
    assert key == (("A", a.aval), ("n", int, 3), ("x", (2,), np.dtype(np.float64)))
    assert signature({"A": b}, backend) != signature({"A": a}, backend)
    X = td.matrix("X", "n k")
    program = td.compile(td.sum(X * X), backend="jax")
    for value in (a, jnp.full((2, 3), 2.0), jnp.ones((3, 2))):
        for _ in range(3):   # the step loop, the specialised call, the compiled one
            assert float(program(X=value)) == pytest.approx(float(np.sum(np.asarray(value) ** 2)))
