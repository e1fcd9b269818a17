"""Structural keys: the digest that names a node's structure (its ``skey``), equal exactly for
structurally equal nodes, and the sort key of canonical forms (operand order, term order).

A key is ``digest(kind, *fields)`` with child nodes given by their keys. The keys of the nodes made
by the million (Var, Einsum, Add) put that same digest text together from parts: the index and
dim tuples recur in node after node, so their repr is looked up, and skeys are hex digits, so a
tuple of them is quoted as it is.
"""

from __future__ import annotations

import hashlib


def digest(*parts):
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


def einsum_skey(coeff, operands, subs, out, dims):
    """The structural key of the Einsum node with these fields, whether it is built or not.

    ``digest("Einsum", coeff, (skeys...), subs, out, dims)``, its text put together from parts: the
    index and dim tuples recur in node after node, and their repr (a third of a node's making) is
    looked up; an skey is hex digits, which repr quotes as they are.

    >>> fields = (2.5, (), ((0, 1), (1,)), (0,), ("n", "p"))
    >>> einsum_skey(*fields) == digest("Einsum", 2.5, (), *fields[2:])
    True
    """
    text = f"('Einsum', {coeff!r}, {_skeys_repr(operands)}, {_repr_of(subs)}, {_repr_of(out)}, {_repr_of(dims)})"
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _skeys_repr(nodes):
    """``repr(tuple(node.skey for node in nodes))``: skeys are hex digits, quoted as they are."""
    skeys = "', '".join([node.skey for node in nodes])
    return f"('{skeys}')" if len(nodes) > 1 else f"('{skeys}',)" if nodes else "()"


_REPRS: dict[tuple, str] = {}   # index and dim tuples -> their repr
MAX_REPRS = 1 << 16


def _repr_of(value):
    text = _REPRS.get(value)
    if text is None:
        text = repr(value)
        if len(_REPRS) >= MAX_REPRS:   # bounded: dims named apart (d1, d2, ...) need not recur
            _REPRS.clear()
        _REPRS[value] = text
    return text


def var_skey(name, dims, symmetric):
    """``digest("Var", name, dims)``, with ``"symmetric"`` last for a symmetric symbol.

    >>> var_skey("S", ("n", "n"), True) == digest("Var", "S", ("n", "n"), "symmetric")
    True
    """
    kind = ", 'symmetric'" if symmetric else ""
    return hashlib.blake2b(f"('Var', {name!r}, {_repr_of(dims)}{kind})".encode(), digest_size=10).hexdigest()


def add_skey(terms):
    """``digest("Add", tuple(t.skey for t in terms))``."""
    return hashlib.blake2b(f"('Add', {_skeys_repr(terms)})".encode(), digest_size=10).hexdigest()
