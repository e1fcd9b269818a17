"""The tensordiff error classes: every one is a ValueError, so callers may catch either."""

__all__ = ["TensorDiffError", "ShapeError", "ParseError", "EvaluationError", "UnsupportedOperation", "FrozenNodeError",
           "IllConditionedWarning"]


class TensorDiffError(ValueError):
    """Base class of every error tensordiff raises on bad input."""


class ShapeError(TensorDiffError):
    """Dims that do not line up: mismatched operands, a symbol redeclared, a wrongly shaped value."""


class ParseError(TensorDiffError):
    """Text that cannot be read: an einsum spec or an expression with a syntax error."""


class EvaluationError(TensorDiffError):
    """A value or implementation missing at evaluation, or a numerical failure (a singular matrix)."""


class UnsupportedOperation(TensorDiffError, TypeError):
    """A Python or numpy protocol that expressions do not take part in (iteration, numpy reductions)."""


class FrozenNodeError(TensorDiffError, AttributeError):
    """An attempt to change a node: nodes are interned, so one change would alter every equal expression."""


class IllConditionedWarning(RuntimeWarning):
    """A matrix function's input is singular to working precision: its reciprocal condition estimate
    is below the machine epsilon of its dtype (conditioning.py), so the result may have no correct digit."""
