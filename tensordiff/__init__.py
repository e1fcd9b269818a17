"""tensordiff: exact symbolic derivatives of matrix and tensor expressions, to any order.

>>> import tensordiff as td
>>> X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
>>> q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
>>> J = td.diff(q, X)                      # order 3: shape ('p', 'n', 'p')
"""

from typing import TYPE_CHECKING

from . import matrixrules  # noqa: F401  adds the simplifier rules that need the function table
from .diff import diff, grad, hessian, hvp, jacobian, jvp, vjp
from .errors import EvaluationError, IllConditionedWarning, ParseError, ShapeError, TensorDiffError
from .evaluate import Program, compile, evaluate
from .expr import Expr
from .functions import FUNCTIONS, Elementwise, polygamma
from .functions import *  # noqa: F401,F403  one public name per row of functions.FUNCTIONS: td.exp, td.erf, ...
if TYPE_CHECKING:   # those rows are published at run time; functionrows.pyi names them for type checkers
    from .functionrows import *  # noqa: F401,F403
from .kernels import kernels_available
from .userfunctions import elementwise
from .memory import get_memory_limit, set_memory_limit
from .ops import (det, diag, diagonal, eigh, eigvalsh, einsum, eye, inv, logdet, matrix, matrix_power, norm, outer,
                  pinv, scalar, solve, sqrt, sum, tensor, trace, vector)
from .codegen import codegen
from .cost import Cost, DerivativeSize, cost, derivative_size
from .matrixlatex import MatrixNotation, latex, matrix_notation
from .parse import parse
from .einsumcode import to_einsum
from .printing import index_notation
from .reshaping import concatenate, kron, reshape, stack, vec
from .reductions import (cholesky, cumsum, differences, log_softmax, logsumexp, max, maximum, mean, min, minimum,
                         ones, softmax, tril, triu, where, zeros)
from .simplify import simplify
from .ops import broadcast_shapes, broadcast_to
from .optimize import ScipyObjective, scipy_objective
from .incremental import Incremental
from .partial import ProgramPart
from .substitution import substitute
from .testing import check
from .kronform import tbox, tprod

from .arguments import checked_arguments

# a misspelt keyword is a tensordiff error that names it and the closest option (arguments.py)
diff, grad, hessian, jacobian = (checked_arguments(diff), checked_arguments(grad), checked_arguments(hessian),
                                 checked_arguments(jacobian))
jvp, vjp, hvp, compile, codegen = (checked_arguments(jvp), checked_arguments(vjp), checked_arguments(hvp),
                                   checked_arguments(compile), checked_arguments(codegen))
check, cost, derivative_size = checked_arguments(check), checked_arguments(cost), checked_arguments(derivative_size)
latex, to_einsum, matrix_notation = checked_arguments(latex), checked_arguments(to_einsum), checked_arguments(matrix_notation)
index_notation, substitute = checked_arguments(index_notation), checked_arguments(substitute)

__version__ = "0.1.0"

__all__ = [   # noqa: PLE0604 - *FUNCTIONS unpacks the function table's names
    "tensor", "scalar", "vector", "matrix", "eye",
    "einsum", "sum", "trace", "diag", "diagonal", "outer", "inv", "pinv", "eigh", "eigvalsh", "solve", "matrix_power", "det", "logdet", "norm",
    "sqrt", *FUNCTIONS, "polygamma", "elementwise", "Elementwise",
    "diff", "grad", "hessian", "jacobian", "jvp", "vjp", "hvp", "simplify", "substitute",
    "evaluate", "compile", "Program", "kernels_available",
    "scipy_objective", "ScipyObjective",
    "ProgramPart", "Incremental",
    "cost", "Cost", "derivative_size", "DerivativeSize", "set_memory_limit", "get_memory_limit",
    "parse", "index_notation", "to_einsum", "latex", "matrix_notation", "MatrixNotation", "codegen", "check",
    "broadcast_shapes", "broadcast_to",
    "max", "min", "mean", "maximum", "minimum", "logsumexp", "softmax", "log_softmax",
    "where", "tril", "triu", "ones", "zeros", "cholesky", "cumsum", "differences",
    "Expr", "TensorDiffError", "ShapeError", "ParseError", "EvaluationError",
    "IllConditionedWarning",
    "vec", "kron", "reshape", "stack", "concatenate",
    "tprod", "tbox",
]

