"""Elementwise functions: one table row each (numeric implementation, derivative, printed names).

A derivative is given as a function from the argument expression ``x`` to the expression
f′(x), built from other table functions. ``Power`` is the one parametrised family (x^p for any
constant p; sqrt is x^0.5). User functions come from ``elementwise``: abstract ones have
derivatives h′, h″, ... that are abstract too; bound ones carry numpy implementations.
"""

import threading
import weakref

import numpy as np

from .errors import TensorDiffError
from .expr import Apply
from .simplify import add_node, apply_node, as_expr, constant, constant_value, hadamard, scale, zeros

__all__ = ["Elementwise", "elementwise", "power", "FUNCTIONS"]

PRIMES = {1: "′", 2: "″", 3: "‴"}


class Elementwise:
    r"""An elementwise function: call it on an expression to apply it entry by entry.

    The built-ins (``td.exp``, ``td.tanh``, ...) are instances, as are the user functions made by
    ``td.elementwise``. A function knows its numeric implementation (None for an abstract one), its
    derivative (another ``Elementwise``) and its printed names.

    Parameters
    ----------
    name : str
        The printed name.
    numeric : callable, optional
        The numpy implementation; None for an abstract function, implemented at evaluation.
    derivative : callable, optional
        A function from the argument expression x to the expression f'(x).
    latex : str, optional
        LaTeX for the name (default ``\operatorname{name}``).
    order, base, rewrites, user
        Internal: the derivative order of a user function, its base name, simplification rules,
        and whether it is a user function (use ``td.elementwise`` to make one).

    Raises
    ------
    TensorDiffError
        If a name is not an identifier, ``numeric`` or ``derivative`` is not callable, ``latex`` is
        not a string, or ``order`` is not a non-negative int.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.tanh
    <elementwise tanh>
    >>> A = td.matrix("A", "n n")
    >>> print(td.tanh(A))
    out[i,j] = tanh(A[i,j])
    >>> print(td.diff(td.tanh(td.scalar("x")), td.scalar("x")))
    out = 1 - tanh(x)^2
    """

    def __init__(self, name, numeric=None, derivative=None, latex=None, order=0, base=None, rewrites=(),
                 user=False):
        _check_function_name(name, "function name")
        _check_function_name(base if base is not None else name, "function base name")
        for what, value in (("numeric", numeric), ("derivative", derivative)):
            if value is not None and not callable(value):
                raise TensorDiffError(f"{what} of function {name} must be callable or None, got {value!r:.60}")
        if latex is not None and not isinstance(latex, str):
            raise TensorDiffError(f"latex of function {name} must be a str, got {latex!r:.60}")
        if not isinstance(order, int) or isinstance(order, bool) or order < 0:
            raise TensorDiffError(f"order of function {name} must be a non-negative int, got {order!r:.60}")
        self.user = user
        self.name = name
        self.numeric = numeric
        self._derivative = derivative
        self.latex = latex if latex is not None else r"\operatorname{%s}" % name
        self.order = order
        self.base = base if base is not None else name
        self.rewrites = rewrites
        self.key = ("fn", self.base, order)

    @property
    def display(self):
        """The printed name: h, h′, h″, h‴, h⁽⁴⁾, ..."""
        if self.order == 0:
            return self.name
        return self.base + PRIMES.get(self.order, f"^({self.order})")

    @property
    def ascii_names(self):
        """Names accepted for this function in ``functions={...}`` at evaluation."""
        return (self.display, self.base + "'" * self.order)

    def derivative(self, x):
        """The expression f′(x)."""
        return self.derivative_function()(x)

    def derivative_function(self):
        """f′ as a function: given, or for a user function an abstract one made on first use."""
        if self._derivative is None:
            if not self.user:
                raise TensorDiffError(f"function {self.display} has no derivative rule")
            self._derivative = _abstract(self.base, self.order + 1, None, self.latex)
        return self._derivative

    def __call__(self, x):
        return apply_node(self, as_expr(x))

    def __repr__(self):
        return f"<elementwise {self.display}>"

    def __reduce__(self):
        if FUNCTIONS.get(self.name) is self:
            return (_builtin, (self.name,))
        return (_user_function, (self.base, self.order))


def _check_function_name(name, what):
    if not isinstance(name, str) or not name.isidentifier():
        raise TensorDiffError(f"{what} must be an identifier (a str such as 'h'), got {name!r:.60}")


def _builtin(name):
    return FUNCTIONS[name]


def registered_user_function(base, order=0):
    """The user function ``base`` (declared with td.elementwise) differentiated ``order`` times, or None."""
    return _user_function(base, order) if base in _user_registry else None


def _user_function(base, order):
    """The user function ``base`` differentiated ``order`` times (unpickling; parsing h'(x))."""
    fn = _user_registry.get(base)
    if fn is None:
        fn = elementwise(base)
    for _ in range(order):
        fn = fn.derivative_function()
    return fn


def _zero_derivative(x):
    # sign and step are piecewise constant: their derivative is zero wherever it exists.
    return zeros(x.shape)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _step(x):
    return np.heaviside(x, 0.0).astype(np.result_type(x, np.float32), copy=False)


def _relu(x):
    return np.maximum(x, 0)


def _softplus(x):
    return np.logaddexp(0.0, x)   # log(1 + e^x) without overflow for large x


def _f(name):
    return FUNCTIONS[name]


def _one_minus(e):
    return add_node([constant(1.0, e.shape), scale(e, -1.0)])


