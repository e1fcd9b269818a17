"""The numpy implementations of the function table's rows that numpy has no one function for
(functions.py): erf and gelu (through scipy.special where it is installed, else math's per entry),
the gamma family (scipy.special, imported on first use), sigmoid, step, relu, softplus, log_sigmoid
and the identity of stop_gradient.
"""

import math

import numpy as np

from .errors import EvaluationError

__all__ = ["scipy_special", "per_entry", "erf", "normal_cdf", "gelu", "special_function", "sigmoid", "step", "relu",
           "softplus", "log_sigmoid", "identity", "SQRT_HALF"]


def scipy_special(required_by=None):
    """scipy.special, imported on first use; None without scipy (an error when ``required_by`` needs it)."""
    try:
        import scipy.special   # optional: only the gamma-family functions need it, and erf is faster with it
    except ImportError:
        if required_by is None:
            return None
        raise EvaluationError(f"td.{required_by} needs scipy to evaluate (pip install scipy)") from None
    return scipy.special


def per_entry(scalar_function, x):
    """``scalar_function`` (a math-module function) applied to every entry of ``x``."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    return np.asarray(np.frompyfunc(scalar_function, 1, 1)(x), dtype=dtype)   # a 0-d x gives a float


def erf(x):
    special = scipy_special()
    return special.erf(x) if special is not None else per_entry(math.erf, x)


def normal_cdf(x):
    # Φ(x) = erfc(-x/√2)/2: exact in its tail, where 1 + erf(x/√2) would cancel to 0
    special = scipy_special()
    return 0.5 * (special.erfc(-x * SQRT_HALF) if special is not None else per_entry(math.erfc, -x * SQRT_HALF))


def gelu(x):
    return x * normal_cdf(x)


def special_function(name, public):
    def evaluate(x):
        return getattr(scipy_special(public), name)(x)
    evaluate.__name__ = name
    return evaluate


def sigmoid(x):
    # 1/(1 + e^-x) for x >= 0, e^x/(1 + e^x) below: e^-|x| never overflows, and each tail keeps
    # its relative accuracy (σ(-40) = 4.2e-18, where (1 + tanh(x/2))/2 rounds to 0)
    x = np.asarray(x)
    tail = np.exp(-np.abs(x))
    result = np.where(x >= 0, 1.0, tail) / (1.0 + tail)
    return result if result.ndim else result[()]


def step(x):
    return np.heaviside(x, 0.0).astype(np.result_type(x, np.float32), copy=False)


def relu(x):
    return np.maximum(x, 0)


def softplus(x):
    return np.logaddexp(0.0, x)   # log(1 + e^x) without overflow for large x


def log_sigmoid(x):
    return -softplus(-x)   # -x where sigmoid(x) underflows, -e^-x where it rounds to 1


def identity(x):
    return np.array(x, copy=True)


SQRT_HALF = math.sqrt(0.5)
