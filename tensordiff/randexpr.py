"""Random well-typed expressions over every operation, each paired with a numpy twin.

``ExpressionGenerator`` builds expressions over scalars, vectors, matrices and an order-3 tensor
(dims a = 3, b = 2) from every operation tensordiff has, together with a numpy function of the
values that computes the same thing without tensordiff. Used by ``python -m tensordiff.selfcheck``
and the test suite (seeded, or with hypothesis draws as its choices). The draws of some kinds are
mixins of their own: contractiondraws.py (products, traces, solves and einsums that give each
order), reshapedraws.py (vec, kron, reshape, stack, concatenate) and widedraws.py (results over
merged dims).
"""

import numpy as np

import tensordiff as td
from tensordiff.contractiondraws import ContractionDraws
from tensordiff.functions import FUNCTIONS
from tensordiff.reshapedraws import ReshapeDraws
from tensordiff.widedraws import WideDraws, is_merged

__all__ = ["ExpressionGenerator", "USER_FUNCTIONS", "SIZES", "SHAPES", "DEPTH"]

SIZES = {"a": 3, "b": 2}
DEPTH = 4
LIMIT = 4.0            # largest |value| a subexpression may have before it is squashed with tanh
SHAPES = [(), (), (), ("a",), ("b",), ("a", "a"), ("a", "b"), ("b", "a"), ("b", "b"), ("a", "b", "b")]


# ---------------------------------------------------------------- numeric helpers of the twins (tests use them too)

def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def softplus(v):
    return np.log1p(np.exp(v))


def dsigmoid(v):
    return sigmoid(v) * (1 - sigmoid(v))


def d2sigmoid(v):
    return dsigmoid(v) * (1 - 2 * sigmoid(v))


def d3sigmoid(v):
    return d2sigmoid(v) * (1 - 2 * sigmoid(v)) - 2 * dsigmoid(v) ** 2


def dtanh(v):
    return 1 - np.tanh(v) ** 2


def d2tanh(v):
    return -2 * np.tanh(v) * dtanh(v)


def d3tanh(v):
    return -2 * dtanh(v) ** 2 + 4 * np.tanh(v) ** 2 * dtanh(v)


# The table's functions the generator draws: all but stop_gradient, whose derivative 0 is a
# convention that finite differences of its value cannot confirm (tests check it on its own).
UNARY = ["neg"] + sorted(name for name, fn in FUNCTIONS.items() if fn.finite_differences)

# The abstract user function hr is softplus: its implementations are passed at evaluation.
USER_FUNCTIONS = {"hr": [softplus, sigmoid, dsigmoid, d2sigmoid, d3sigmoid]}


