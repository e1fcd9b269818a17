"""Standalone source code: a Python function computing expressions with einsum calls.

The function imports only its array library (numpy, jax.numpy or torch), takes the symbols as
arguments (sorted by name; user elementwise functions and their derivatives as further
arguments h, h_1, h_2, ...; then the sizes of dims no argument has), reads dim sizes from the
argument shapes, and computes each shared subexpression once. Any legal names work: a name
Python cannot use as it is gets trailing underscores (``lambda_``; see naming.py), and the
module alias and intermediates steer clear of every name the expression uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

from .codechecks import gradient_check, scalar_tensors, shape_asserts
from .errors import TensorDiffError
from .expr import Var, topological
from .naming import CodeNames
from .einsumcode import TARGETS, CodePrinter, code_bindings, import_line
from .printing import code_name
from .reshapesteps import plan_structures
from .simplify import as_expr
from .sizecode import composite_asserts, size_lines
from .annotations import Exprs, Target
from .expr import Expr

__all__ = ["codegen"]


def codegen(exprs: Exprs, target: Target = "numpy", name: str = "f", asserts: bool = False, check: bool = False) -> str:
    """Source of a standalone Python function computing one expression or several.

    The function imports only its array library, takes the symbols as arguments (sorted by name;
    then user elementwise functions and their derivatives as ``h, h_1, ...``; then the sizes of dims
    no argument has), reads sizes from the argument shapes, and computes each shared subexpression
    once. Names Python cannot use get a trailing underscore (``lambda_``). Given ``[f,
    td.grad(f, X), ...]`` it returns the value and the gradients together; ``asserts`` adds shape
    asserts on its inputs and ``check`` a gradient-check helper, as matrixcalculus.org's code has.

    Parameters
    ----------
    exprs : Expr or list of Expr
        One expression (the function returns an array) or a list (it returns a tuple).
    target : {"numpy", "jax", "torch"}, optional
        The array library the code calls (default "numpy").
    name : str, optional
        The function's name (default "f").
    asserts : bool, optional
        Start the function with asserts on its inputs: each argument's number of axes, each
        dim it shares with an earlier argument of the same size, and each composite axis (d·k,
        a+b) of the size its parts give (default False).
    check : bool, optional
        Add ``check_<name>(...)``, with the same arguments and ``eps=1e-6, seed=0``, returning the
        largest relative error between each gradient the function returns and central differences
        of its first result along a random direction, symmetric for a symmetric symbol (it imports
        numpy for the directions). Needs a
        scalar first expression followed by gradients of it (default False).

    Returns
    -------
    str
        The module source: an import line and the function.

    Raises
    ------
    TensorDiffError
        If ``target`` is unknown, ``name`` is not a Python identifier, or ``check`` is asked for
        without a scalar first expression and its gradient.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> source = td.codegen(td.grad(td.logdet(X.T @ X), X), target="numpy", name="grad_logdet")
    >>> print(source.splitlines()[0])
    import numpy as np
    >>> print(source.splitlines()[3])
    def grad_logdet(X):
    >>> namespace = {}
    >>> exec(source, namespace)
    >>> Xv = np.random.default_rng(0).normal(size=(6, 3))
    >>> np.allclose(namespace["grad_logdet"](Xv), 2 * Xv @ np.linalg.inv(Xv.T @ Xv))
    True
    >>> f = td.sum((X @ td.vector("w", "p") - td.vector("y", "n")) ** 2)
    >>> w = td.vector("w", "p")
    >>> source = td.codegen([f, td.grad(f, w)], name="loss", asserts=True, check=True)
    >>> exec(source, namespace)
    >>> rng = np.random.default_rng(1)
    >>> value, gradient = namespace["loss"](Xv, rng.normal(size=3), rng.normal(size=6))
    >>> namespace["check_loss"](Xv, rng.normal(size=3), rng.normal(size=6)) < 1e-6
    True
    """
    if not isinstance(target, str) or target not in TARGETS:
        raise TensorDiffError(f"unknown codegen target {target!r:.60}; choose one of {', '.join(TARGETS)}")
    code_name(name, "codegen")
    single = not isinstance(exprs, (list, tuple))
    given = [as_expr(e) for e in ((exprs,) if single else exprs)]
    roots = plan_structures(given)   # vec, kron, concatenate: reshapes, slices and pads, as evaluation runs them
    ids = CodeNames(roots, TARGETS[target]["module"], avoid={name})
    bound = [n for n in code_bindings(roots, target) if n not in roots]
    names = dict(zip(bound, ids.bindings(len(bound))))
    printer = CodePrinter(names, target, ids)
    body = [f"{names[node]} = {printer.code(node, defining=node)}" for node in bound]
    results = [printer.code(root, defining=root) if root not in names else names[root] for root in roots]
    sizes = _size_lines(roots, printer.dims_used, ids)
    params = list(ids.symbols.values()) + list(ids.functions.values())
    params += [ids.dims[d] for d, code in sizes if code is None]
    lines = [import_line(target, ids.module), *printer.import_lines(), "", "", f"def {name}({', '.join(params)}):"]
    lines.append(f'    """Generated by tensordiff ({target})."""')
    if asserts:
        lines += [f"    {line}" for line in shape_asserts(roots, ids)]
    lines += [f"    {line}" for line in scalar_tensors(roots, ids, target)]
    lines += [f"    {ids.dims[d]} = {code}" for d, code in sizes if code is not None]
    if asserts:
        arguments = sorted((n for n in topological(roots) if isinstance(n, Var)), key=lambda n: n.name)
        lines += [f"    {line}" for line in composite_asserts([(ids.symbols[n.name], n.dims) for n in arguments],
                                                             {d for d, _ in sizes}, ids.dims)]
    lines += [f"    {line}" for line in body]
    lines.append("    return " + (results[0] if single else "(" + ", ".join(results) + ("," if results else "") + ")"))
    if check:
        lines += gradient_check(given, ids, name, target, params, ids.module)   # td.grad finds the gradients as given
    return "\n".join(lines) + "\n"


def _size_lines(roots: list[Expr], dims: Iterable[str], ids: CodeNames) -> list[tuple[str, Optional[str]]]:
    """[(dim, code reading its size from the argument shapes, or None where none gives it)] (sizecode.py)."""
    arguments = sorted((n for n in topological(roots) if isinstance(n, Var)), key=lambda n: n.name)
    return size_lines([(ids.symbols[node.name], node.dims) for node in arguments], dims, ids.dims)
