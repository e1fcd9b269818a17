"""Binding a call's values to a program: names, arrays, dims' sizes, and the checks on them.

Values are keyed by symbol names (or symbols); each is converted by the backend, its axes are
matched to its symbol's dims, and every dim gets one size from the values (or by name, for a dim
no value has). A symmetric symbol's value must be symmetric. Compiled lists of outputs may nest
(``td.hessian(f, [x, y])``'s blocks): ``flatten_outputs`` and ``nest`` take them apart and back.
"""

import math
import numbers

import numpy as np

from .errors import EvaluationError, ShapeError
from .expr import Var
from .symboltable import declared_dims, value_dims
from .indices import format_dims, slice_of, sliced_size
from .dimsizes import bind_dim_sizes, is_dim_size, origin_symbol_dims, unknown_name, unsized_error
from .select import bind_selections
from .simplify import as_expr

__all__ = ["bind_values", "dim_size", "require_symmetric", "by_name", "flatten_outputs", "nest"]


def bind_values(program, values):
    """(arrays, sizes, dtype) of a call's ``values`` ({name: value}): each value converted and checked by
    the program's backend, every dim's size bound (and checked against every other value's)."""
    arrays, sizes, origin, dtypes = {}, {}, {}, []
    given_sizes = {}
    for name, value in values.items():
        dims = program.symbols.get(name)
        if dims is None and is_dim_size(name, value, program):   # dimsizes.py: a dim's size, even one it lost
            # the size of a dim no value has: eye("n"), n=4 (a float for a symbol so named is its value)
            given_sizes[name] = dim_size(name, value)
            continue
        if dims is None:   # a symbol the expression lost: the one it was derived from, else by declaration
            dims = origin_symbol_dims(name, getattr(program, "outputs", ()))
        if dims is None:
            dims = declared_dims(name)
            if dims is None:
                raise unknown_name(name, value, program)
            dims = value_dims(name, program.dims, getattr(value, "ndim", None), getattr(value, "shape", None))
            if dims is None:   # several symbols of that name, none of them this expression's
                continue
        array = program.backend.to_array(name, value)
        if array.ndim != len(dims):
            raise ShapeError(f"value for {name!r} has shape {array.shape} but the symbol has dims "
                             f"{format_dims(dims)} ({len(dims)} axes)")
        for axis, (dim, size) in enumerate(zip(dims, array.shape)):
            if dim in sizes and sizes[dim] != size:
                raise ShapeError(f"dim {dim!r} is {sizes[dim]} in {origin[dim]} but {size} in axis {axis} of {name!r}")
            sizes[dim] = size
            origin.setdefault(dim, f"axis {axis} of {name!r}")
        if not isinstance(value, (int, float)):
            dtypes.append(array.dtype)
        arrays[name] = array
        if name in program.symmetric and (isinstance(value, np.ndarray) or not program.backend.lazy):
            require_symmetric(program.symmetric[name], value if program.backend.lazy else array)   # numpy, before dask wraps it
    for dim, size in given_sizes.items():
        if sizes.setdefault(dim, size) != size:
            raise ShapeError(f"dim {dim!r} is given as {size} but is {sizes[dim]} in {origin[dim]}")
    missing = sorted(set(program.symbols) - set(arrays))
    if missing:
        raise EvaluationError("no value for symbol(s) " + ", ".join(
            f"{m!r} (dims {format_dims(program.symbols[m])})" for m in missing))
    bind_selections(program.dims, program.index_checks, sizes)
    bind_dim_sizes(program.dims, program.nodes, sizes)   # dimsizes.py: parts solved from composites too
    _check_slices(sizes, origin)
    unbound = sorted(d for d in program.dims - set(sizes) if slice_of(d) is None)
    if unbound:
        raise unsized_error(unbound, values, sizes, program)
    return arrays, sizes, program.backend.result_type(dtypes)



def _check_slices(sizes, origin):
    """A value over a slice's dim (a symbol declared over "n[1:]") has the slice's length."""
    for dim, size in sizes.items():
        parts = slice_of(dim)
        if parts is None:
            continue
        derived = sliced_size(dim, {d: s for d, s in sizes.items() if d != dim})
        if derived is not None and derived != size:
            raise ShapeError(f"dim {dim!r} is {size} in {origin.get(dim, 'the values')}, but the slice {dim!r} of "
                             f"dim {parts[0]!r} has {derived} entries")


def dim_size(dim, value):
    """A dim's size passed by name: an int ≥ 0 (a numpy integer too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise EvaluationError(f"the size of dim {dim!r} must be an int >= 0, got {value!r:.40}")
    return int(value)


def require_symmetric(node, array):
    """Refuse a value of the symmetric symbol ``node`` that is not symmetric, to rounding: the
    largest |S - Sᵀ| must be within √eps of the largest |S| (1.5e-8 in float64, 3.5e-4 in float32).

    A value with NaN entries is not checked (its results are NaN, quietly, as numpy's), nor is
    one being traced (jax.jit), which cannot be inspected."""
    if 0 in array.shape:   # an empty matrix is symmetric (and has no largest entry)
        return
    try:
        with np.errstate(invalid="ignore"):   # inf - inf is a NaN gap: not checked, as a NaN entry
            gap = abs(array - array.T)
        largest, worst = float(abs(array).max()), float(gap.max())
    except TypeError:   # a jax tracer has no concrete value to compare
        return
    if largest != largest or worst != worst:
        return
    itemsize = getattr(array.dtype, "itemsize", 8)
    tolerance = math.sqrt({2: 2.0 ** -10, 4: 2.0 ** -23}.get(itemsize, 2.0 ** -52)) * largest
    if worst > tolerance:
        full = np.asarray(gap.tolist(), dtype=float)   # only to name the entry: numpy, whatever the backend
        where = tuple(int(k) for k in np.unravel_index(int(np.argmax(full)), full.shape))
        raise EvaluationError(f"the value of the symmetric symbol {node.name!r} {format_dims(node.dims)} is not "
                              f"symmetric: |{node.name} - {node.name}ᵀ| is {worst:.3g} at {where}, above the "
                              f"tolerance {tolerance:.3g} (√eps of its largest entry); pass (A + A.T)/2, or "
                              f"declare {node.name!r} without symmetric=True")


def flatten_outputs(items):
    """Nested lists/tuples of expressions as a flat tuple and the nesting to rebuild them with."""
    flat = []

    def walk(item):
        if isinstance(item, (list, tuple)):
            return tuple(walk(x) for x in item)
        flat.append(as_expr(item))
        return len(flat) - 1
    nesting = walk(items)
    return tuple(flat), nesting


def nest(outputs, nesting):
    if nesting is None:
        return outputs
    return tuple(nest(outputs, n) if isinstance(n, tuple) else outputs[n] for n in nesting)



def by_name(values):
    """A values dict keyed by names; a symbol (``{x: xv}``) stands for its name."""
    named = {}
    for key, value in values.items():
        if isinstance(key, Var):
            key = key.name
        elif not isinstance(key, str):
            raise EvaluationError(f"values are keyed by symbol names or symbols, got the key {key!r:.60}")
        if key in named:   # {x: a, "x": b}: neither may silently win
            raise EvaluationError(f"two values for symbol {key!r} in the values dict (keyed by the symbol and by "
                                  "its name): pass it once")
        named[key] = value
    return named
