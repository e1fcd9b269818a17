"""The dask backend: lazy, chunked evaluation computed by whatever dask scheduler is active.

``chunk_plan`` gives every dim one chunk length (asked for, or halved until each node's block
fits a budget); each einsum node, or a sum's fused einsum terms, becomes one blockwise task per
output block, and numpy runs inside the tasks: elementwise functions through ``map_blocks``,
linear algebra on a matrix gathered into one block (with the numpy row's singular policy).
dask itself is imported only by ``backends.get_backend("dask")``.
"""

import math
import numbers
import warnings

import numpy as np
import opt_einsum

from .arraylibrary import scaled_operand
from .numpyarrays import NumpyBackend, numbers_only, numpy_det, numpy_inv, numpy_logdet, numpy_solve, numpy_value
from .errors import EvaluationError
from .indices import check_dim_lengths

__all__ = ["DaskBackend", "chunk_plan"]


_block_contractions = {}   # per process: dask workers plan each (equation, shapes) once


def _contract_block(equation, *arrays):
    key = (equation, tuple(a.shape for a in arrays))
    expression = _block_contractions.get(key)
    if expression is None:
        if len(_block_contractions) > 1024:
            _block_contractions.clear()
        expression = _block_contractions[key] = opt_einsum.contract_expression(equation, *key[1], optimize="auto")
    return expression(*arrays)


def _quietly(block, impl):
    with np.errstate(all="ignore"):
        return np.asarray(impl(block))


def _sum_of_blocks(*blocks, specs):
    """One output block of a dask sum of einsums (see _Dask.sum_of_einsums for ``specs``)."""
    with np.errstate(all="ignore"):   # nan and inf propagate quietly, as on numpy
        return _add_blocks(blocks, specs)


def _add_blocks(blocks, specs):
    total, position = None, 0
    for core_equation, n_tensors, structure_equation, n_structure, n_scalars, number in specs:
        tensors = list(blocks[position:position + n_tensors])
        structure = list(blocks[position + n_tensors:position + n_tensors + n_structure])
        position += n_tensors + n_structure
        factor = number
        for scalar in blocks[position:position + n_scalars]:
            factor = factor * scalar
        position += n_scalars
        operands = tensors or structure
        scaled = scaled_operand(operands) if factor != 1.0 and operands else None
        if scaled is not None:
            operands[scaled] = operands[scaled] * factor
        value = _contract_block(core_equation, *tensors) if tensors else None
        if value is not None and factor != 1.0 and scaled is None:   # an empty operand (scaled_operand says why)
            value = value * factor
        if structure_equation is not None:
            value = _contract_block(structure_equation, *([value] if tensors else []), *structure)
        elif value is None:
            value = np.asarray(factor)
        total = value if total is None else total + value
    return total


