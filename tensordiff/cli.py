"""The command line: differentiate an expression typed in matrix notation.

    tensordiff EXPR --wrt X [--order K] [--dims X="n p" ...]
               [--format matrix|index|einsum|latex|numpy|jax|torch] [--check] [--progress]
    tensordiff --demo
"""

import argparse
import sys

from . import demo, progress
from .codegen import codegen
from .diff import diff
from .errors import TensorDiffError
from .expr import Var, topological
from .matrixform import matrix_notation
from .parse import parse
from .printing import index_notation, latex, to_einsum
from .testing import check

__all__ = ["main"]

FORMATS = ("matrix", "index", "einsum", "latex", "numpy", "jax", "torch")

EXAMPLES = """examples:
  tensordiff "log(det(W*W' + s^2*eye))" --wrt W
      2*inv(s^2*eye + W*W')*W
  tensordiff "inv(X'*X + lam*eye)*X'*y" --wrt lam --dims X="n p"
  tensordiff "inv(X'*X + lam*eye)*X'*y" --wrt X --format index       (order 3: index notation)
  tensordiff "norm2(tanh(X*W)*a - y)^2" --wrt W --check
  tensordiff "tr(Y'*(W*W' + s^2*eye)*Y)" --wrt W --format numpy
  tensordiff "x'*A*x" --wrt x --order 2
  tensordiff --demo                          (the four worked questions, checked numerically)

Exit status: 0 on success, 2 on bad input (with a one-line error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise TensorDiffError(message)


def _parser():
    parser = _Parser(prog="tensordiff", description="Exact symbolic derivatives of matrix expressions.",
                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("expr", nargs="?", help="the expression, in matrix notation (quote it)")
    parser.add_argument("--wrt", help="the symbol to differentiate with respect to")
    parser.add_argument("--order", type=int, default=1, help="order of the derivative (default 1)")
    parser.add_argument("--dims", nargs="*", default=[], metavar='NAME="d1 d2"',
                        help='dims of a symbol, e.g. X="n p" (others are inferred)')
    parser.add_argument("--format", choices=FORMATS, default="matrix",
                        help="output format (default: matrix notation where one exists)")
    parser.add_argument("--check", action="store_true",
                        help="compare with central finite differences on random values")
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
    if args.demo:
        demo.run()
        return 0
    if args.expr is None or args.wrt is None:
        raise TensorDiffError("give an expression and --wrt SYMBOL (see tensordiff --help)")
    if args.order < 0:
        raise TensorDiffError(f"--order must be ≥ 0, got {args.order}")
    expr = parse(args.expr, **_dims(args.dims))
    symbols = {n.name: n for n in topological([expr]) if isinstance(n, Var)}
    if args.wrt not in symbols:
        raise TensorDiffError(f"--wrt {args.wrt!r} is not a symbol of the expression "
                              f"(its symbols: {', '.join(sorted(symbols)) or 'none'})")
    wrt = symbols[args.wrt]
    result = diff(expr, wrt, args.order)
    shape = ", ".join(result.shape)
    writers = {
        "matrix": matrix_notation, "index": index_notation, "einsum": to_einsum, "latex": latex,
        "numpy": lambda e: codegen(e, "numpy", "derivative"), "jax": lambda e: codegen(e, "jax", "derivative"),
        "torch": lambda e: codegen(e, "torch", "derivative"),
    }
    print(writers[args.format](result), file=out)
    if args.check:
        report = check(expr, wrt, order=args.order) if args.order >= 1 else None
        if report is not None:
            print(f"# finite-difference check (shape ({shape})): max abs error {report.max_abs_error:.3g}, "
                  f"max rel error {report.max_rel_error:.3g}", file=out)
    return 0


def main(argv=None):
    """Entry point of ``tensordiff`` and ``python -m tensordiff``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        with progress.enabled(args.progress):
            return run(args, sys.stdout)
    except TensorDiffError as exc:
        print(f"tensordiff: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc):
    """The error on one line; a caret display becomes 'at column N: text'."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    if len(lines) >= 3 and lines[-1].strip() == "^":
        column = lines[-1].index("^") - 2
        return f"{lines[0]} (at column {column + 1}: {lines[-2].strip()})"
    return lines[0]