class ExpressionGenerator(ContractionDraws, ReshapeDraws, WideDraws):
    """Random expressions paired with numpy twins; ``S`` holds the symbols, ``V`` their values.

    ``P`` is a symmetric matrix: derivatives with respect to it are sym(G) on each of its slots.

    Every structural decision is ``choose(n)`` (an int in [0, n)): a seeded numpy generator by
    default, a hypothesis draw in the tests (so failures shrink towards small expressions).
    Data are kept well-conditioned: matrices under inv/det/logdet are E Eᵀ + I; sqrt, negative
    powers, division and the table's functions of positive domain (log, lgamma, ...) see only
    e·e + 1, those of the interval domain (tan, arcsin, ...) e/(e·e + 1), and those with a kink
    (abs, relu, sign, step) only symbols whose values are away from zero; a subexpression whose
    values grow large is squashed with tanh.

    ``reshaping=False`` leaves out vec, kron, reshape, stack and concatenate: seeds drawn before
    they were added (the verification record's earlier runs) then draw what they drew.
    ``widened=True`` also draws results over merged dims (widedraws.py: vec(F), kron(A, B),
    reshape to a·b, unvec) and plain shapes through them; False draws what seeds below 50000 drew.

    >>> gen = ExpressionGenerator(seed=0)
    >>> expr, twin = gen.gen(("a", "b"), depth=3)      # twin(gen.V) == td.evaluate(expr, gen.V)
    """

    def __init__(self, seed, choose=None, reshaping=True, widened=False):
        rng = np.random.default_rng(seed)
        self.reshaping = reshaping   # False: no vec/kron/reshape/stack/concatenate, the draws of earlier seeds
        self.widened = widened       # True: results over merged dims too (widedraws.py)
        self.sizes = SIZES
        self.choose = choose or (lambda n: int(rng.integers(n)))
        self.S = {
            "r": td.scalar("r"), "q": td.scalar("q"),
            "u": td.vector("u", "a"), "v": td.vector("v", "a"), "w": td.vector("w", "b"),
            "M": td.matrix("M", "a a"), "N": td.matrix("N", "a b"), "T": td.tensor("T", "a b b"),
            "P": td.matrix("P", "a a", symmetric=True),
        }

        def away(shape):
            return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.4, 1.0, size=shape)

        self.V = {name: (float(away(())) if not sym.shape else away(tuple(SIZES[d] for d in sym.shape)))
                  for name, sym in self.S.items()}
        self.V["P"] = np.triu(self.V["P"]) + np.triu(self.V["P"], 1).T   # symmetric, entries still away from 0
        self.g = td.elementwise("gr", np.tanh, td.elementwise("grp", dtanh, td.elementwise("grpp", d2tanh, d3tanh)))
        self.h = td.elementwise("hr")

    # -- helpers
    def pick(self, seq):
        return seq[self.choose(len(seq))]

    def sym(self, name):
        return self.S[name], (lambda V, name=name: np.asarray(V[name], dtype=float))

    def value(self, pair):
        return np.asarray(pair[1](self.V))

    def tame(self, pair):
        """Squash a subexpression whose values are large into (-1, 1), keeping everything well-conditioned.

        The argument is scaled to at most 1 first: a saturated tanh would lose its derivatives to
        cancellation (1 - tanh² of 10 is 1e-8, computed from two numbers near 1).
        """
        e, f = pair
        largest = np.max(np.abs(self.value(pair)), initial=0.0)
        if largest > LIMIT:
            c = 1.0 / float(np.ceil(largest))
            return td.tanh(c * e), (lambda V: np.tanh(c * f(V)))
        return pair

    @staticmethod
    def pos(pair):
        e, f = pair
        return e * e + 1, (lambda V: f(V) * f(V) + 1)

    def spd(self, d, depth):
        other = self.pick(["a", "b"])
        e, f = self.gen((d, other), depth)
        return e @ e.T + td.eye(d), (lambda V: f(V) @ f(V).T + np.eye(SIZES[d]))

    def leaf(self, shape):
        S = self.S
        if is_merged(shape):
            return self.merged_leaf(shape)
        if shape == ():
            return self.sym(self.pick(["r", "q"]))
        if shape == ("a",):
            return self.sym(self.pick(["u", "v"]))
        if shape == ("b",):
            return self.sym("w")
        if shape == ("a", "a"):
            return self.sym("P" if self.choose(3) == 0 else "M")
        if shape == ("a", "b"):
            return self.sym("N")
        if shape == ("b", "a"):
            return S["N"].T, (lambda V: V["N"].T)
        if shape == ("b", "b"):
            if self.choose(2):
                return td.diag(S["w"]), (lambda V: np.diag(V["w"]))
            return td.sum(S["T"], axis=0), (lambda V: V["T"].sum(axis=0))
        if shape == ("a", "b", "b"):
            return self.sym("T")
        raise AssertionError(shape)

    # -- the grammar
    def gen(self, shape, depth):
        """A random expression of ``shape`` (dims "a"/"b") at most ``depth`` operations deep, and its twin."""
        if depth <= 0 or self.choose(10) == 0:
            return self.leaf(shape)
        if is_merged(shape):
            return self.tame(self.pick(self.merged_shape_rules(shape))(shape, depth))
        rules = [self.elementwise_binary, self.scalar_broadcast, self.unary, self.power, self.divide,
                 self.abs_relu, self.user_function]
        rules += [{0: self.scalar_rules, 1: self.vector_rules, 2: self.matrix_rules,
                   3: self.tensor_rules}[len(shape)]] * (5 if not shape else 4)
        if len(shape) >= 2:
            rules.append(self.broadcast_binary)
        rules += [self.reduction_rules] * 2
        if self.reshaping:
            rules += [self.reshaping_rules]   # reshapedraws.py: vec, kron, reshape, stack, concatenate
        if self.widened:
            rules += [self.through_merged]    # widedraws.py: vec(F)ᵀ vec(G), unvec, y'Ky
        return self.tame(self.pick(rules)(shape, depth))

    def elementwise_binary(self, shape, depth):
        (e1, f1), (e2, f2) = self.gen(shape, depth - 1), self.gen(shape, depth - 1)
        op = self.pick(["+", "-", "*"])
        if op == "+":
            return e1 + e2, (lambda V: f1(V) + f2(V))
        if op == "-":
            return e1 - e2, (lambda V: f1(V) - f2(V))
        return e1 * e2, (lambda V: f1(V) * f2(V))

    def broadcast_binary(self, shape, depth):
        """numpy broadcasting: an operand over the trailing axes only, spread over the leading ones."""
        part = shape[len(shape) - 1 - self.choose(len(shape) - 1):]
        (e1, f1), (e2, f2) = self.gen(shape, depth - 1), self.gen(part, depth - 1)
        op = self.pick(["+", "-", "*", "/", "/"])
        if op == "/":
            if self.choose(2):
                p, fp = self.pos((e2, f2))
                return e1 / p, (lambda V: f1(V) / fp(V))
            p, fp = self.pos((e1, f1))
            return e2 / p, (lambda V: f2(V) / fp(V))
        if self.choose(2):
            (e1, f1), (e2, f2) = (e2, f2), (e1, f1)
        if op == "+":
            return e1 + e2, (lambda V: f1(V) + f2(V))
        if op == "-":
            return e1 - e2, (lambda V: f1(V) - f2(V))
        return e1 * e2, (lambda V: f1(V) * f2(V))

    def scalar_broadcast(self, shape, depth):
        (e1, f1), (s, fs) = self.gen(shape, depth - 1), self.gen((), depth - 1)
        op = self.pick(["s*", "*s", "s+", "-s", "c*"])
        if op == "s*":
            return s * e1, (lambda V: fs(V) * f1(V))
        if op == "*s":
            return e1 * s, (lambda V: f1(V) * fs(V))
        if op == "s+":
            return s + e1, (lambda V: fs(V) + f1(V))
        if op == "-s":
            return -e1 - s, (lambda V: -f1(V) - fs(V))
        c = float(self.pick([0.5, -1.5, 2.0]))
        return c * e1, (lambda V: c * f1(V))

    def unary(self, shape, depth):
        """A row of the function table (drawn from all of them: a new row is drawn once added), or -e."""
        name = self.pick(UNARY)
        if name == "neg":
            e, f = self.gen(shape, depth - 1)
            return -e, (lambda V: -f(V))
        fn = FUNCTIONS[name]
        if fn.domain == "kink":   # not smooth at 0: a symbol, whose values are away from it
            e, f = self.leaf(shape)
        elif fn.domain == "positive":
            e, f = self.pos(self.gen(shape, depth - 1))
        elif fn.domain == "interval":   # e/(e² + 1) lies in [-1/2, 1/2]
            e, f = self.gen(shape, depth - 1)
            e, f = e / (e * e + 1), (lambda V, f=f: f(V) / (f(V) * f(V) + 1))
        else:
            e, f = self.gen(shape, depth - 1)
        return fn(e), (lambda V: fn.numeric(f(V)))

    def power(self, shape, depth):
        e, f = self.gen(shape, depth - 1)
        kind = self.pick(["sq", "cube", "inv", "sqrt", "-1.5", "log", "expr"])
        if kind == "sq":
            return e ** 2, (lambda V: f(V) ** 2)
        if kind == "cube":
            return e ** 3, (lambda V: f(V) ** 3)
        p, fp = self.pos((e, f))
        if kind == "inv":
            return p ** -1, (lambda V: fp(V) ** -1.0)
        if kind == "sqrt":
            return td.sqrt(p), (lambda V: np.sqrt(fp(V)))
        if kind == "-1.5":
            return p ** -1.5, (lambda V: fp(V) ** -1.5)
        if kind == "expr":   # a positive base to an expression exponent in [-1/2, 1/2] (a scalar or elementwise)
            y, fy = self.gen(self.pick([(), shape]), depth - 1)
            y, fy = y / (y * y + 1), (lambda V, fy=fy: fy(V) / (fy(V) * fy(V) + 1))
            return p ** y, (lambda V: fp(V) ** fy(V))
        return td.log(p), (lambda V: np.log(fp(V)))

    def divide(self, shape, depth):
        if self.choose(4) == 0:
            p, fp = self.pos(self.gen(shape, depth - 1))
            return 2.0 / p, (lambda V: 2.0 / fp(V))
        p, fp = self.pos(self.gen(self.pick([shape, ()]), depth - 1))
        e1, f1 = self.gen(shape, depth - 1)
        return e1 / p, (lambda V: f1(V) / fp(V))

    def abs_relu(self, shape, depth):
        e, f = self.leaf(shape)
        if self.choose(2):
            return td.abs(e), (lambda V: np.abs(f(V)))
        return td.relu(e), (lambda V: np.maximum(f(V), 0))

    def user_function(self, shape, depth):
        e, f = self.gen(shape, depth - 1)
        if self.choose(2):
            return self.g(e), (lambda V: np.tanh(f(V)))
        return self.h(e), (lambda V: softplus(f(V)))

    # ---------------------------------------------------------------- reductions, soft maxima, masks, cholesky
    # (reductions.py's operations; their numpy twins use numpy's own reductions, where, tril and cholesky)

    def reduction_rules(self, shape, depth):
        kinds = ["reduce", "reduce", "maximum", "where", "mask"] if self.reduction_sources(shape) else \
            ["maximum", "where", "mask"]
        kinds += ["softmax"] if shape else []
        kinds += ["centre"] if len(shape) >= 2 else []
        kinds += ["triangle"] if len(shape) >= 2 else []
        kinds += ["cholesky"] if len(shape) == 2 and shape[0] == shape[1] else []
        kind = self.pick(kinds)
        if kind == "reduce":
            return self.reduction(shape, depth)
        if kind == "maximum":   # the second operand may be a scalar or broadcast along leading axes
            (e1, f1) = self.gen(shape, depth - 1)
            (e2, f2) = self.gen(self.pick([shape, (), self.tail(shape)]), depth - 1)
            if self.choose(2):
                (e1, f1), (e2, f2) = (e2, f2), (e1, f1)
            if self.choose(2):
                return td.maximum(e1, e2), (lambda V: np.maximum(f1(V), f2(V)))
            return td.minimum(e1, e2), (lambda V: np.minimum(f1(V), f2(V)))
        if kind == "where":   # the discarded branch may be nan (log of a negative): it must not leak
            (c, fc), (e1, f1), (e2, f2) = (self.gen(self.pick([shape, shape, self.tail(shape)]), depth - 1)
                                           for _ in range(3))
            if not (c.shape == shape or e1.shape == shape or e2.shape == shape):
                (c, fc) = self.gen(shape, depth - 1)
            if self.choose(2) and c.shape == shape and c.free:   # a constant c may fold log(0) at build time
                return td.where(c > 0, td.log(c), e2), (lambda V: _quiet(lambda: np.where(fc(V) > 0, np.log(fc(V)),
                                                                                        f2(V))))
            return td.where(c <= e1, e1, e2), (lambda V: np.broadcast_to(np.where(fc(V) <= f1(V), f1(V), f2(V)),
                                                                         tuple(size_of(d) for d in shape)))
        if kind == "mask":
            (c, fc), (e1, f1) = self.gen(shape, depth - 1), self.gen(self.pick([shape, self.tail(shape)]), depth - 1)
            if self.choose(2):
                return (c < 0.25) * e1, (lambda V: (fc(V) < 0.25) * f1(V))
            return (e1 <= c) * c, (lambda V: (f1(V) <= fc(V)) * fc(V))
        if kind == "centre":   # X - mean(X, axis=0): an operand broadcast back over the axis it lost
            e, f = self.gen(shape, depth - 1)
            return e - td.mean(e, axis=0), (lambda V: f(V) - np.mean(f(V), axis=0))
        if kind == "softmax":
            e, f = self.gen(shape, depth - 1)
            axis = self.choose(len(shape))
            if self.choose(2):
                return td.softmax(e, axis=axis), (lambda V: _softmax(f(V), axis))
            return td.log_softmax(e, axis=axis), (lambda V: np.log(_softmax(f(V), axis)))
        if kind == "triangle":
            e, f = self.gen(shape, depth - 1)
            k = int(self.pick([-1, 0, 0, 1]))
            if self.choose(2):
                return td.tril(e, k), (lambda V: np.tril(f(V), k))
            return td.triu(e, k=k), (lambda V: np.triu(f(V), k))
        A, fA = self.spd(shape[0], depth - 1)
        return td.cholesky(A), (lambda V: np.linalg.cholesky(fA(V)))

    def tail(self, shape):
        """Trailing axes of ``shape`` (fewer than all, when there are any): what numpy broadcasts over the rest."""
        return shape[len(shape) - self.choose(len(shape)):] if shape else ()

    @staticmethod
    def reduction_sources(shape):
        """(shape, axes) pairs of SHAPES that reduce to ``shape`` along ``axes``."""
        choices = []
        for source in dict.fromkeys(SHAPES):
            for mask in range(1, 1 << len(source)):
                axes = tuple(k for k in range(len(source)) if mask >> k & 1)
                if tuple(d for k, d in enumerate(source) if k not in axes) == shape:
                    choices.append((source, axes))
        return choices

    def reduction(self, shape, depth):
        """max, min, mean or logsumexp of a larger tensor along the axes that leave ``shape``."""
        source, axes = self.pick(self.reduction_sources(shape))
        e, f = self.gen(source, depth - 1)
        axis = axes if len(axes) > 1 or self.choose(2) else axes[0] - len(source) * self.choose(2)
        kind = self.pick(["max", "min", "mean", "logsumexp"])
        builder = {"max": td.max, "min": td.min, "mean": td.mean, "logsumexp": td.logsumexp}[kind]
        twin = {"max": np.max, "min": np.min, "mean": np.mean, "logsumexp": _logsumexp}[kind]
        return builder(e, axis=axis), (lambda V: np.asarray(twin(f(V), axis=axis)))


def size_of(dim):
    """The size of a dim of the generator's: a, b, or a merged one (a·b) as the product of its parts."""
    return int(np.prod([SIZES[part] for part in dim.split("·")]))


def _quiet(compute):
    with np.errstate(all="ignore"):
        return compute()


def _logsumexp(v, axis):
    m = np.max(v, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(v - m), axis=axis))


def _softmax(v, axis):
    e = np.exp(v - np.max(v, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
