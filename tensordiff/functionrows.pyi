"""The rows of the function table (functions.FUNCTIONS), named for type checkers.

functions.py publishes each row under its name at run time (``globals().update(FUNCTIONS)``), which
a type checker cannot follow; this stub declares the same names, and tests/test_typing.py checks
that it lists exactly the table's rows. A new row is one more line here.
"""

from .functions import Elementwise

__all__ = ["exp", "log", "log1p", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sigmoid",
           "softplus", "log_sigmoid", "erf", "gelu", "lgamma", "digamma", "abs", "sign", "step", "relu", "stop_gradient"]

exp: Elementwise
log: Elementwise
log1p: Elementwise
sin: Elementwise
cos: Elementwise
tan: Elementwise
arcsin: Elementwise
arccos: Elementwise
arctan: Elementwise
sinh: Elementwise
cosh: Elementwise
tanh: Elementwise
sigmoid: Elementwise
softplus: Elementwise
log_sigmoid: Elementwise
erf: Elementwise
gelu: Elementwise
lgamma: Elementwise
digamma: Elementwise
abs: Elementwise
sign: Elementwise
step: Elementwise
relu: Elementwise
stop_gradient: Elementwise