class DaskBackend(NumpyBackend):
    """Lazy and chunked: numpy runs on each block, so elementwise and linear-algebra rows are numpy's."""

    name = extra = "dask"
    module = "dask.array"
    lazy = True
    specialises = False
    writes_in_place = False   # a lazy graph: each split term is a blockwise contraction
    gram_products = False
    declines = {
        "writes_in_place": "a lazy graph whose blocks dask owns: each split term is a blockwise contraction, "
                           "and the terms are added",
        "gram_products": "each output block is one blockwise contraction (numpy's on the block): a Gram "
                         "product's rows would need a second chunking inside it",
        "specialises": "a call builds a lazy task graph that dask's scheduler runs: there is no per-step "
                       "dispatch for a straight-line function to remove",
    }

    def __init__(self, lib):
        super().__init__(lib)
        self.xp = lib

    def to_array(self, name, value):
        if isinstance(value, self.lib.Array):
            return numbers_only(name, value, value.dtype.kind, lambda a: a.astype(np.float64))
        return numpy_value(name, value)

    def prepare(self, arrays, sizes, dtype, program):
        plan = chunk_plan(program, sizes, dtype.itemsize, program.chunks, self._budget)
        prepared = {}
        for name, array in arrays.items():
            dims = program.symbols.get(name)
            if dims is None:
                continue   # bound only for its dims' sizes
            chunks = tuple(plan[d] for d in dims)
            if isinstance(array, self.lib.Array):
                if program.chunks is not None:
                    array = array.rechunk(chunks)
            else:
                array = self.lib.from_array(array, chunks=chunks)
            prepared[name] = array if array.dtype == dtype else array.astype(dtype)
        return prepared, (dtype, plan)

    @staticmethod
    def _budget(text):
        from dask.utils import parse_bytes
        from dask import config
        return parse_bytes(config.get("array.chunk-size") if text == "auto" else text)

    def finish(self, result, place, earlier, given):
        dtype = place[0]
        return result if result.dtype == dtype or result.dtype.kind == "c" else result.astype(dtype)

    def einsum(self, step, args, sizes, place):
        return self.sum_of_einsums([(step, args)], sizes, place)

    def sum_of_einsums(self, terms, sizes, place):
        """One task per output block computes every term's block and sums them.

        Each term's operands enter the blockwise call with its output ids relabelled to the
        output's axis letters and chunked by the plan; contracted ids get letters of their own
        and one chunk, so a task sees whole contracted axes. A repeated output id brings an
        identity matrix, an id the operands lack a ones vector, both chunked like the output.
        (dask's own einsum would rechunk operands to keep output chunks near input chunks,
        undoing the chunk plan and multiplying the tasks of outer products.)
        """
        dtype, plan = place
        symbol = opt_einsum.get_symbol
        ndim = len(terms[0][0].out_ids)
        pairs, specs, fresh = [], [], ndim
        for step, args in terms:
            letter = {}
            for position, i in enumerate(step.out_ids):
                letter.setdefault(i, symbol(position))
            for k in step.tensor_args:
                for i in step.subscripts[k]:
                    if i not in letter:
                        letter[i] = symbol(fresh)
                        fresh += 1
            tensors = [(args[k].rechunk(tuple(plan[step.id_dims[i]] if i in step.out_ids else -1
                                              for i in step.subscripts[k])), "".join(letter[i] for i in step.subscripts[k]))
                       for k in step.tensor_args]
            structure, seen = [], set(step.core_ids)
            for position, i in enumerate(step.out_ids):
                size, dim = sizes[step.id_dims[i]], step.id_dims[i]
                if letter[i] != symbol(position):
                    structure.append((self.eye(size, dim, place), letter[i] + symbol(position)))
                elif i not in seen:
                    structure.append((self.ones(size, dim, place), letter[i]))
                    seen.add(i)
            scalars = [(args[k], "") for k in step.scalar_args]
            core = "".join(letter[i] for i in step.core_ids)
            out = "".join(symbol(position) for position in range(ndim))
            specs.append((",".join(sub for _, sub in tensors) + "->" + core if tensors else None, len(tensors),
                          ",".join([core] * bool(tensors) + [sub for _, sub in structure]) + "->" + out
                          if structure else None, len(structure), len(scalars),
                          step.coeff * math.prod(sizes[d] for d in step.orphan_dims)))
            for array, sub in tensors + structure + scalars:
                pairs += [array, sub]
        with warnings.catch_warnings():
            # the chunks are planned: many more output blocks than input blocks is the intent
            warnings.simplefilter("ignore", self.lib.PerformanceWarning)
            return self.lib.blockwise(_sum_of_blocks, "".join(symbol(k) for k in range(ndim)), *pairs,
                                      specs=specs, concatenate=True, dtype=dtype)

    def constant(self, array, dims, place):
        return self.lib.from_array(array.astype(place[0]), chunks=tuple(place[1][d] for d in dims))

    def take(self, array, keys):
        return array[keys]

    def eye(self, n, dim, place):
        return self.lib.eye(n, chunks=place[1][dim], dtype=place[0])

    def ones(self, n, dim, place):
        return self.lib.ones(n, chunks=place[1][dim], dtype=place[0])

    def full(self, value, place):
        return self.lib.from_array(np.asarray(value, dtype=place[0]))

    def apply(self, impl, x):
        return x.map_blocks(_quietly, impl, dtype=x.dtype)

    def inv(self, a, on_singular):
        return a.rechunk(-1).map_blocks(numpy_inv, on_singular=on_singular, dtype=a.dtype)

    def solve(self, a, b, on_singular):
        rest = "".join(opt_einsum.get_symbol(k + 2) for k in range(b.ndim - 1))
        return self.lib.blockwise(numpy_solve, "a" + rest, a.rechunk(-1), "ab", b.rechunk({0: -1}), "b" + rest,
                                  on_singular=on_singular, concatenate=True, dtype=np.result_type(a, b))

    def _scalar_of_matrix(self, function, a, on_singular):
        real = np.zeros((), a.dtype).real.dtype
        return self.lib.map_blocks(function, a.rechunk(-1), on_singular=on_singular, drop_axis=[0, 1],
                                   dtype=real if function is numpy_logdet else a.dtype)

    def logdet(self, a, on_singular):
        return self._scalar_of_matrix(numpy_logdet, a, on_singular)

    def det(self, a, on_singular):
        return self._scalar_of_matrix(numpy_det, a, on_singular)


def chunk_plan(program, sizes, itemsize, chunks, budget_of):
    """{dim: chunk length} for a dask evaluation of ``program``.

    ``chunks`` is an int (one length for every dim), a dict {dim: length} (other dims chosen), or
    None/"auto"/a size such as "64MiB": the longest chunk of the most crowded shape is halved until
    every node's block fits that budget (dask's array.chunk-size by default).
    """
    fixed = {}
    budget_text = "auto"
    if isinstance(chunks, numbers.Integral) and not isinstance(chunks, bool) and chunks > 0:
        fixed = {d: chunks for d in program.dims}
    elif isinstance(chunks, dict):
        check_dim_lengths(chunks, program.dims, "chunk length")
        fixed = dict(chunks)
    elif isinstance(chunks, str):
        budget_text = chunks
    elif chunks is not None:
        raise EvaluationError(f"chunks must be an int, a dict {{dim: length}}, 'auto' or a size like '64MiB', "
                              f"got {chunks!r:.60}")
    plan = {d: min(fixed.get(d, sizes[d]), sizes[d]) for d in program.dims}
    try:
        budget = budget_of(budget_text)
    except (ValueError, TypeError, KeyError, OverflowError):
        budget = None
    if budget is None or budget <= 0:
        raise EvaluationError(f"chunks={chunks!r} is no positive size (write it like '64MiB')") from None
    shapes = {node.shape for node in program.nodes if node.shape}

    def block_bytes(shape):
        return math.prod(plan[d] for d in shape) * itemsize

    while shapes:
        crowded = max(shapes, key=block_bytes)
        splittable = sorted((d for d in set(crowded) if d not in fixed and plan[d] > 1), key=lambda d: (-plan[d], d))
        if block_bytes(crowded) <= budget or not splittable:
            break
        plan[splittable[0]] = -(-plan[splittable[0]] // 2)
    return plan
