"""The command line: differentiate an expression typed in matrix notation.

    tensordiff EXPR --wrt X [--order K] [--dims X="n p" ...] [--symmetric S ...]
               [--format matrix|index|einsum|latex|numpy|jax|torch]
               [--check [--singular raise|nan] [--conditioning warn|ignore|raise]] [--progress]
    tensordiff --demo
    tensordiff --version | --info

It prints the dims it inferred on a comment line (``# X: (n, p), y: (n), lam: scalar``; ``%`` for
LaTeX), then the derivative.
"""

import argparse
import importlib.metadata
import importlib.util
import platform
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Optional

import numpy as np

from . import __version__, demo, progress
from .backends import BACKENDS, SINGULAR_POLICIES
from .codegen import codegen
from .conditioning import POLICIES as CONDITIONING_POLICIES
from .diff import diff
from .errors import IllConditionedWarning, TensorDiffError
from .evaluate import compile
from .expr import Var, topological
from .kernels import kernels_info
from .matrixlatex import latex, matrix_notation
from .parse import parse
from .einsumcode import to_einsum
from .printing import index_notation
from .testing import random_values

__all__ = ["main"]

FORMATS = ("matrix", "index", "einsum", "latex", "numpy", "jax", "torch")

EXAMPLES = """examples:
  tensordiff "log(det(W*W' + s^2*eye))" --wrt W
      2*inv(s^2*eye + W*W')*W
  tensordiff "inv(X'*X + lam*eye)*X'*y" --wrt lam --dims X="n p"
  tensordiff "inv(X'*X + lam*eye)*X'*y" --wrt X --format index       (order 3: index notation)
  tensordiff "norm2(tanh(X*W)*a - y)^2" --wrt W --check
  tensordiff "logdet(x*x')" --wrt x --check --singular nan   (a singular matrix: NaN, not an error)
  tensordiff "tr(Y'*(W*W' + s^2*eye)*Y)" --wrt W --format numpy
  tensordiff "x'*A*x" --wrt x --order 2
  tensordiff "x'*S*x" --wrt x --symmetric S
      2*S*x
  tensordiff "logdet(S) - tr(S*C)" --wrt S --symmetric S  (the gradient on symmetric matrices)
  tensordiff --demo                          (the four worked questions, checked numerically)

Exit status: 0 on success, 2 on bad input (with a one-line error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise TensorDiffError(message)


def _parser():
    parser = _Parser(prog="tensordiff", description="Exact symbolic derivatives of matrix expressions.",
                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--info", action="store_true",
                        help="print the versions, the kernels and the backends found, and exit")
    parser.add_argument("expr", nargs="?", help="the expression, in matrix notation (quote it)")
    parser.add_argument("--wrt", help="the symbol to differentiate with respect to")
    parser.add_argument("--order", type=int, default=1, help="order of the derivative (default 1)")
    parser.add_argument("--dims", nargs="*", default=[], metavar='NAME="d1 d2"',
                        help='dims of a symbol, e.g. X="n p" (others are inferred)')
    parser.add_argument("--symmetric", nargs="+", action="extend", default=[], metavar="NAME",
                        help="declare symmetric matrices (S = S'); the derivative with respect to one is "
                             "sym(G) = (G + G')/2")
    parser.add_argument("--format", choices=FORMATS, default="matrix",
                        help="output format (default: matrix notation where one exists)")
    parser.add_argument("--check", action="store_true",
                        help="compare with central finite differences on random values")
    parser.add_argument("--singular", choices=SINGULAR_POLICIES, default="raise",
                        help="for --check: a singular matrix is an error (raise, default) or gives NaN/-inf (nan)")
    parser.add_argument("--conditioning", choices=CONDITIONING_POLICIES, default="warn",
                        help="for --check: an ill-conditioned matrix warns (default), is ignored or is an error")
    parser.add_argument("--demo", action="store_true", help="run the four worked questions")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress of evaluations that take over half a second, on stderr")
    return parser


def _dims(items):
    dims = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise TensorDiffError(f'--dims takes NAME="d1 d2", got {item!r}')
        dims[name.strip()] = value.strip().strip("'\"")
    return dims


def run(args, out):
    if args.version:
        print(f"tensordiff {__version__}", file=out)
        return 0
    if args.info:
        print("\n".join(info_lines()), file=out)
        return 0
    if args.demo:
        demo.run()
        return 0
    if args.expr is None or args.wrt is None:
        raise TensorDiffError("give an expression and --wrt SYMBOL (see tensordiff --help)")
    if args.order < 0:
        raise TensorDiffError(f"--order must be ≥ 0, got {args.order}")
    expr = parse(args.expr, symmetric=args.symmetric, **_dims(args.dims))
    symbols = {n.name: n for n in topological([expr]) if isinstance(n, Var)}
    if args.wrt not in symbols:
        raise TensorDiffError(f"--wrt {args.wrt!r} is not a symbol of the expression "
                              f"(its symbols: {', '.join(sorted(symbols)) or 'none'})")
    wrt = symbols[args.wrt]
    comment = "%" if args.format == "latex" else "#"
    print(f"{comment} {inferred_dims(args.expr, symbols.values())}", file=out)
    result = diff(expr, wrt, args.order)
    shape = ", ".join(result.shape)
    writers = {
        # the symbols of the request size the dims the derivative no longer holds (eye(size(U, 1)))
        "matrix": lambda e: matrix_notation(e, sized_by=[wrt, *symbols.values()]), "index": index_notation,
        "einsum": lambda e: to_einsum(e, sized_by=[wrt, *symbols.values()]), "latex": latex,
        "numpy": lambda e: codegen(e, "numpy", "derivative"), "jax": lambda e: codegen(e, "jax", "derivative"),
        "torch": lambda e: codegen(e, "torch", "derivative"),
    }
    print(writers[args.format](result), file=out)
    if args.check and args.order >= 1:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IllConditionedWarning)
            sizes, abs_error, rel_error = _check(expr, wrt, args.order, singular=args.singular,
                                                 conditioning=args.conditioning)
        for message in dict.fromkeys(str(warning.message) for warning in caught):   # each once
            print(f"tensordiff: warning: {_as_options(message)}", file=sys.stderr)
        at = ", ".join(f"{dim}={size}" for dim, size in sizes.items())
        print(f"# finite-difference check at {at or 'no dims'} on random values (shape ({shape})): "
              f"max abs error {abs_error:.3g}, max rel error {rel_error:.3g}", file=out)
    return 0


def inferred_dims(text, symbols):
    """``X: (n, p), y: (n), alpha: scalar``: each symbol's dims, in order of appearance in ``text``.

    >>> import tensordiff as td
    >>> inferred_dims("x'*A*x + c", [td.matrix("A", "n n"), td.scalar("c"), td.vector("x", "n")])
    'x: (n), A: (n, n), c: scalar'
    """
    def first_use(node):
        match = re.search(rf"(?<![\w.]){re.escape(node.name)}(?!\w)", text)
        return (match.start() if match else len(text), node.name)
    def described(node):
        if not node.dims:
            return f"{node.name}: scalar"
        return f"{node.name}: ({', '.join(node.dims)})" + (" symmetric" if node.symmetric else "")
    return ", ".join(described(node) for node in sorted(symbols, key=first_use))


def _check(expr, wrt, order, eps=1e-6, **options):
    """({dim: size}, max abs error, max rel error) of the order-k derivative against central
    differences of the order k-1 one, on testing.random_values (as td.check), evaluated with
    ``options`` (singular=, conditioning=)."""
    values = random_values([expr, wrt])
    sizes = {}
    for node in topological([expr, wrt]):
        if isinstance(node, Var):
            sizes.update(zip(node.dims, np.shape(values[node.name])))
    lower = diff(expr, wrt, order - 1)
    symbolic = np.asarray(compile(diff(lower, wrt), **options)(values))   # one dict: any symbol name
    program = compile(lower, **options)
    x0 = np.asarray(values[wrt.name], dtype=np.float64)
    numeric = np.zeros(symbolic.shape)
    for index in np.ndindex(*x0.shape):
        step = np.zeros_like(x0)
        step[index] = eps
        moved = 1
        if wrt.symmetric:   # perturbed symmetrically, as testing.numeric_diff: sym(G), the symmetric gradient
            step[index[::-1]] = eps
            moved = 1 if index[0] == index[1] else 2
        plus = program({**values, wrt.name: x0 + step})
        minus = program({**values, wrt.name: x0 - step})
        numeric[(Ellipsis,) + index] = (np.asarray(plus) - np.asarray(minus)) / (2 * eps * moved)
    if not symbolic.size:
        return sizes, 0.0, 0.0
    error = float(np.max(np.abs(symbolic - numeric)))
    scale = max(float(np.max(np.abs(numeric))), float(np.max(np.abs(symbolic))), 1.0)   # as td.check
    return sizes, error, error / scale


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tensordiff`` and ``python -m tensordiff``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        with progress.enabled(args.progress):
            return run(args, sys.stdout)
    except TensorDiffError as exc:
        print(f"tensordiff: error: {_as_options(_one_line(exc))}", file=sys.stderr)
        return 2


def _as_options(message):
    """The library's advice names keyword arguments; here they are options."""
    for keyword, option in (('singular="nan"', "--singular nan"), ('conditioning="ignore"', "--conditioning ignore"),
                            ('conditioning="raise"', "--conditioning raise"),
                            ('conditioning="warn" or "ignore"', "--conditioning warn or ignore")):
        message = message.replace(keyword, option)
    return message


