"""Colour refinement: keys for the operands of a product whose canonical order the operands alone leave open.

Equal operands on summed indices only, or symmetric ones, are ordered by what they are joined to,
as graph canonisation starts: ``refined_keys`` colours the indices by their neighbourhoods.
"""

from __future__ import annotations

BIG = 1 << 30


REFINEMENT_ROUNDS = 4


def refined_keys(ops, subs, rank, symmetric):
    """A key per operand from its neighbourhood (colour refinement, as graph canonisation starts):
    an index is coloured by its output position, then by the operands and slots that use it, for
    REFINEMENT_ROUNDS rounds; an operand's key is its node and its indices' colours. Returns the
    operands' keys and the indices' colours.

    Colours are ranked in the order of the text of their signatures, (colour, [(key, slot), ...])
    with the parts sorted by (key, slot), but without writing the text: integers compare in that
    text as their decimal strings do (so each round first ranks the colours in use by their
    strings), a structural key (a fixed-length hex digest) as itself, and a shorter list of parts
    after a longer one it begins (']' sorts after ','). Once a round splits no colour class, the
    next rounds can only rename the classes, which is done without recomputing signatures."""
    colour = {i: rank.get(i, BIG) for sub in subs for i in sub}
    skeys = [op.skey for op in ops]
    uses = {i: [] for i in colour}   # each index's (operand, slot) occurrences; a symmetric operand's slots alike
    for k, (sub, either_way) in enumerate(zip(subs, symmetric)):
        for slot, i in enumerate(sub):
            slot = 0 if either_way else slot
            uses[i].append((k, slot, str(slot)))
    keys = []
    narrow = all(len(sub) <= 10 for sub in subs)
    classes = len(set(colour.values()))
    for done in range(REFINEMENT_ROUNDS):
        keys = [(skey, tuple(sorted([colour[i] for i in sub])) if either_way else tuple([colour[i] for i in sub]))
                for skey, sub, either_way in zip(skeys, subs, symmetric)]
        as_text = _text_ranks(colour.values())
        signature = {}
        if narrow and all(as_text[c] <= as_text[d] for c, d in _pairs(sorted(as_text))):
            # the colours' text order is their numeric order (all below 10, say), and the slots' too (below
            # 10): keys and slots stand for their text
            for i, parts in uses.items():
                signature[i] = (colour[i], tuple(sorted([(keys[k], slot) for k, slot, _ in parts])) + _LAST)
        else:
            texts = [(skey, tuple([as_text[c] for c in key])) for skey, key in keys]
            for i, parts in uses.items():
                parts = sorted([(keys[k], slot, k, text) for k, slot, text in parts])
                signature[i] = (as_text[colour[i]], tuple([(texts[k], text) for _, _, k, text in parts]) + _LAST)
        ranked = {sig: n for n, sig in enumerate(sorted(set(signature.values())))}
        colour = {i: ranked[sig] for i, sig in signature.items()}
        if len(ranked) == classes and done < REFINEMENT_ROUNDS - 1:
            # stable: every later round ranks the classes by their colours' text alone
            for _ in range(done + 1, REFINEMENT_ROUNDS - 1):
                as_text = _text_ranks(colour.values())
                colour = {i: as_text[c] for i, c in colour.items()}
            keys = [(skey, tuple(sorted([colour[i] for i in sub])) if either_way else tuple([colour[i] for i in sub]))
                    for skey, sub, either_way in zip(skeys, subs, symmetric)]
            as_text = _text_ranks(colour.values())
            colour = {i: as_text[c] for i, c in colour.items()}
            break
        classes = len(ranked)
    return keys, colour


def _pairs(values):
    return zip(values, values[1:])


def _text_ranks(values):
    """Each integer's rank among ``values`` in the order of their decimal strings."""
    return {c: n for n, c in enumerate(sorted(set(values), key=str))}


# after every part of a signature: a list that ends first sorts after the longer ones (text ']' > ', (')
_LAST = ((("~",),),)
