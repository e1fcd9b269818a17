"""``td.elementwise``: declaring a user function, abstract (implemented at evaluation) or bound to
numpy implementations. The function is an ``Elementwise`` like the table's rows (functions.py),
kept by name in ``DECLARED_USER_FUNCTIONS`` so that parsing and unpickling find it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

from .errors import TensorDiffError
from .functions import DECLARED_USER_FUNCTIONS, Elementwise, abstract_function, check_function_name

__all__ = ["elementwise"]


def elementwise(name: str, fn: Optional[Callable[..., Any]] = None,
                deriv: Union[Callable[..., Any], Elementwise, None] = None, latex: Optional[str] = None) -> Elementwise:
    """A user elementwise function, abstract or bound to numpy implementations.

    An abstract function (``fn`` None) differentiates to abstract derivatives printed h′, h″, ...,
    and its implementations are passed at evaluation (``functions={"h": [h, h_prime, ...]}``). A bound
    one evaluates like a built-in; without ``deriv`` its derivative is abstract.

    Any identifier is a name, a built-in one's too: ``td.elementwise("softplus", f, df)`` is your
    own function, distinct from ``td.softplus``, and prints (and parses) as ``user.softplus(x)``.

    Parameters
    ----------
    name : str
        The function's name, an identifier; it prints as ``name(...)`` and reads back with
        ``td.parse`` while the function is declared.
    fn : callable, optional
        The numpy implementation, applied to arrays elementwise.
    deriv : callable or Elementwise, optional
        The derivative's numpy implementation, or an ``Elementwise`` with its own derivative (for
        higher orders).
    latex : str, optional
        The LaTeX of the name, used by ``td.latex``.

    Returns
    -------
    Elementwise
        The function; call it on expressions.

    Raises
    ------
    TensorDiffError
        If ``name`` is not an identifier, or ``fn``, ``deriv`` or ``latex`` has the wrong type.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> x = td.vector("x", "n")
    >>> h = td.elementwise("h")                     # abstract
    >>> print(td.diff(td.sum(h(x)), x))
    out[i] = h′(x[i])
    >>> td.evaluate(td.diff(td.sum(h(x)), x), x=np.array([0.0, 1.0]), functions={"h": [np.sin, np.cos]})
    array([1.        , 0.54030231])
    >>> g = td.elementwise("g", np.tanh, lambda v: 1 - np.tanh(v) ** 2)   # bound
    >>> td.evaluate(td.diff(td.sum(g(x)), x), x=np.array([0.0]))
    array([1.])
    """
    check_function_name(name, "function name")
    if fn is not None and not callable(fn):
        raise TensorDiffError(f"fn of {name} must be a callable numpy implementation (or None for an abstract "
                              f"function), got {fn!r:.60}")
    if latex is not None and not isinstance(latex, str):
        raise TensorDiffError(f"latex of {name} must be a str, got {latex!r:.60}")
    if name == "pow":
        raise TensorDiffError("'pow' names tensordiff's power family x^p; choose another name")
    existing = DECLARED_USER_FUNCTIONS.get(name)
    if existing is not None and fn is None and deriv is None:
        return existing
    result = abstract_function(name, 0, fn, latex)
    if deriv is not None:
        if isinstance(deriv, Elementwise):
            result._derivative = deriv
        elif callable(deriv):
            result._derivative = abstract_function(name, 1, deriv, latex)
        else:
            raise TensorDiffError(f"deriv of {name} must be callable or a td.elementwise function, got {deriv!r:.60}")
    DECLARED_USER_FUNCTIONS[name] = result
    return result
