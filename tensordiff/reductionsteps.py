"""Evaluation steps of reductions, soft maxima, running sums and differences, masks, cholesky,
pinv and eigh, on every backend.

Each step runs through an ``ArrayOps`` over a namespace with numpy's names (numpy, dask.array,
jax.numpy, cupy) or ``TorchOps``. logsumexp and softmax shift by the max first, so no exp
overflows (a max that is ±inf or nan shifts by 0, which keeps IEEE results: logsumexp of all
-inf is -inf). ``where`` picks entries, never multiplying the branch it discards. cholesky
refuses a matrix that is not positive definite with an EvaluationError naming it, and checks
its factor's conditioning as inv and solve do (conditioning.cholesky_rcond). pinv is the backend's
(an SVD), defined for every finite matrix; one with a nan or inf entry gives nan entries.

>>> import numpy as np, tensordiff as td
>>> v = td.vector("v", "n")
>>> td.evaluate(td.logsumexp(1000 + v), v=np.zeros(3))          # no exp(1000) is formed
array(1001.09861229)
>>> td.evaluate(td.where(v > 0, td.log(v), 0), v=np.array([-1.0, 0.0, np.e]))   # log(-1) is never used
array([0., 0., 1.])
"""

import functools
import operator

import numpy as np

from . import conditioning, deferredchecks
from .backends import OnSingular
from .errors import EvaluationError
from .expr import Add, Cholesky, Einsum, Pinv, Var
from .reductionnodes import Compare, CumSum, Diff, LogSumExp, Max, Maximum, Softmax, Triangle, Where
from .spectralnodes import EigVals, EigVecs
from .printing import short
from .einsumnodes import transpose

__all__ = ["REDUCTION_PLANS", "CONDITIONED_PLANS", "ArrayOps", "TorchOps", "DaskOps", "ops_for"]

_RELATIONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


class ArrayOps:
    """The operations over a module with numpy's names (``xp``)."""

    def __init__(self, xp):
        self.xp = xp

    def max(self, x, axes):
        return self.xp.max(x, axis=axes)

    def shift(self, x, axes):
        """The max along ``axes`` (kept as size-1 axes), 0 where it is not finite."""
        m = self.xp.max(x, axis=axes, keepdims=True)
        return self.xp.where(self.xp.isfinite(m), m, self.xp.zeros_like(m))

    def logsumexp(self, x, axes):
        m = self.shift(x, axes)
        return self.xp.squeeze(m, axis=axes) + self.xp.log(self.xp.sum(self.xp.exp(x - m), axis=axes))

    def log(self, x):
        return self.xp.log(x)

    def pad(self, x, widths):
        return self.xp.pad(x, widths)

    def softmax(self, x, axes):
        e = self.xp.exp(x - self.shift(x, axes))
        return e / self.xp.sum(e, axis=axes, keepdims=True)

    def compare(self, op, a, b):
        return self.xp.where(_RELATIONS[op](a, b), self.xp.ones_like(a), self.xp.zeros_like(a))

    def where(self, mask, a, b):
        return self.xp.where(mask != 0, a, b)

    def maximum(self, a, b):
        return self.xp.maximum(a, b)

    def cumsum(self, x, axes):
        return self.xp.cumsum(x, axis=axes[0])

    def diff(self, x, axes):
        return self.xp.diff(x, axis=axes[0])


class TorchOps(ArrayOps):
    """torch spells the reductions with ``dim=`` and has logsumexp built in."""

    def max(self, x, axes):
        return self.xp.amax(x, dim=axes)

    def logsumexp(self, x, axes):
        return self.xp.logsumexp(x, dim=axes)

    def softmax(self, x, axes):
        return self.xp.exp(x - self.xp.logsumexp(x, dim=axes, keepdim=True))

    def cumsum(self, x, axes):
        return self.xp.cumsum(x, dim=axes[0])

    def diff(self, x, axes):
        return self.xp.diff(x, dim=axes[0])


class DaskOps(ArrayOps):
    """dask's tasks run numpy when the array is computed, outside the call's ``np.errstate``: the
    elementwise parts of the soft maxima run in blocks that ignore numpy's floating-point errors,
    so -inf, inf and nan give numpy's backend's values without its warnings (the reductions
    between them, max and a sum of exp >= 0, warn about nothing)."""

    def quietly(self, function, *arrays):
        return self.xp.map_blocks(_quietly, function, *arrays, dtype=np.result_type(*arrays))

    def logsumexp(self, x, axes):
        m = self.shift(x, axes)
        total = self.xp.sum(self.quietly(_exp_of_difference, x, m), axis=axes)
        return self.quietly(_plus_log, self.xp.squeeze(m, axis=axes), total)

    def softmax(self, x, axes):
        e = self.quietly(_exp_of_difference, x, self.shift(x, axes))
        return self.quietly(np.divide, e, self.xp.sum(e, axis=axes, keepdims=True))

    def log(self, x):
        return self.quietly(np.log, x)

    def pad(self, x, widths):
        if x.size:
            return self.xp.pad(x, widths)
        shape = tuple(n + before + after for n, (before, after) in zip(x.shape, widths))
        return self.xp.zeros(shape, dtype=x.dtype)   # dask's pad divides by an empty array's chunk length


