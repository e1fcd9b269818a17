"""How the structure constants of composite dims print: mixins of the printers.

In index notation a merge is the Iverson bracket ``[k = (i,j)]`` (k enumerates the pairs (i, j)
in C order), an embedding ``[k = n + i]`` (part i placed after a part of dim n), a renaming
``[k = i]``. The code printer writes reshapes, slices and pads (evaluation's plan, which codegen
also follows) and the sizes of composite dims as products and sums of their parts' sizes.

>>> import tensordiff as td
>>> print(td.vec(td.matrix("X", "m n")))
out[i] = Σ_jk [i = (j,k)] X[k,j]
"""

from .indices import concat_parts, letters, literal_size, merged_parts

__all__ = ["StructureIndexForms", "StructureCodeForms", "size_code"]


class StructureIndexForms:
    """Index notation and LaTeX (through the printer's ``bracket`` and ``dim``)."""

    def _merge(self, node, idx, taken):
        return self.bracket(f"{idx[0]} = ({','.join(idx[1:])})")

    def _embed(self, node, idx, taken):
        offset = " + ".join(self.dim(p) for p in node.parts[:node.k])
        return self.bracket(f"{idx[0]} = {offset + ' + ' if offset else ''}{idx[1]}")

    def _reinterpret(self, node, idx, taken):
        return self.bracket(f"{idx[0]} = {idx[1]}")

    def _planned(self, node, idx, taken):
        """reshape(X[k,l])[i,j]: the nodes evaluation plans with, for messages and debugging."""
        inner = letters(node.arg.ndim, avoid=set(taken) | set(idx))
        body = self.render(node.arg, inner, set(taken) | set(inner))
        return self.sub(self.call(type(node).__name__.lower(), body), idx)

    _reshape = _part = _place = _planned


def size_code(dim, size):
    """Code for the size of a composite or decimal dim from ``size(part)``; None for other dims."""
    if literal_size(dim) is not None:
        return str(literal_size(dim))
    parts = concat_parts(dim)
    if parts is not None:
        return "(" + " + ".join(size(p) for p in parts) + ")"
    parts = merged_parts(dim)
    if parts is not None:
        return "(" + " * ".join(size(p) for p in parts) + ")"
    return None


class StructureCodeForms:
    """Source for the evaluation nodes of composite dims (numpy, jax.numpy and torch)."""

    def _shape_code(self, dims):
        return "(" + "".join(self.size(d) + ", " for d in dims) + ")"

    def _reshape(self, node):
        arg = self.code(node.arg)
        if not arg.isidentifier():   # x ** -1.reshape(...) would read -1.reshape: bracket what is no name
            arg = f"({arg})"
        return f"{arg}.reshape({self._shape_code(node.shape)})"

    def _offset(self, node):
        return " + ".join(self.size(p) for p in node.parts[:node.k]) or "0"

    def _part(self, node):
        start = self._offset(node)
        keys = ":, " * node.axis + f"{start}:{start} + {self.size(node.parts[node.k])}"
        return f"({self.code(node.arg)})[{keys}]"

    def _place(self, node):
        before = self._offset(node)
        total = self.size(node.shape[node.axis])
        after = f"{total} - ({before}) - {self.size(node.parts[node.k])}"
        module = self.ids.module
        if self.target == "torch":
            pads = "0, 0, " * (node.arg.ndim - 1 - node.axis) + f"{before}, {after}"
            return f"{module}.nn.functional.pad({self.code(node.arg)}, ({pads}))"
        widths = ", ".join("(0, 0)" if a != node.axis else f"({before}, {after})" for a in range(node.arg.ndim))
        return f"{module}.pad({self.code(node.arg)}, [{widths}])"

    def _structure(self, node):
        """A structure constant left in a product (a last resort): rows of the identity, reshaped."""
        total = self.size(node.shape[0])
        eye = self.t["eye"].format(total)
        if type(node).__name__ == "Merge":
            return f"{eye}.reshape({self._shape_code(node.shape)})"
        if type(node).__name__ == "Embed":
            start = self._offset(node)
            return f"{eye}[:, {start}:{start} + {self.size(node.parts[node.k])}]"
        return eye

    _merge = _embed = _reinterpret = _structure