def _log_of_exp(arg):
    return arg.arg if isinstance(arg, Apply) and arg.fn is FUNCTIONS["exp"] else None


# name: (numpy, f′(x), LaTeX, rewrites)
_TABLE = {
    "exp": (np.exp, lambda x: _f("exp")(x), r"\exp", ()),
    "log": (np.log, lambda x: power(x, -1.0), r"\log", (_log_of_exp,)),
    "sin": (np.sin, lambda x: _f("cos")(x), r"\sin", ()),
    "cos": (np.cos, lambda x: scale(_f("sin")(x), -1.0), r"\cos", ()),
    "tanh": (np.tanh, lambda x: _one_minus(power(_f("tanh")(x), 2.0)), r"\tanh", ()),
    "sigmoid": (_sigmoid, lambda x: hadamard(_f("sigmoid")(x), _one_minus(_f("sigmoid")(x))), r"\sigma", ()),
    "abs": (np.abs, lambda x: _f("sign")(x), r"\operatorname{abs}", ()),
    "sign": (np.sign, _zero_derivative, r"\operatorname{sign}", ()),
    "relu": (_relu, lambda x: _f("step")(x), r"\operatorname{relu}", ()),
    "step": (_step, _zero_derivative, r"\theta", ()),
    "softplus": (_softplus, lambda x: _f("sigmoid")(x), r"\operatorname{softplus}", ()),
    "log1p": (np.log1p, lambda x: power(add_node([constant(1.0, x.shape), x]), -1.0), r"\operatorname{log1p}", ()),
}

FUNCTIONS = {name: Elementwise(name, numeric, deriv, latex, rewrites=rewrites)
             for name, (numeric, deriv, latex, rewrites) in _TABLE.items()}


class Power(Elementwise):
    """x ↦ x^p elementwise, for a constant p."""

    def __init__(self, p):
        super().__init__("pow", self._numeric_for(p), self._power_derivative, None,
                         rewrites=(self._trivial,))
        self.p = p
        self.key = ("pow", p)

    @staticmethod
    def _numeric_for(p):
        if p == 2.0:
            return np.square
        if p == 0.5:
            return np.sqrt
        if p == -1.0:
            return np.reciprocal
        return lambda x: np.power(x, p)

    def _power_derivative(self, x):
        if self.p == 1.0:
            return constant(1.0, x.shape)
        return scale(power(x, self.p - 1.0), self.p)

    def with_exponent(self, p):
        return power_function(p)

    def _trivial(self, arg):
        if self.p == 1.0:
            return arg
        if self.p == 0.0:
            return constant(1.0, arg.shape)
        if isinstance(arg, Apply) and arg.fn.name == "pow" and self.p == int(self.p):
            return power_function(arg.fn.p * self.p)(arg.arg)  # (x^a)^k = x^(a k) for integer k
        return None

    @property
    def display(self):
        return "sqrt" if self.p == 0.5 else f"pow{self.p:g}"

    def __reduce__(self):
        return (power_function, (self.p,))


_powers = weakref.WeakValueDictionary()   # one Power per exponent while any expression uses it
_powers_lock = threading.Lock()


def power_function(p):
    p = float(p)
    fn = _powers.get(p)
    if fn is None:
        with _powers_lock:
            fn = _powers.get(p)
            if fn is None:
                fn = _powers[p] = Power(p)
    return fn


def power(x, p):
    """``x ** p`` elementwise for a constant p."""
    p_value = constant_value(as_expr(p)) if not isinstance(p, (int, float)) else p
    if p_value is None:
        raise TensorDiffError(f"the exponent of ** must be a constant number, got {p!r:.60}")
    return power_function(p_value)(x)


_user_registry = {}


def elementwise(name, fn=None, deriv=None, latex=None):
    """A user elementwise function, abstract or bound to numpy implementations.

    An abstract function (``fn`` None) differentiates to abstract derivatives printed h′, h″, ...,
    and its implementations are passed at evaluation (``functions={"h": [h, h_prime, ...]}``). A bound
    one evaluates like a built-in; without ``deriv`` its derivative is abstract.

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
        If ``name`` is not an identifier or is taken by a built-in function, or ``fn``, ``deriv``
        or ``latex`` has the wrong type.

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
    _check_function_name(name, "function name")
    if fn is not None and not callable(fn):
        raise TensorDiffError(f"fn of {name} must be a callable numpy implementation (or None for an abstract "
                              f"function), got {fn!r:.60}")
    if latex is not None and not isinstance(latex, str):
        raise TensorDiffError(f"latex of {name} must be a str, got {latex!r:.60}")
    if name in FUNCTIONS or name == "pow":
        raise TensorDiffError(f"{name!r} is a built-in function; choose another name")
    existing = _user_registry.get(name)
    if existing is not None and fn is None and deriv is None:
        return existing
    result = _abstract(name, 0, fn, latex)
    if deriv is not None:
        if isinstance(deriv, Elementwise):
            result._derivative = deriv
        elif callable(deriv):
            result._derivative = _abstract(name, 1, deriv, latex)
        else:
            raise TensorDiffError(f"deriv of {name} must be callable or a td.elementwise function, got {deriv!r:.60}")
    _user_registry[name] = result
    return result


def _abstract(base, order, numeric, latex):
    """h^(order) with numeric implementation ``numeric`` (None: supplied at evaluation)."""
    fn = Elementwise(base, numeric, None, latex, order=order, base=base, user=True)
    fn.name = fn.display
    return fn