def _quietly(function, *blocks):
    with np.errstate(all="ignore"):
        return function(*blocks)


def _exp_of_difference(x, m):
    return np.exp(x - m)


def _plus_log(m, total):
    return m + np.log(total)


def ops_for(backend):
    """The ArrayOps of a backend (backends.get_backend's object)."""
    if backend.name == "torch":
        return TorchOps(backend.lib)
    if backend.name == "dask":
        return DaskOps(backend.lib)
    return ArrayOps(np if backend.name == "numpy" else backend.lib)


# ---------------------------------------------------------------- cholesky

def _not_positive_definite(node):
    return EvaluationError(f"cholesky of a matrix that is not positive definite: {_matrix_label(node.arg)} "
                           "(its symmetric part has an eigenvalue <= 0)")


def _matrix_label(arg):
    """The matrix the user factored: B for the symmetric part 0.5 (B + Bᵀ) that td.cholesky wrote."""
    if isinstance(arg, Einsum) and arg.coeff == 0.5 and len(arg.operands) == 1 and isinstance(arg.operands[0], Add):
        terms = arg.operands[0].terms
        for term in terms:
            if len(terms) == 2 and transpose(term, (1, 0)) in terms and term is not transpose(term, (1, 0)) \
                    and not (isinstance(term, Einsum) and len(term.operands) == 1 and term.subscripts[0] != term.out):
                return term.name if isinstance(term, Var) else short(term, 80)
    return arg.name if isinstance(arg, Var) else short(arg, 80)


def _numpy_cholesky(a, label, on_conditioning=None):
    """np.linalg.cholesky, with a failure raising EvaluationError(label), or giving NaN when label is None;
    the factor's rcond estimate checked by ``on_conditioning`` (an OnSingular) unless it is None."""
    try:
        with np.errstate(all="ignore"):
            factor = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        factor = np.full(a.shape, np.nan, dtype=a.dtype)
    finite = bool(np.all(np.isfinite(np.diagonal(factor))))
    if label is not None and not finite and np.all(np.isfinite(a)):
        raise EvaluationError(label)
    if finite:
        _check_conditioning(a, factor, on_conditioning)
    return factor


def _check_conditioning(a, factor, on_conditioning):
    """The conditioning policy on the factor of a positive definite ``a`` (pocon, or the diagonal's bound)."""
    if on_conditioning is not None and on_conditioning.checks_conditioning and a.shape[0]:
        with np.errstate(all="ignore"):
            on_conditioning.check_conditioning(conditioning.cholesky_rcond(a, factor), factor.dtype)


def _defer_checks(lib, a, factor, label, on_conditioning):
    """In a call that tensordiff compiled (jax.jit), record the traced failure flag and rcond
    estimate, for the policies to run after the call as they run eagerly (deferredchecks.py)."""
    if not deferredchecks.active():
        return
    failed = lib.isnan(factor).any() & ~lib.isnan(a).any()
    checks = on_conditioning.checks_conditioning and a.shape[0]
    rcond = conditioning.cholesky_rcond(a, factor) if checks else None
    deferredchecks.defer(failed, rcond, None if label is None else functools.partial(_refuse, label), on_conditioning,
                         factor.dtype)


def _refuse(label):
    raise EvaluationError(label)


def _cholesky_step(node, backend, singular, conditioning_policy="warn"):
    """Not positive definite: an EvaluationError naming the matrix, or NaN with singular="nan".
    Ill-conditioned: an IllConditionedWarning (or error) naming it, per ``conditioning_policy``;
    a traced value (jax.jit, torch.compile) takes the NaN path and is not checked."""
    label = str(_not_positive_definite(node)) if singular == "raise" else None
    on_conditioning = OnSingular(singular, "cholesky", _matrix_label(node.arg), conditioning_policy)
    name, lib = backend.name, backend.lib

    def run(args, sizes, place):
        (a,) = args
        if name == "numpy":
            return _numpy_cholesky(a, label, on_conditioning)
        if name == "dask":
            return a.rechunk(-1).map_blocks(_numpy_cholesky, label, on_conditioning, dtype=a.dtype)
        if backend.traced(a):   # no Python bool of a traced value: NaN where it fails, whatever the policy
            if name == "torch":
                factor, info = lib.linalg.cholesky_ex(a)
                return lib.where(info == 0, factor, float("nan"))
            factor = lib.linalg.cholesky(a)
            _defer_checks(lib, a, factor, label, on_conditioning)
            return factor
        if name == "torch":
            factor, info = lib.linalg.cholesky_ex(a)
            failed = int(info) != 0
            if failed and (label is None or not bool(lib.isfinite(a).all())):   # nan/inf entries: nan, as numpy
                return lib.full_like(a, float("nan"))
        else:   # jax and cupy: nan entries where it fails; a matrix with nan/inf entries is not checked, as numpy's
            factor = lib.linalg.cholesky(a)
            failed = bool(lib.isnan(factor).any()) and bool(lib.isfinite(a).all())
        if failed and label is not None:
            raise EvaluationError(label)
        if not failed:
            _check_conditioning(a, factor, on_conditioning)
        return factor
    return run


