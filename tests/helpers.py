"""Helpers shared by the test files (imported as ``helpers``: pytest puts tests/ on sys.path).

Problem tables and their data, the tolerance check every comparison uses, and the bit-for-bit
check of two programs' results.
"""

import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import tensordiff as td
from tensordiff import kernels
from tensordiff.testing import numeric_diff
from tensordiff.expr import Var, topological
from tensordiff.matrixform import to_matrix


def registry(table):
    """A decorator that files each function it decorates in ``table`` under the function's name."""
    def register(fn):
        table[fn.__name__] = fn
        return fn
    return register


def rng_for(name, offset=0):
    """A generator seeded from ``name`` (the sum of its characters, plus ``offset``)."""
    return np.random.default_rng(sum(map(ord, name)) + offset)


def spd(rng, n, ridge=1.0):
    """A random n×n symmetric positive definite matrix, its eigenvalues at least ``ridge``."""
    a = rng.standard_normal((n, n)) / np.sqrt(n)
    return a @ a.T + ridge * np.eye(n)


def assert_close(actual, expected, tol, what):
    """Same shape, and the largest error at most ``tol`` relative to the largest entry (or 1)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert err <= tol * scale, f"{what}: max abs error {err:.3g} (scale {scale:.3g}, tol {tol})"


def assert_identical(got, want):
    """Two programs' results (one array or a tuple of them): the same shapes, dtypes and bits."""
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def reads_back(e, values, what):
    """Both matrix-notation texts of ``e`` (plain, and with repeated calls named) parse back, with
    every dim sized by the symbols, to ``e``'s value; how many texts there were."""
    want = np.asarray(td.evaluate(e, values), dtype=float)
    texts = [text for text in dict.fromkeys([to_matrix(e), str(td.matrix_notation(e))])
             if text is not None and not text.startswith("no matrix notation")]
    for text in texts:
        parsed = td.parse(text, symbols=symbols_of(e))
        assert parsed.ndim == e.ndim, (what, text)
        sizes = {d: n for d, n in zip(parsed.shape, want.shape) if d not in e.shape}   # tprod(eye, eye)
        assert_close(td.evaluate(parsed, values, **sizes), want, 1e-9, f"{what}: td.parse({text!r})")
    return len(texts)


def printed_forms_read_back(exprs, values, what):
    """Each expression's LaTeX and index notation print, its generated einsum code runs to its
    value, and (up to 4 axes) its matrix notation reads back (``reads_back``); how many
    matrix-notation texts were read."""
    read = 0
    problem = [n for n in topological(list(exprs)) if isinstance(n, Var)]   # size what a derivative dropped
    for e in exprs:
        assert td.latex(e) and td.index_notation(e)
        scope = {"np": np, **{k: np.asarray(x, dtype=float) for k, x in values.items()}}
        exec(td.to_einsum(e, sized_by=problem), scope)   # noqa: S102 - the generated code is what is tested
        assert_close(scope["out"], np.asarray(td.evaluate(e, values), dtype=float), 1e-10,
                     f"{what}: to_einsum of {td.index_notation(e)[:80]}")
        if e.ndim <= 4:
            read += reads_back(e, values, what)
    return read


def symbols_of(e):
    """The symbols an expression reads, in topological order."""
    return [n for n in topological([e]) if isinstance(n, Var)]


def jacfwd_of_each_order(fn, x, top):
    """[fn(x), jacfwd(fn)(x), ..., jacfwd^top(fn)(x)] as numpy arrays, from one jitted function
    (one trace, one compile): each order's function hands the orders below it, at the same point,
    through as jacfwd's auxiliary output. Nested eager jacfwd dispatches every operation on its own."""
    import jax

    def with_lower_orders(inner):
        def keep(z):
            highest, lower = inner(z)
            return highest, (*lower, highest)
        return jax.jacfwd(keep, has_aux=True)

    def value(z):
        return fn(z), ()
    every = value
    for _ in range(top):
        every = with_lower_orders(every)
    highest, lower = jax.jit(every)(x)
    return [np.asarray(d) for d in (*lower, highest)]


