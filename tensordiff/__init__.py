"""tensordiff: exact symbolic derivatives of matrix and tensor expressions, to any order.

>>> import tensordiff as td
>>> X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
>>> q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
>>> J = td.diff(q, X)                      # order 3: shape ('p', 'n', 'p')
"""

from .diff import diff, grad, hessian, hvp, jacobian, jvp, vjp
from .errors import EvaluationError, ParseError, ShapeError, TensorDiffError
from .evaluate import Program, compile, evaluate
from .expr import Expr
from .functions import Elementwise, elementwise
from .kernels import kernels_available
from .memory import get_memory_limit, set_memory_limit
from .ops import (abs, cos, det, diag, diagonal, einsum, exp, eye, inv, log, logdet, matrix, matrix_power, norm,
                  log1p, outer, relu, scalar, sigmoid, sin, softplus, solve, sqrt, sum, tanh, tensor, trace,
                  vector)
from .codegen import codegen
from .cost import Cost, cost
from .matrixform import matrix_notation
from .parse import parse
from .printing import index_notation, latex, to_einsum
from .optimize import ScipyObjective, scipy_objective
from .simplify import simplify
from .substitution import substitute
from .testing import check

__version__ = "0.1.0"

__all__ = [
    "tensor", "scalar", "vector", "matrix", "eye",
    "einsum", "sum", "trace", "diag", "diagonal", "outer", "inv", "solve", "matrix_power", "det", "logdet", "norm",
    "exp", "log", "sin", "cos", "tanh", "sigmoid", "sqrt", "abs", "relu", "softplus", "log1p",
    "elementwise", "Elementwise",
    "diff", "grad", "hessian", "jacobian", "jvp", "vjp", "hvp", "simplify", "substitute",
    "evaluate", "compile", "Program", "kernels_available",
    "scipy_objective", "ScipyObjective",
    "cost", "Cost", "set_memory_limit", "get_memory_limit",
    "parse", "index_notation", "to_einsum", "latex", "matrix_notation", "codegen", "check",
    "Expr", "TensorDiffError", "ShapeError", "ParseError", "EvaluationError",
]

