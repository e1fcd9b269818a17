"""Names the printers make up, chosen around the names the user gave.

User names (symbols, dims, user functions) may be any identifier, so nothing generated may assume
a name is free: let-bindings t1, t2, ... skip the ones a user name takes. Generated Python needs
more: every user name must be a usable identifier distinct from the others and from what the code
itself uses (the array module, the builtins it calls). A name that is a keyword (``lambda``), that
Python reads as another one (it normalises identifiers to NFKC: ``ﬁ`` is ``fi``), or that is
taken already gets trailing underscores (``lambda_``, ``fi_``), as PEP 8 suggests. Symbols are
served first, so they keep their names whenever Python can read them; dims and the module alias
give way.
"""

import keyword
import unicodedata

from .expr import Apply, Einsum, Select, Var, topological
from .indices import base_dims, slice_of

__all__ = ["CodeNames", "binding_names", "user_function_name", "user_names"]

# Builtins generated code calls (sizes of sliced dims) and names Python will not bind.
CODE_BUILTINS = frozenset({"len", "range", "list", "__debug__"})


def user_function_name(fn):
    """The Python name a user function asks for in generated code: h, h_1 (h′), h_2 (h″), ..."""
    return fn.base + (f"_{fn.order}" if fn.order else "")


def _base_dims(dim):
    """``dim``, the dims it was cut from (n[1:4]) and the plain dims a composite one is made of (n·m)."""
    yield from base_dims(dim)   # the plain dims whose sizes give dim's (n and m for (n+m)·p)
    while dim is not None:
        yield dim
        parts = slice_of(dim)
        dim = parts[0] if parts is not None else None


def user_names(nodes):
    """(symbols {name: Var}, user functions {(base, order): Elementwise}, dims) met in ``nodes``."""
    symbols, functions, dims = {}, {}, set()
    for node in nodes:
        axes = list(node.shape) + list(node.dims if isinstance(node, Einsum) else ())
        axes += [node.dim] if isinstance(node, Select) else []
        dims.update(d for axis in axes for d in _base_dims(axis))
        if isinstance(node, Var):
            symbols[node.name] = node
        elif isinstance(node, Apply) and node.fn.user:
            functions.setdefault((node.fn.base, node.fn.order), node.fn)
    return symbols, functions, dims


def binding_names(count, taken):
    """``count`` names t1, t2, ... skipping those in ``taken``."""
    names, k = [], 0
    while len(names) < count:
        k += 1
        if f"t{k}" not in taken:
            names.append(f"t{k}")
    return names


class CodeNames:
    """Python identifiers for one piece of generated code.

    ``symbols``: {symbol name: identifier}; ``functions``: {(base, order): identifier};
    ``dims``: {dim: identifier}; ``module``: the array module's alias. ``avoid`` holds names the
    module alias and the bindings must not take (the generated function's own name).
    """

    def __init__(self, roots, module, avoid=(), extra_symbols=()):
        symbols, functions, dims = user_names(topological(roots))
        self.taken = set(CODE_BUILTINS)
        self.symbols = {name: self._claim(name) for name in sorted(set(symbols) | set(extra_symbols))}
        by_name = sorted(functions.items(), key=lambda item: user_function_name(item[1]))
        self.functions = {key: self._claim(user_function_name(fn)) for key, fn in by_name}
        self.dims = {dim: self._claim(dim) for dim in sorted(dims)}
        self.taken.update(_normal(name) for name in avoid)
        self.module = self._claim(module)

    def claim(self, name):
        """An identifier for ``name`` (a module alias asked for later), clear of every name so far."""
        return self._claim(name)

    def _claim(self, name):
        text = _normal(name)
        while keyword.iskeyword(text) or text in self.taken:
            text += "_"
        self.taken.add(text)
        return text

    def bindings(self, count):
        """Names for ``count`` intermediates, clear of every name above."""
        return binding_names(count, self.taken)


def _normal(name):
    """``name`` as Python reads it: its NFKC form (kept an identifier, which NFKC always gives for one)."""
    text = unicodedata.normalize("NFKC", name)
    if not text.isidentifier():  # defensive: spell each offending character as its code point
        text = "".join(ch if ("a" + ch).isidentifier() else f"_{ord(ch):x}" for ch in text)
        text = text if text.isidentifier() else "_" + text
    return text
