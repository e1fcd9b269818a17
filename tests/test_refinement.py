"""Colour refinement (colourrefinement.refined_keys) ranks colours without writing their signatures' text:
it must rank them exactly as the text did, or canonical forms (and printed forms) would change.

The reference below is the text-writing refinement it replaced; both run on every product with
tied operands that a chain's gradient, u'X^k v's gradient, a symmetric Hessian and random products
canonicalise, and on random products with many indices (colours past 9, whose text order is not
their numeric order).
"""

import sys

import numpy as np
import pytest

import tensordiff as td

einsum_module = sys.modules["tensordiff.einsumnodes"]   # calls refined_keys
refinement_module = sys.modules["tensordiff.colourrefinement"]
BIG = 1 << 30


def reference_refined_keys(ops, subs, rank, symmetric):
    colour = {i: rank.get(i, BIG) for sub in subs for i in sub}
    skeys = [op.skey for op in ops]
    keys = []
    for _ in range(refinement_module.REFINEMENT_ROUNDS):
        keys = [(skey, tuple(sorted([colour[i] for i in sub])) if either_way else tuple([colour[i] for i in sub]))
                for skey, sub, either_way in zip(skeys, subs, symmetric)]
        seen = {i: [] for i in colour}
        for key, sub, either_way in zip(keys, subs, symmetric):
            text = repr(key)
            for slot, i in enumerate(sub):
                seen[i].append((key, 0 if either_way else slot, text))
        signature = {}
        for i, parts in seen.items():
            parts.sort(key=lambda part: (part[0], part[1]))
            signature[i] = f"({colour[i]!r}, [{', '.join([f'({text}, {slot!r})' for _, slot, text in parts])}])"
        ranked = {sig: n for n, sig in enumerate(sorted(set(signature.values())))}
        colour = {i: ranked[sig] for i, sig in signature.items()}
    return keys, colour


@pytest.fixture
def compared(monkeypatch):
    """Every refinement run both ways and compared; yields the list of compared calls."""
    calls = []
    fast = refinement_module.refined_keys

    def both(ops, subs, rank, symmetric):
        got = fast(ops, subs, rank, symmetric)
        assert got == reference_refined_keys(ops, subs, rank, symmetric)
        calls.append(len(ops))
        return got
    monkeypatch.setattr(einsum_module, "refined_keys", both)
    return calls


def test_refinement_ranks_as_the_text_did_on_deep_programs(compared):
    x, A = td.vector("rfx", "n"), td.matrix("rfA", "n n")
    e = x
    for k in range(40):
        e = td.tanh(e) * 0.9 + x if k % 2 else A @ e
    td.compile(td.grad(td.sum(e), x))
    X, u, v = td.matrix("rfX", "n n"), td.vector("rfu", "n"), td.vector("rfv", "n")
    e = v
    for _ in range(80):
        e = X @ e
    td.compile(td.grad(u @ e, X))
    # a power merges 12 factors a product (einsumnodes.merge_limit); a product of three matrices taken
    # in turn, 48 factors, keeps its refinements of long products
    cycle = [X, td.matrix("rfY", "n n"), td.matrix("rfZ", "n n")]
    e = v
    for k in range(48):
        e = cycle[k % 3] @ e
    td.compile(td.grad(u @ e, X))
    S = td.matrix("rfS", "n n", symmetric=True)
    td.hessian(td.trace(S @ S @ S @ td.matrix("rfB", "n n")), S)
    assert len(compared) > 100 and max(compared) > 40


def test_refinement_ranks_as_the_text_did_on_random_products():
    rng = np.random.default_rng(16)
    pool = [td.matrix(f"rp{k}", "n n") for k in range(3)] + [td.matrix("rpS", "n n", symmetric=True)] + \
        [td.vector(f"rv{k}", "n") for k in range(2)] + [td.tensor("rT", "n n n"), td.tensor("rW", " ".join("n" * 12))]
    for trial in range(300):
        count = int(rng.integers(2, 30))
        ops = [pool[k] for k in rng.integers(0, len(pool), count)]
        ids = int(rng.integers(2, 3 * count))
        subs = [tuple(int(i) for i in rng.integers(0, ids, op.ndim)) for op in ops]
        used = sorted({i for s in subs for i in s})
        rank = {i: r for r, i in enumerate(rng.permutation(used)[:int(rng.integers(0, 4))].tolist())}
        symmetric = [bool(op.symmetric) if hasattr(op, "symmetric") else False for op in ops]
        got = refinement_module.refined_keys(ops, subs, rank, symmetric)
        assert got == reference_refined_keys(ops, subs, rank, symmetric), trial