def _one_line(exc):
    """The error on one line; a caret display becomes 'at column N: text'."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    if len(lines) >= 3 and lines[-1].strip() == "^":
        column = lines[-1].index("^") - 2
        return f"{lines[0]} (at column {column + 1}: {lines[-2].strip()})"
    return lines[0]


def info_lines() -> list[str]:
    """What ``tensordiff --info`` prints: versions, kernels, and the backends installed (not imported)."""
    lines = [f"tensordiff {__version__}",
             f"python {platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
             f"numpy {_installed_version('numpy')}", f"opt_einsum {_installed_version('opt_einsum')}",
             f"kernels: {kernels_info()}", "backends:"]
    for name, (module, _) in BACKENDS.items():
        library = module.split(".")[0]
        found = importlib.util.find_spec(library) is not None
        status = f"{library} {_installed_version(library)}" if found else \
            f'not installed (pip install "tensordiff-symbolic[{name}]")'
        lines.append(f"  {name:<6} {status}")
    return lines


def _installed_version(library: str) -> str:
    """The version of the distribution that provides ``library`` (cupy comes as cupy-cuda12x etc.)."""
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        pass
    providers = getattr(importlib.metadata, "packages_distributions", None)   # Python 3.10 and later
    for distribution in (providers() if providers else {}).get(library, []):
        return importlib.metadata.version(distribution)
    return "(version unknown)"
