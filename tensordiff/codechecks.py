"""What generated code checks: shape asserts on a function's inputs, and a gradient-check helper.

codegen.py writes the function; this module writes the lines that guard it, as matrixcalculus.org's
generated code does: an assert per argument that its number of axes is right and that every dim it
shares with an earlier argument has the same size, and, for a scalar function emitted together
with its gradients, ``check_<name>(...)``, which compares each gradient with central finite
differences of the function along a random direction (HIPS autograd's check, in the generated
code's own array library, with numpy drawing the directions; symmetric for a symmetric symbol, whose
gradient sym(G) gives the derivative along symmetric directions only).
"""

from .diff import grad
from .errors import TensorDiffError
from .expr import Var, topological

__all__ = ["shape_asserts", "scalar_tensors", "gradient_pairs", "gradient_check"]

# How the check helper makes an array of the target's kind from a numpy direction.
AS_ARRAY = {"numpy": "{m}.asarray({x})", "jax": "{m}.asarray({x})",
            "torch": "{m}.as_tensor({x}, dtype={m}.float64, device=getattr({arg}, 'device', None))"}
# ... and a numpy array of a result: a torch tensor may require grad or live on a GPU.
AS_NUMPY = {"numpy": "{n}.asarray({x})", "jax": "{n}.asarray({x})", "torch": "{m}.as_tensor({x}).detach().cpu().numpy()"}


def shape_asserts(roots, ids):
    """Lines asserting each array argument's number of axes and the sizes its dims share with others."""
    lines, first = [], {}
    for node in _arguments(roots):
        arg = ids.symbols[node.name]
        if not node.shape:
            lines.append(f'assert not getattr({arg}, "shape", ()), '
                         f'f"{arg}: expected a scalar, got shape {{tuple({arg}.shape)}}"')
            continue
        lines.append(f"assert len({arg}.shape) == {node.ndim}, "
                     f'f"{arg}: expected {node.ndim} {"axis" if node.ndim == 1 else "axes"} ({", ".join(node.shape)}), got shape {{tuple({arg}.shape)}}"')
        for axis, dim in enumerate(node.shape):
            if dim not in first:
                first[dim] = (arg, axis)
                continue
            other, other_axis = first[dim]
            lines.append(f"assert {arg}.shape[{axis}] == {other}.shape[{other_axis}], "
                         f'f"{arg}: axis {axis} is dim {dim}, of size {{{other}.shape[{other_axis}]}} in {other}, '
                         f'got {{{arg}.shape[{axis}]}}"')
    return lines


def scalar_tensors(roots, ids, target):
    """Lines making each scalar argument a float64 tensor, for torch: its functions (torch.log,
    torch.sigmoid, ...) take tensors only, where a caller passes a Python float for a scalar."""
    if target != "torch":
        return []
    return [f"{ids.symbols[node.name]} = {ids.module}.as_tensor({ids.symbols[node.name]}, dtype={ids.module}.float64)"
            for node in _arguments(roots) if not node.shape]


def gradient_pairs(roots):
    """[(index of a gradient among roots, the symbol)] for the roots that are the gradient of roots[0]
    (a scalar) with respect to a symbol; nodes are interned, so td.grad finds them by identity."""
    if not roots or roots[0].shape:
        return []
    symbols = _arguments(roots[:1])
    pairs = []
    for k, root in enumerate(roots[1:], start=1):
        for symbol in symbols:
            if symbol.shape == root.shape and grad(roots[0], symbol) is root:
                pairs.append((k, symbol))
                break
    return pairs


def gradient_check(roots, ids, name, target, params, module):
    """Source of ``check_<name>(params..., eps, seed)``: the largest relative error between each
    gradient ``name`` returns and central finite differences of its first result."""
    pairs = gradient_pairs(roots)
    if not pairs:
        raise TensorDiffError("codegen(check=True) needs a scalar first expression followed by its gradient "
                              "with respect to a symbol, as in [f, td.grad(f, X)]")
    local = {word: ids.claim(word) for word in ("eps", "seed", "numpy", "rng", "results", "worst",
                                                "direction", "up", "down", "numeric", "exact")}
    helper = ids.claim(f"check_{name}")
    eps, rng, worst = local["eps"], local["rng"], local["worst"]
    to_array = AS_ARRAY[target]

    def as_numpy(x):
        return AS_NUMPY[target].format(m=module, n=local["numpy"], x=x)
    lines = ["", "", f"def {helper}({', '.join(params)}, {eps}=1e-6, {local['seed']}=0):",
             f'    """The largest relative error of {name}\'s gradients against central differences of its value',
             '    along a random direction (about 1e-8 or less when they agree, in float64)."""',
             "    import numpy" + ("" if local["numpy"] == "numpy" else f" as {local['numpy']}"),
             f"    {rng} = {local['numpy']}.random.default_rng({local['seed']})",
             f"    {local['results']} = {name}({', '.join(params)})",
             f"    {worst} = 0.0"]
    for k, symbol in pairs:
        arg, direction = ids.symbols[symbol.name], local["direction"]
        moved = {sign: [f"{p} {sign} {eps} * {direction}" if p == arg else p for p in params]
                 for sign in "+-"}
        lines.append(f"    {direction} = {rng}.standard_normal({local['numpy']}.shape({arg}))")
        if symbol.symmetric:   # the gradient is sym(G): it gives the derivative along symmetric directions only
            lines.append(f"    {direction} = ({direction} + {direction}.T) / 2")
        lines += [f"    {direction} = {to_array.format(m=module, x=direction, arg=arg)}",
                  f"    {local['up']} = {as_numpy(name + '(' + ', '.join(moved['+']) + ')[0]')}",
                  f"    {local['down']} = {as_numpy(name + '(' + ', '.join(moved['-']) + ')[0]')}",
                  f"    {local['numeric']} = float(({local['up']} - {local['down']}) / (2 * {eps}))",
                  f"    {local['exact']} = float({local['numpy']}.sum({as_numpy(local['results'] + f'[{k}]')}"
                  f" * {as_numpy(local['direction'])}))",
                  f"    {worst} = max({worst}, abs({local['numeric']} - {local['exact']}) / max(1.0, abs({local['exact']})))"]
    lines.append(f"    return {worst}")
    return lines


def _arguments(roots):
    """The symbols of ``roots``, sorted by name (the generated function's argument order)."""
    return sorted((node for node in topological(roots) if isinstance(node, Var)), key=lambda node: node.name)
