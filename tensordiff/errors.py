"""The tensordiff error classes: every one is a ValueError, so callers may catch either."""

__all__ = ["TensorDiffError", "ShapeError", "ParseError", "EvaluationError", "UnsupportedOperation", "FrozenNodeError",
           "IllConditionedWarning", "ArgumentError"]


class TensorDiffError(ValueError):
    """Base class of every error tensordiff raises on bad input; a ``ValueError``.

    Examples
    --------
    >>> import tensordiff as td
    >>> issubclass(td.ShapeError, td.TensorDiffError), issubclass(td.TensorDiffError, ValueError)
    (True, True)
    >>> td.diff(td.scalar("x") ** 2, 3.0)
    Traceback (most recent call last):
        ...
    tensordiff.errors.TensorDiffError: can only differentiate with respect to a symbol (td.tensor/matrix/...), got float
    """


class ShapeError(TensorDiffError):
    """Dims that do not line up: mismatched operands, a wrongly shaped value.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "m")
    >>> X @ y
    Traceback (most recent call last):
        ...
    tensordiff.errors.ShapeError: '@': the inner dims do not match: (n, p) @ (m) contracts 'p' with 'm'
    """


class ParseError(TensorDiffError):
    """Text that cannot be read: an einsum spec or an expression with a syntax error.

    The message points at the column at fault with a caret.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.parse("X*+")
    Traceback (most recent call last):
        ...
    tensordiff.errors.ParseError: expected an operand after '+', got the end
      X*+
         ^
    """


class EvaluationError(TensorDiffError):
    """A value or implementation missing at evaluation, or a numerical failure (a singular matrix).

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> td.evaluate(td.inv(A), A=np.zeros((2, 2)))
    Traceback (most recent call last):
        ...
    tensordiff.errors.EvaluationError: inv of a singular matrix: A[i,j] ...
    """


class UnsupportedOperation(TensorDiffError, TypeError):
    """A Python or numpy protocol that expressions do not take part in (iteration, numpy reductions)."""


class ArgumentError(TensorDiffError, TypeError):
    """A public function called with an argument it does not take (a misspelt keyword), or without
    one it needs; the message names the argument and the closest one the function takes.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.compile(td.vector("x", "n"), backnd="jax")
    Traceback (most recent call last):
        ...
    tensordiff.errors.ArgumentError: td.compile() got an unexpected keyword argument 'backnd'; did you mean 'backend'? (it takes exprs, backend, singular, memory_limit, chunks, conditioning, progress)
    """


class FrozenNodeError(TensorDiffError, AttributeError):
    """An attempt to change a node: nodes are interned, so one change would alter every equal expression."""


class IllConditionedWarning(RuntimeWarning):
    """A matrix function's input is singular to working precision: the result may have no correct digit.

    ``inv``, ``solve``, ``det`` and ``logdet`` warn so when the reciprocal condition estimate of
    their matrix is below the machine epsilon of its dtype (conditioning.py). A subclass of
    ``RuntimeWarning``; ``conditioning="raise"`` of ``td.evaluate`` and ``td.compile`` makes it an
    EvaluationError, ``conditioning="ignore"`` skips the estimate.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np, tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     a = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9. + 1e-14]])
    ...     value = td.evaluate(td.logdet(A), A=a)
    >>> [w.category.__name__ for w in caught]
    ['IllConditionedWarning']
    """