def in_threads(work, count):
    """Run work(k) for k < count in as many threads released together; re-raise the first error."""
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def run(k):
        try:
            barrier.wait()
            results[k] = work(k)
        except Exception as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def round_trip(expr, values):
    """The matrix notation of ``expr``: it exists, and td.parse reads it back alone to the same
    shape and an equal value."""
    text = td.matrix_notation(expr)
    assert not text.startswith("no matrix notation"), text
    back = td.parse(text)
    assert back.shape == expr.shape, (text, back.shape)
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(expr, **values), rtol=1e-10, atol=1e-12)
    return text


def jax_every_order(p):
    """Every order of a problem's jax twin (``p.twin``, of a dict of jax arrays) up to the highest
    of ``p.tops`` (symbol -> order), at ``p.values``, in one flat vector of all differentiated
    symbols (a symmetric one enters through sym(·), which gives tensordiff's convention), and the
    slices of each symbol in it."""
    import jax.numpy as jnp

    slices, start = {}, 0
    for s in p.tops:
        size = int(np.prod(np.shape(p.values[s.name]), dtype=int))
        slices[s.name] = (slice(start, start + size), np.shape(p.values[s.name]))
        start += size
    flat = np.concatenate([np.ravel(p.values[s.name]) for s in p.tops]).astype(float)

    def fn(z):
        u = {k: jnp.asarray(x, dtype=float) for k, x in p.values.items()}
        for s in p.tops:
            piece = z[slices[s.name][0]].reshape(slices[s.name][1])
            u[s.name] = (piece + piece.T) / 2 if s.symmetric else piece
        return p.twin(u)
    return jacfwd_of_each_order(fn, flat, max(p.tops.values())), slices


def block(tensor, out_ndim, parts):
    """The block of a flat jax derivative: each axis after the output's sliced to a symbol's slice
    and reshaped to its shape."""
    for k, (sl, _) in enumerate(parts):
        index = (slice(None),) * (out_ndim + k) + (sl,)
        tensor = tensor[index]
    return tensor.reshape(tensor.shape[:out_ndim] + sum((tuple(shape) for _, shape in parts), ()))


@dataclass
class Problem:
    """An independent problem: an expression, the highest order checked in each symbol, values, a
    twin written in jax.numpy (a dict of jax arrays -> jax array) and closed forms
    ({(symbol name, order): numpy array})."""
    expr: td.Expr
    tops: dict
    values: dict
    twin: Callable
    closed: dict = field(default_factory=dict)


def kernels_built():
    """Whether the compiled kernels are built (else the numpy twin is the one implementation)."""
    try:
        previous = kernels.use_compiled(True)
    except RuntimeError:
        return False
    kernels.use_compiled(previous)
    return True


def every_order_matches(p, name, orders, slices, exact, fd, fd_entries):
    """Each order of ``Problem`` p in each symbol up to its top, against jax's block (``orders``,
    ``slices``: jax_every_order's), its closed form (within ``exact``) and central differences of
    the order below (within ``fd``; above order 2 only in symbols of at most ``fd_entries``
    entries); every closed form is of an order checked."""
    values = {k: np.asarray(x, dtype=float) for k, x in p.values.items()}
    assert_close(td.evaluate(p.expr, values), orders[0], exact, f"{name}: value")
    for s, top in p.tops.items():
        below = p.expr
        for k in range(1, top + 1):
            d = td.diff(p.expr, s, order=k)
            assert d.shape == p.expr.shape + s.shape * k, (name, s.name, k, d.shape)
            got = td.evaluate(d, values)
            assert_close(got, block(orders[k], p.expr.ndim, [slices[s.name]] * k), exact,
                         f"{name}: ∂^{k}/∂{s.name}^{k} vs jax")
            if (s.name, k) in p.closed:
                assert_close(got, p.closed[(s.name, k)], exact, f"{name}: ∂^{k}/∂{s.name}^{k} vs closed form")
            if k <= 2 or values[s.name].size <= fd_entries:
                assert_close(got, numeric_diff(below, s, values), fd, f"{name}: ∂^{k}/∂{s.name}^{k} vs finite differences")
            below = d
    for (sname, k) in p.closed:
        assert any(s.name == sname and k <= top for s, top in p.tops.items()), (name, sname, k)


