"""Elementwise functions: one table row each, holding everything about the function.

A row (an ``Elementwise`` made by ``_row`` below) gives the function's

- name: how index notation, matrix notation and the parser (``td.parse``) spell it, and its
  public name ``td.<name>``;
- numpy implementation (numpy itself, and dask, which runs numpy on each block);
- derivative: a function from the argument expression ``x`` to the expression f′(x), built from
  table functions, so derivatives of any order follow;
- LaTeX;
- implementation for the other array libraries (torch, jax, cupy): ``array(xp, sp, x)`` with
  ``xp`` the library under numpy's names and ``sp`` its special functions under scipy.special's;
- code for ``td.codegen``'s targets: a template with ``{x}`` the argument, ``{np}`` the array
  module, ``{sp}`` its special-functions module (and ``{lax}`` for jax's), one string for all
  targets or a dict by target where they differ;
- the numpy ufunc that means it (``np.exp(x)`` on an expression builds ``td.exp(x)``);
- domain: where tests and the random generator draw its argument ("real", "positive",
  "interval" |x| ≤ 1/2, "kink": away from a point where it is not smooth);
- finite_differences: False only for stop_gradient, whose derivative 0 is a convention, not
  the derivative of its value;
- summary: a phrase for its docstring. The numpydoc docstring of a row (``help(td.erf)``, the
  API page) is written from these facts on first read (``_row_docstring``): the summary, the
  derivative as printed, the domain, and an example that runs as a test.

``Power`` is the one parametrised family with a constant (x^p; sqrt is x^0.5) and
``polygamma_function(n)`` the derivatives of digamma. User functions come from
``elementwise`` (userfunctions.py): abstract ones have derivatives h′, h″, ... that are abstract too; bound ones
carry numpy implementations. A user function may take any name, a built-in one's too: it
prints with the prefix ``user.`` where its name is a built-in word (``user.softplus(x)``).
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Callable
from typing import Any, Optional, Union

import numpy as np

from . import functionvalues, kernelfunctions
from .errors import TensorDiffError
from .functiondocs import row_docstring
from .expr import Add, Apply, Einsum, Expr
from .constantnodes import constant, constant_value, zeros
from .einsumnodes import apply_node, hadamard, is_wrapper, scale
from .simplify import as_expr
from .sumnodes import add_node
from .annotations import ExprLike

PRIMES = {1: "′", 2: "″", 3: "‴"}
DOMAINS = ("real", "positive", "interval", "kink")
USER_PREFIX = "user."


class _TableDocstring:
    """``Elementwise.__doc__``: the class's docstring, or for a row of the table one written from the row.

    The row's docstring prints the row's derivative, so it is written on first read, when the
    package (printing.py's ``Expr.__str__`` included) is loaded, and kept in the row's ``__dict__``.
    """

    def __init__(self, class_doc):
        self.class_doc = class_doc

    def __get__(self, fn, owner=None):
        if fn is None or fn.user or FUNCTIONS.get(fn.name) is not fn:
            return self.class_doc
        fn.__dict__["__doc__"] = doc = row_docstring(fn, _ROW_SUMMARIES[fn.name])
        return doc


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

    __doc__ = _TableDocstring(__doc__)   # a table row's own docstring is written from its facts
    exponent = None   # the constant p of x^p (Power); None for every other function

    def __init__(self, name: str, numeric: Optional[Callable[..., Any]] = None,
                 derivative: Optional[Callable[[Expr], Expr]] = None, latex: Optional[str] = None, order: int = 0,
                 base: Optional[str] = None, rewrites: tuple[Callable[[Expr], Optional[Expr]], ...] = (),
                 user: bool = False, array: Optional[Callable[..., Any]] = None,
                 code: Union[str, dict[str, str], None] = None, ufunc: Optional[np.ufunc] = None, domain: str = "real",
                 finite_differences: bool = True, doc: Optional[str] = None) -> None:
        check_function_name(name, "function name")
        check_function_name(base if base is not None else name, "function base name")
        for what, value in (("numeric", numeric), ("derivative", derivative), ("array", array)):
            if value is not None and not callable(value):
                raise TensorDiffError(f"{what} of function {name} must be callable or None, got {value!r:.60}")
        if latex is not None and not isinstance(latex, str):
            raise TensorDiffError(f"latex of function {name} must be a str, got {latex!r:.60}")
        if not isinstance(order, int) or isinstance(order, bool) or order < 0:
            raise TensorDiffError(f"order of function {name} must be a non-negative int, got {order!r:.60}")
        if domain not in DOMAINS:
            raise TensorDiffError(f"domain of function {name} must be one of {', '.join(DOMAINS)}, got {domain!r:.60}")
        self.user = user
        self.name = name
        self.numeric = numeric
        self._derivative = derivative
        self.latex = latex if latex is not None else r"\operatorname{%s}" % name
        self.order = order
        self.base = base if base is not None else name
        self.rewrites = rewrites
        self.array = array
        self.code = code
        self.ufunc = ufunc
        # numeric is called as a ufunc is: numeric(x) a new array, numeric(x, out=x) written into x
        self.ufunc_like = isinstance(numeric, np.ufunc) or getattr(numeric, "ufunc_like", False)
        self.domain = domain
        self.finite_differences = finite_differences
        self.key = ("fn", self.base, order)
        if doc is not None:
            self.__doc__ = doc

    @property
    def display(self) -> str:
        """The printed name: h, h′, h″, h‴, h⁽⁴⁾, ...; user.h where h is a built-in word."""
        name = self.name if self.order == 0 else self.base + PRIMES.get(self.order, f"^({self.order})")
        return USER_PREFIX + name if marked(self) else name

    @property
    def ascii_names(self) -> tuple[str, str]:
        """Names accepted for this function in ``functions={...}`` at evaluation."""
        name = self.name if self.order == 0 else self.base + PRIMES.get(self.order, f"^({self.order})")
        return (name, self.base + "'" * self.order)

    def code_for(self, target: str) -> Optional[str]:
        """The code template of this function for codegen target ``target`` (None: none)."""
        if isinstance(self.code, dict):
            return self.code.get(target, self.code.get("numpy"))
        return self.code

    def derivative(self, x: Expr) -> Expr:
        """The expression f′(x)."""
        return self.derivative_function()(x)

    def derivative_function(self) -> Callable[[Expr], Expr]:
        """f′ as a function: given, or for a user function an abstract one made on first use."""
        if self._derivative is None:
            if not self.user:
                raise TensorDiffError(f"function {self.display} has no derivative rule")
            self._derivative = abstract_function(self.base, self.order + 1, None, self.latex)
        return self._derivative

    def __call__(self, x: ExprLike) -> Expr:
        return apply_node(self, as_expr(x))

    def __repr__(self) -> str:
        return f"<elementwise {self.display}>"

    def __reduce__(self):
        if not self.user and builtin_function(self.name) is self:
            return (builtin_function, (self.name,))
        return (_user_function, (self.base, self.order))


def check_function_name(name, what):
    if not isinstance(name, str) or not name.isidentifier():
        raise TensorDiffError(f"{what} must be an identifier (a str such as 'h'), got {name!r:.60}")


# ---------------------------------------------------------------- derivative helpers

def _f(name):
    return FUNCTIONS[name]


def _zero_derivative(x):
    # sign and step are piecewise constant: their derivative is zero wherever it exists.
    return zeros(x.shape)


def _one_plus(e, sign=1.0):
    return add_node([constant(1.0, e.shape), scale(e, sign)])


def _log_of_exp(arg):
    return arg.arg if isinstance(arg, Apply) and arg.fn is FUNCTIONS["exp"] else None


def _sigmoid_argument(node):
    """u where ``node`` is sigmoid(u), else None."""
    return node.arg if isinstance(node, Apply) and node.fn is FUNCTIONS["sigmoid"] else None


def _log_of_sigmoid(arg):
    """log σ(u) = log_sigmoid(u) and log(1 - σ(u)) = -softplus(u): a log-likelihood's terms, which
    would round 1 - σ to 0 and the log to -inf a few dozen units out (1 - σ(40) rounds to 0), and σ
    itself past -745. Their derivatives 1 - σ(u) and -σ(u) collect with every other σ(u) term."""
    inner = _sigmoid_argument(arg)
    if inner is not None:
        return _f("log_sigmoid")(inner)
    if isinstance(arg, Add) and len(arg.terms) == 2:
        for one, other in (arg.terms, arg.terms[::-1]):
            if constant_value(one) == 1.0 and isinstance(other, Einsum) and other.coeff == -1.0 and \
                    is_wrapper(other) and other.shape == arg.shape:
                inner = _sigmoid_argument(other.operands[0])
                if inner is not None and inner.shape == arg.shape:
                    return scale(_f("softplus")(inner), -1.0)
    return None


def _gelu_derivative(x):
    # gelu′(x) = Φ(x) + x φ(x), with Φ(x) = (1 + erf(x/√2))/2 and φ(x) = exp(-x²/2)/√(2π)
    cdf = add_node([constant(0.5, x.shape), scale(_f("erf")(scale(x, functionvalues.SQRT_HALF)), 0.5)])
    density = scale(_f("exp")(scale(power(x, 2.0), -0.5)), 1.0 / math.sqrt(2.0 * math.pi))
    return add_node([cdf, hadamard(x, density)])


def _row(name, numeric, derivative, latex, array, code, ufunc=None, domain="real", summary=None, **more):
    _ROW_SUMMARIES[name] = summary
    return Elementwise(name, numeric, derivative, latex, array=array, code=code, ufunc=ufunc, domain=domain, **more)


_ROW_SUMMARIES = {}   # name -> the row's summary (None: the ufunc's name says it)


# ---------------------------------------------------------------- the table
# name, numpy, f′(x), LaTeX, other array libraries (xp, sp, x), code; then the numpy ufunc, domain, summary
_ROWS = [
    _row("exp", np.exp, lambda x: _f("exp")(x), r"\exp",
         lambda xp, sp, x: xp.exp(x), "{np}.exp({x})", np.exp),
    _row("log", np.log, lambda x: power(x, -1.0), r"\log",
         lambda xp, sp, x: xp.log(x), "{np}.log({x})", np.log, "positive", rewrites=(_log_of_exp, _log_of_sigmoid),
         summary="natural logarithm; as numpy, silently nan for a negative entry and -inf at 0"),
    _row("log1p", np.log1p, lambda x: power(_one_plus(x), -1.0), r"\operatorname{log1p}",
         lambda xp, sp, x: xp.log1p(x), "{np}.log1p({x})", np.log1p, "positive",
         summary="log(1 + x), accurate for small x"),
    _row("sin", np.sin, lambda x: _f("cos")(x), r"\sin",
         lambda xp, sp, x: xp.sin(x), "{np}.sin({x})", np.sin),
    _row("cos", np.cos, lambda x: scale(_f("sin")(x), -1.0), r"\cos",
         lambda xp, sp, x: xp.cos(x), "{np}.cos({x})", np.cos),
    _row("tan", np.tan, lambda x: _one_plus(power(_f("tan")(x), 2.0)), r"\tan",
         lambda xp, sp, x: xp.tan(x), "{np}.tan({x})", np.tan, "interval"),
    _row("arcsin", np.arcsin, lambda x: power(_one_plus(power(x, 2.0), -1.0), -0.5), r"\arcsin",
         lambda xp, sp, x: xp.arcsin(x), "{np}.arcsin({x})", np.arcsin, "interval"),
    _row("arccos", np.arccos, lambda x: scale(power(_one_plus(power(x, 2.0), -1.0), -0.5), -1.0), r"\arccos",
         lambda xp, sp, x: xp.arccos(x), "{np}.arccos({x})", np.arccos, "interval"),
    _row("arctan", np.arctan, lambda x: power(_one_plus(power(x, 2.0)), -1.0), r"\arctan",
         lambda xp, sp, x: xp.arctan(x), "{np}.arctan({x})", np.arctan),
    _row("sinh", np.sinh, lambda x: _f("cosh")(x), r"\sinh",
         lambda xp, sp, x: xp.sinh(x), "{np}.sinh({x})", np.sinh),
    _row("cosh", np.cosh, lambda x: _f("sinh")(x), r"\cosh",
         lambda xp, sp, x: xp.cosh(x), "{np}.cosh({x})", np.cosh),
    _row("tanh", kernelfunctions.tanh, lambda x: _one_plus(power(_f("tanh")(x), 2.0), -1.0), r"\tanh",
         lambda xp, sp, x: xp.tanh(x), "{np}.tanh({x})", np.tanh),
    _row("sigmoid", functionvalues.sigmoid, lambda x: hadamard(_f("sigmoid")(x), _one_plus(_f("sigmoid")(x), -1.0)), r"\sigma",
         lambda xp, sp, x: 1.0 / (1.0 + xp.exp(-x)),
         {"numpy": "(1 / (1 + {np}.exp(-({x}))))", "torch": "{np}.sigmoid({x})"},
         summary="logistic function 1/(1 + e^-x), computed from e^-|x| (accurate in both tails, no "
                 "overflow); log(sigmoid(x)) is rewritten log_sigmoid(x), log(1 - sigmoid(x)) -softplus(x)"),
    _row("softplus", functionvalues.softplus, lambda x: _f("sigmoid")(x), r"\operatorname{softplus}",
         lambda xp, sp, x: xp.logaddexp(x * 0, x),
         {"numpy": "{np}.logaddexp(0.0, {x})", "torch": "{np}.logaddexp({np}.zeros_like({x}), {x})"},
         summary="log(1 + e^x), computed without overflow; its derivative is sigmoid"),
    _row("log_sigmoid", functionvalues.log_sigmoid, lambda x: _one_plus(_f("sigmoid")(x), -1.0), r"\log\sigma",
         lambda xp, sp, x: -xp.logaddexp(x * 0, -x),
         {"numpy": "(-{np}.logaddexp(0.0, -({x})))", "torch": "(-{np}.logaddexp({np}.zeros_like({x}), -({x})))"},
         summary="log(sigmoid(x)) = -softplus(-x), finite and accurate in both tails (jax.nn.log_sigmoid, "
                 "torch's logsigmoid); td.log(td.sigmoid(u)) is rewritten to it"),
    _row("erf", functionvalues.erf, lambda x: scale(_f("exp")(scale(power(x, 2.0), -1.0)), 2.0 / math.sqrt(math.pi)),
         r"\operatorname{erf}", lambda xp, sp, x: sp.erf(x), "{sp}.erf({x})",
         summary="error function (scipy.special.erf with scipy, math.erf entry by entry without)"),
    _row("gelu", functionvalues.gelu, _gelu_derivative, r"\operatorname{gelu}",
         lambda xp, sp, x: x * (0.5 * sp.erfc(-x * functionvalues.SQRT_HALF)),
         "{x} * (0.5 * {sp}.erfc(-({x}) * 0.7071067811865476))",
         summary="exact GELU x·Φ(x), Φ the normal CDF (torch's default, jax.nn.gelu(approximate=False))"),
    _row("lgamma", functionvalues.special_function("gammaln", "lgamma"), lambda x: _f("digamma")(x), r"\log\Gamma",
         lambda xp, sp, x: sp.gammaln(x), "{sp}.gammaln({x})", None, "positive",
         summary="log|Γ(x)| (scipy.special.gammaln; needs scipy to evaluate)"),
    _row("digamma", functionvalues.special_function("digamma", "digamma"), lambda x: polygamma_function(1)(x), r"\psi",
         lambda xp, sp, x: sp.digamma(x), "{sp}.digamma({x})", None, "positive",
         summary="ψ(x) = Γ′(x)/Γ(x); its derivatives are polygamma1, polygamma2, ... (needs scipy)"),
    _row("abs", np.abs, lambda x: _f("sign")(x), r"\operatorname{abs}",
         lambda xp, sp, x: xp.abs(x), "{np}.abs({x})", np.absolute, "kink", summary="absolute value; abs′(0) = 0"),
    _row("sign", np.sign, _zero_derivative, r"\operatorname{sign}",
         lambda xp, sp, x: xp.sign(x), "{np}.sign({x})", np.sign, "kink", summary="sign -1, 0, 1; its derivative is 0"),
    _row("step", functionvalues.step, _zero_derivative, r"\theta",
         lambda xp, sp, x: xp.heaviside(x, 0.0),
         {"numpy": "{np}.heaviside({x}, 0.0)", "torch": "{np}.heaviside({x}, {np}.zeros_like({x}))"},
         None, "kink", summary="Heaviside step: 1 where x > 0, else 0; its derivative is 0"),
    _row("relu", functionvalues.relu, lambda x: _f("step")(x), r"\operatorname{relu}",
         lambda xp, sp, x: xp.maximum(x, 0), {"numpy": "{np}.maximum({x}, 0)", "torch": "{np}.clamp({x}, min=0)"},
         None, "kink", summary="max(x, 0); its derivative is step(x), 0 at 0"),
    _row("stop_gradient", functionvalues.identity, _zero_derivative, r"\operatorname{sg}",
         lambda xp, sp, x: x, {"numpy": "{x}", "jax": "{lax}.stop_gradient({x})", "torch": "({x}).detach()"},
         finite_differences=False,
         summary="x's value with derivative 0 at every order (jax.lax.stop_gradient, torch's detach)"),
]

FUNCTIONS = {fn.name: fn for fn in _ROWS}
globals().update(FUNCTIONS)   # td.exp, td.erf, ...: each row is its public name (see __init__)


# ---------------------------------------------------------------- polygamma: digamma's derivatives

_POLYGAMMA_NAME = re.compile(r"polygamma([1-9][0-9]*)")
_polygammas = {}
_polygammas_lock = threading.Lock()


def polygamma_function(n):
    """ψ⁽ⁿ⁾ as an elementwise function (n ≥ 1; n = 0 is digamma); the derivatives of lgamma."""
    if n == 0:
        return FUNCTIONS["digamma"]
    fn = _polygammas.get(n)
    if fn is None:
        with _polygammas_lock:
            fn = _polygammas.get(n)
            if fn is None:
                fn = _polygammas[n] = Elementwise(
                    f"polygamma{n}", lambda x: functionvalues.scipy_special("polygamma").polygamma(n, x),
                    lambda x: polygamma_function(n + 1)(x), r"\psi^{(%d)}" % n,
                    array=lambda xp, sp, x: sp.polygamma(n, x),
                    code={"numpy": "{sp}.polygamma(%d, {x})" % n, "torch": "{sp}.polygamma(%d, {x})" % n},
                    domain="positive")
    return fn


def polygamma(n: int, x: ExprLike) -> Expr:
    """ψ⁽ⁿ⁾(x) elementwise, the n-th derivative of digamma (scipy.special.polygamma; n = 0 is digamma).

    Parameters
    ----------
    n : int
        The order, ≥ 0 (0 is digamma).
    x : Expr or array_like
        The argument, of any shape (positive entries).

    Returns
    -------
    Expr
        ψ⁽ⁿ⁾(x) at each entry; evaluating it needs scipy.

    Raises
    ------
    TensorDiffError
        If ``n`` is not a non-negative int.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.diff(td.digamma(td.scalar("x")), td.scalar("x")) is td.polygamma(1, td.scalar("x"))
    True
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise TensorDiffError(f"polygamma's order n must be a non-negative int, got {n!r:.60}")
    return polygamma_function(n)(x)


def builtin_function(name):
    """The built-in elementwise function printed as ``name`` (a table row or polygammaN), or None."""
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    match = _POLYGAMMA_NAME.fullmatch(name)
    return polygamma_function(int(match.group(1))) if match else None


# Words the parser reads as something else than a user function: a user function of such a name
# prints as user.<name>. parse.py adds its own words (inv, tr, eye, ...).
_reserved_words = {"pow"}


def reserve_words(words):
    """Mark ``words`` as built-in words of the notation (a user function named so prints as user.<name>)."""
    _reserved_words.update(words)


def marked(fn):
    """Whether user function ``fn`` prints as user.<name>: its name is a built-in word."""
    return fn.user and (fn.base in _reserved_words or builtin_function(fn.base) is not None)


# ---------------------------------------------------------------- x^p

_NAMED_POWERS = {2.0: "square", 0.5: "sqrt", -1.0: "reciprocal"}   # numpy's (and the others') faster spellings


class Power(Elementwise):
    """x ↦ x^p elementwise, for a constant p."""

    def __init__(self, p):
        super().__init__("pow", self._numeric_for(p), self._power_derivative, None,
                         rewrites=(self._trivial,), array=lambda xp, sp, x: self._array(xp, x))
        self.p = self.exponent = p
        self.key = ("pow", p)

    @staticmethod
    def _numeric_for(p):
        named = _NAMED_POWERS.get(p)
        return getattr(np, named) if named else (lambda x: np.power(x, p))

    def _array(self, xp, x):
        named = _NAMED_POWERS.get(self.p)
        return getattr(xp, named)(x) if named else xp.power(x, self.p)

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
        scaled = _scaled_entrywise(arg)
        if scaled is not None and (scaled[0] > 0 or self.p == int(self.p)):
            magnitude = scaled[0] if scaled[0] > 0 else -scaled[0]   # abs is the elementwise row here
            factor = magnitude ** self.p * (-1.0 if scaled[0] < 0 and self.p % 2 else 1.0)
            if factor != 0.0 and math.isfinite(factor):   # else left as it is: the caller's checks see it
                return scale(self(scaled[1]), factor)   # (c x)^p = c^p x^p: (0.5 u)^-1 .* u is 2
        return None

    @property
    def display(self) -> str:
        return "sqrt" if self.p == 0.5 else f"pow{self.p:g}"

    def __reduce__(self):
        return (power_function, (self.p,))


def _scaled_entrywise(arg):
    """(c, x) when ``arg`` is c·x entry by entry (an einsum of one operand, nothing summed), else None."""
    if isinstance(arg, Einsum) and arg.coeff != 1.0 and len(arg.operands) == 1 and arg.subscripts[0] == arg.out \
            and len(set(arg.out)) == len(arg.out) == len(arg.dims):
        return arg.coeff, arg.operands[0]
    return None


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
    """``x ** p`` elementwise for a constant p.

    >>> import tensordiff as td
    >>> from tensordiff.functions import power
    >>> power(td.vector("x", "n"), 3).shape
    ('n',)
    """
    p_value = constant_value(as_expr(p)) if not isinstance(p, (int, float)) else p
    if p_value is None:
        raise TensorDiffError(f"the exponent of ** must be a constant number, got {p!r:.60}")
    return power_function(p_value)(x)


# ---------------------------------------------------------------- user functions

DECLARED_USER_FUNCTIONS = {}   # name -> the user function td.elementwise declared under it (userfunctions.py)


def registered_user_function(base, order=0):
    """The user function ``base`` (declared with td.elementwise) differentiated ``order`` times, or None."""
    return _user_function(base, order) if base in DECLARED_USER_FUNCTIONS else None


def _user_function(base, order):
    """The user function ``base`` differentiated ``order`` times (unpickling; parsing h'(x))."""
    fn = DECLARED_USER_FUNCTIONS.get(base)
    if fn is None:   # declared now, abstract, as td.elementwise(base) declares it
        fn = DECLARED_USER_FUNCTIONS[base] = abstract_function(base, 0, None, None)
    for _ in range(order):
        fn = fn.derivative_function()
    return fn


def abstract_function(base, order, numeric, latex):
    """h^(order) with numeric implementation ``numeric`` (None: supplied at evaluation)."""
    fn = Elementwise(base, numeric, None, latex, order=order, base=base, user=True)
    fn.name = base if order == 0 else base + PRIMES.get(order, f"^({order})")
    return fn


__all__ = ["Elementwise", "polygamma", "FUNCTIONS", *FUNCTIONS]   # noqa: PLE0604 - the rows' names
