"""Which opt_einsum search plans a contraction (contractionpaths.path_search), and what it costs.

Dynamic programming over 9-12 operands takes tens of ms per einsum; a third derivative through a
Cholesky factor holds hundreds of such einsums over tiny index spaces, whose first call spent
seconds searching paths that a bounded branch search finds within a few per cent.
"""

import numpy as np
import opt_einsum
import pytest

import tensordiff as td
from tensordiff import contractionpaths
from tensordiff.pairwise import planned_contraction
from tensordiff.contractionpaths import DP_CHEAP_OPERANDS, DP_MOST_OPERANDS, DP_WORTH_INDEX_SPACE, path_search


def chain_equation(operands):
    letters = [opt_einsum.get_symbol(k) for k in range(operands + 1)]
    return ",".join(letters[k] + letters[k + 1] for k in range(operands)) + "->" + letters[0] + letters[-1]


@pytest.mark.parametrize("operands", [2, 5, DP_CHEAP_OPERANDS])
def test_few_operands_always_search_by_dynamic_programming(operands):
    assert path_search(chain_equation(operands), [(2, 2)] * operands) == "dp"


@pytest.mark.parametrize("operands", [DP_CHEAP_OPERANDS + 1, DP_MOST_OPERANDS])
def test_many_operands_search_by_dynamic_programming_only_where_the_index_space_is_large(operands):
    equation = chain_equation(operands)
    small = [(2, 2)] * operands   # 2^(operands+1) entries in the index space
    assert 2 ** (operands + 1) < DP_WORTH_INDEX_SPACE
    assert path_search(equation, small) == "branch-1"
    side = int(np.ceil(DP_WORTH_INDEX_SPACE ** (1 / (operands + 1)))) + 1
    assert path_search(equation, [(side, side)] * operands) == "dp"


def test_more_than_a_dozen_operands_use_opt_einsums_auto():
    operands = DP_MOST_OPERANDS + 1
    assert path_search(chain_equation(operands), [(2, 2)] * operands) == "auto"


@pytest.mark.parametrize("operands", [9, 11])
def test_the_branch_search_contracts_to_the_same_values(operands):
    rng = np.random.default_rng(operands)
    equation = chain_equation(operands)
    arrays = [rng.standard_normal((3, 3)) for _ in range(operands)]
    contract = planned_contraction(equation, [a.shape for a in arrays], path_search(equation, [a.shape for a in arrays]))
    np.testing.assert_allclose(contract(*arrays), np.einsum(equation, *arrays), rtol=1e-12, atol=1e-12)


def cholesky_objective():
    S, y = td.matrix("S_paths", "n_paths n_paths", symmetric=True), td.vector("y_paths", "n_paths")
    L = td.cholesky(S)
    return S, y, 2 * td.sum(td.log(td.diagonal(L))) + td.norm(td.solve(L, y)) ** 2


def test_a_cholesky_third_derivative_searches_no_large_dynamic_program(monkeypatch):
    # every search made while compiling and first calling the full third derivative in S (3x3):
    # none runs dynamic programming over more than DP_CHEAP_OPERANDS operands of a tiny index space
    searches = []
    search = contractionpaths.opt_einsum.contract_path

    def counted(equation, *shapes, **options):
        searches.append((len(shapes), options["optimize"]))
        return search(equation, *shapes, **options)
    contractionpaths.contraction_path.cache_clear()
    monkeypatch.setattr(contractionpaths.opt_einsum, "contract_path", counted)
    S, y, f = cholesky_objective()
    rng = np.random.default_rng(7)
    a = rng.standard_normal((3, 3))
    values = dict(S_paths=a @ a.T + 3 * np.eye(3), y_paths=rng.standard_normal(3))
    td.compile(td.diff(f, S, 3))(**values)
    contractionpaths.contraction_path.cache_clear()
    assert any(operands > DP_CHEAP_OPERANDS for operands, _ in searches)   # the case this guards
    assert not [s for s in searches if s[0] > DP_CHEAP_OPERANDS and s[1] == "dp"]


def test_a_cholesky_third_derivative_agrees_with_finite_differences():
    # log det S + yᵀS⁻¹y through L = chol(S): the third derivative in S, against central differences
    # of the (symbolic) second derivative, on a well-conditioned symmetric S
    S, y, f = cholesky_objective()
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 3))
    result = td.check(f, S, order=3, S_paths=a @ a.T + 3 * np.eye(3), y_paths=rng.standard_normal(3))
    assert result.max_rel_error < 1e-6, result