def symbol_values(p):
    """A Problem's values as float arrays."""
    return {k: np.asarray(x, dtype=float) for k, x in p.values.items()}


class Campaign:
    """The problems of a campaign file (a table name -> function returning a Problem), each built
    and its jax orders (``jax_every_order``) computed once, on first use."""

    def __init__(self, problems):
        self.problems, self.built, self.orders = problems, {}, {}
        self.names = sorted(problems)

    def build(self, name):
        if name not in self.built:
            self.built[name] = self.problems[name]()
        return self.built[name]

    def jax_of(self, name):
        if name not in self.orders:
            self.orders[name] = jax_every_order(self.build(name))
        return self.orders[name]


def first_and_second_blocks_match_jax(p, name, orders, slices, exact, through):
    """The derivatives of ``p`` in all its symbols at once, against jax's blocks of the flat first
    and second derivatives: through td.grad and td.hessian of the list (``through="grad"``, a
    scalar value), or td.jacobian of the list, then of the list of Jacobians when the value is not
    a scalar (``through="jacobian"``)."""
    wrt, out = list(p.tops), p.expr.ndim
    if through == "grad":
        assert out == 0, name
        firsts, seconds = list(td.grad(p.expr, wrt)), [h for row in td.hessian(p.expr, wrt) for h in row]
    else:
        firsts = list(td.jacobian(p.expr, wrt))
        seconds = ([h for row in td.hessian(p.expr, wrt) for h in row] if out == 0
                   else [h for g in firsts for h in td.jacobian(g, wrt)])
    results = td.compile([*firsts, *seconds])(symbol_values(p))
    for k, s in enumerate(wrt):
        assert_close(results[k], block(orders[1], out, [slices[s.name]]), exact, f"{name}: {through} in {s.name}")
    blocks = results[len(wrt):]
    for i, si in enumerate(wrt):
        for j, sj in enumerate(wrt):
            assert_close(blocks[i * len(wrt) + j], block(orders[2], out, [slices[si.name], slices[sj.name]]), exact,
                         f"{name}: second-derivative block ({si.name}, {sj.name})")


def kernels_and_twin_agree(exprs, values, exact, name):
    """Fresh programs of ``exprs``, one compiled with the kernels and one with the numpy twin, give
    the same results (within ``exact``); the kernels' setting is restored after."""
    previous = kernels.kernels_available()
    try:
        results = []
        for compiled in (True, False):
            kernels.use_compiled(compiled)
            results.append(td.compile(exprs)(values))
    finally:
        kernels.use_compiled(previous)
    for got, want, e in zip(results[1], results[0], exprs):
        assert_close(got, want, exact, f"{name}: twin vs kernels on {td.index_notation(e)[:60]}")


def backend_agrees(backend, problems, tol):
    """For each (name, Problem, expressions) of ``problems``, the expressions compiled on
    ``backend`` give td.evaluate's values (within ``tol``)."""
    for name, p, exprs in problems:
        values = symbol_values(p)
        want = [np.asarray(td.evaluate(e, values), dtype=float) for e in exprs]
        got = td.compile(exprs, backend=backend)(values)
        for g, w, e in zip(got, want, exprs):
            assert_close(np.asarray(g, dtype=float), w, tol, f"{name} on {backend}: {td.index_notation(e)[:60]}")


# ---------------------------------------------------------------- numpy references of the campaigns

def sym(a):
    """The symmetric part (a + aᵀ)/2 of the last two axes."""
    return (a + np.swapaxes(a, -1, -2)) / 2


def softmax_rows(z):
    """softmax along the last axis, numpy reference."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    """The logistic function, numpy reference."""
    return 1 / (1 + np.exp(-z))


def one_hot(rng, n, k):
    """n one-hot rows of k classes drawn by ``rng``."""
    return np.eye(k)[rng.integers(k, size=n)]