# ---------------------------------------------------------------- pinv

def _numpy_pinv(a):
    """np.linalg.pinv; nan entries for a matrix with a nan or inf entry, whose SVD numpy refuses."""
    if not np.all(np.isfinite(a)):
        return np.full(a.shape[::-1], np.nan, dtype=a.dtype)
    return np.linalg.pinv(a)


def _pinv_step(node, backend, singular):
    name, lib = backend.name, backend.lib

    def run(args, sizes, place):
        (a,) = args
        if name == "numpy":
            return _numpy_pinv(a)
        if name == "dask":
            return a.rechunk(-1).map_blocks(_numpy_pinv, chunks=a.shape[::-1], dtype=a.dtype)
        if not backend.traced(a) and not bool(lib.isfinite(a).all()):   # torch refuses it; nan, as numpy's
            return lib.full_like(a.T, float("nan"))
        return lib.linalg.pinv(a)
    return run


# ---------------------------------------------------------------- eigh

def _numpy_eigh(a):
    return np.linalg.eigh(a)[1]


def _eigh_step(vectors):
    """The backend's eigh (its eigenvectors) or eigvalsh; a matrix with a nan entry gives nan."""
    def plan(node, backend, singular):
        name, lib = backend.name, backend.lib

        def run(args, sizes, place):
            (a,) = args
            if name == "numpy":
                return np.linalg.eigh(a)[1] if vectors else np.linalg.eigvalsh(a)
            if name == "dask":
                whole = a.rechunk(-1)
                return whole.map_blocks(_numpy_eigh, dtype=a.dtype) if vectors else \
                    whole.map_blocks(np.linalg.eigvalsh, drop_axis=1, dtype=a.dtype)
            return lib.linalg.eigh(a)[1] if vectors else lib.linalg.eigvalsh(a)
        return run
    return plan


# ---------------------------------------------------------------- the steps

def _axis_step(method):
    def plan(node, backend, singular):
        ops, axes = ops_for(backend), tuple(node.axes)

        def run(args, sizes, place):
            if 0 in args[0].shape:
                return _of_empty(ops, method, node, args[0], axes)
            return getattr(ops, method)(args[0], axes)
        return run
    return plan


def _of_empty(ops, method, node, x, axes):
    """A reduction of an array with no entries, computed without the shift by the max, which has
    no value over an axis of size 0 (and fails in dask on any empty array): over such an axis
    logsumexp is -inf and softmax empty, as scipy's and jax's, and max (and min) raise."""
    empty = [node.arg.shape[a] for a in axes if x.shape[a] == 0]
    if method == "max" and empty:
        raise EvaluationError(f"max (or min) over an empty axis: dim {empty[0]!r} has size 0 in "
                              f"{short(node.arg, 60)}, and an empty max has no value")
    e = ops.xp.exp(x)
    if method == "softmax":
        return e
    total = ops.xp.sum(e, axis=axes) if not isinstance(ops, TorchOps) else ops.xp.sum(e, dim=axes)
    return total if method == "max" else ops.log(total)   # max: an empty array of its shape


def _along_step(method):
    """cumsum and diff along the node's one axis, an empty axis too (numpy's values: empty, or
    one shorter, never below length 0)."""
    def plan(node, backend, singular):
        ops, axes = ops_for(backend), tuple(node.axes)
        return lambda args, sizes, place: getattr(ops, method)(args[0], axes)
    return plan


def _compare_step(node, backend, singular):
    ops, op = ops_for(backend), node.op
    return lambda args, sizes, place: ops.compare(op, args[0], args[1])


def _where_step(node, backend, singular):
    ops = ops_for(backend)
    return lambda args, sizes, place: ops.where(*args)


def _maximum_step(node, backend, singular):
    ops = ops_for(backend)
    return lambda args, sizes, place: ops.maximum(*args)


def _triangle_step(node, backend, singular):
    made = {}   # one read-only 0/1 array per (rows, cols) size

    def run(args, sizes, place):
        key = (sizes[node.rows], sizes[node.cols])
        mask = made.get(key)
        if mask is None:
            mask = np.tril(np.ones(key), node.k) if node.lower else np.triu(np.ones(key), node.k)
            mask.flags.writeable = False
            made[key] = mask
        return backend.constant(mask, node.shape, place)
    return run


REDUCTION_PLANS = {
    Max: _axis_step("max"),
    LogSumExp: _axis_step("logsumexp"),
    Softmax: _axis_step("softmax"),
    CumSum: _along_step("cumsum"),
    Diff: _along_step("diff"),
    Compare: _compare_step,
    Where: _where_step,
    Maximum: _maximum_step,
    Triangle: _triangle_step,
    Cholesky: _cholesky_step,
    Pinv: _pinv_step,
    EigVals: _eigh_step(vectors=False),
    EigVecs: _eigh_step(vectors=True),
}

# the steps that also take the program's conditioning policy (conditioning.py)
CONDITIONED_PLANS = {Cholesky: _cholesky_step}
