"""Loss and gradients of a mini-batch, and the Adam optimiser, over the Numba kernels.

``loss_and_grads`` is the one door to the training kernel: it takes the weights as a mapping
(Wax, Waa, ba, Wya, by, Wyy, and Wv when the model has word vectors) and a ``Buffers`` object
instead of two dozen positional arrays,
checks them; the kernel sums the gradients over the batch's tokens in a fixed order, and the
CRF's per sentence are summed here in a fixed order (so results do not depend on the thread
count). ``Adam`` holds the moments and takes one clipped, bias-corrected step.
"""

from typing import NamedTuple

import numpy as np

from . import _kernels as kernels

PER_BATCH = ("Waa", "ba", "Wya", "by")  # summed over the batch's tokens by the kernel


class Dropout(NamedTuple):
    """A dropout mask as bytes: unit j of token t is kept, times ``scale`` (1 / the keep
    probability), where ``codes[t, j] >= below``, and dropped elsewhere. The probability is
    quantised to 1/256; a byte a unit is a quarter of a float mask's memory, and the kernel
    turns it into 0 or scale where it uses it."""

    codes: np.ndarray  # (N, 2H) uint8
    below: int
    scale: float

    @classmethod
    def draw(cls, rng, n, width, p):
        """(n, width) units, each dropped with probability p (0 <= p < 1); p = 0 draws
        nothing. rng's bit generator must give 64 random bits a raw word, as default_rng's
        PCG64 does (MT19937's raw words are 32 bits)."""
        if p <= 0:
            return cls.none(n, width)
        below = int(round(p * 256))
        # the bit generator's raw 64-bit words, eight bytes each: Generator.bytes takes 32 bits
        # a call and was 8x slower (a third of making a batch)
        words = rng.bit_generator.random_raw((n * width + 7) // 8)
        codes = words.view(np.uint8)[:n * width].reshape(n, width)
        return cls(codes, below, 256.0 / (256 - below))

    @classmethod
    def none(cls, n, width):
        """No unit dropped: every code (0) is at least below (0), times 1. n = 0 is no mask at
        all, as the input dropout takes it."""
        return cls(np.zeros((n, width), dtype=np.uint8), 0, 1.0)

    def values(self, dtype=np.float32):
        """The mask as numbers (N, 2H): scale where kept, else 0."""
        return np.multiply(self.codes >= self.below, dtype(self.scale), dtype=dtype)

    def for_kernel(self, dtype):
        """The mask as the kernels take it: (codes, below, scale in ``dtype``, the weights'
        np.dtype)."""
        return self.codes, self.below, dtype.type(self.scale)


class Buffers:
    """Work arrays of the training kernel, grown when a batch needs more and then reused.

    Per token: A (activations), AK (activations after dropout), dZ (dL/d(Wax x<t>)), D
    (dL/dlogits), Alpha, Beta (CRF work space). Per sentence: the loss and the CRF's gWyy.
    Summed over the batch: ``grads`` (dense weights, Wv's among them), and Wax's compactly:
    the rows a batch touched are ``rows[:n]`` (first-touch order), ``gRows[i]`` is the gradient
    of ``rows[i]`` and ``row_squares[i]`` its sum of squares (for the norm); ``slot`` maps a
    row of Wax to its i (-1: untouched). Arrays are of the weights' float type (float64 for
    the gradient check)."""

    def __init__(self, weights):
        self.H = weights["Waa"].shape[1]
        self.K = weights["Wya"].shape[0]
        self.dtype = weights["Waa"].dtype
        self.sentences = self.tokens = 0
        dense = PER_BATCH + ("Wyy",) + (("Wv",) if "Wv" in weights else ())
        self.grads = {k: np.zeros_like(weights[k]) for k in dense}
        n_x = len(weights["Wax"])  # room for every row; pages past a batch's are never touched
        self.gRows = np.empty_like(weights["Wax"])
        self.rows = np.empty(n_x, dtype=np.int64)
        self.slot = np.full(n_x, -1, dtype=np.int64)
        self.row_squares = np.empty(n_x, dtype=np.float64)

    def ensure(self, S, n_tokens):
        if S > self.sentences or n_tokens > self.tokens:
            self.sentences = max(S, self.sentences)
            self.tokens = max(int(n_tokens * 1.25), self.tokens)
            n, most, H, K, dt = self.sentences, self.tokens, self.H, self.K, self.dtype
            self.A = np.zeros((most, 2 * H), dt)
            self.AK = np.zeros((most, 2 * H), dt)
            self.dZ = np.zeros((most, 2 * H), dt)
            self.D = np.zeros((most, K), dt)
            self.Alpha = np.zeros((most, K), np.float64)
            self.Beta = np.zeros((most, K), np.float64)
            self.loss = np.zeros(n, np.float64)
            self.gWyy = np.zeros((n, K + 1, K), dt)
        return self


def loss_and_grads(weights, X, starts, Y, keep, keep_in, allowed, crf, buffers, V=None):
    """Forward pass, loss and BPTT of a mini-batch: (N, F) feature ids X, (S+1,) sentence
    starts, (N,) tag ids Y, ``Dropout`` masks keep (N, 2H) and keep_in (N, 2H, or (0, 2H) for
    none), and with word vectors V (N, D), the tokens' unit vectors (zeros for none): the cell's
    input is then Wax x<t> + Wv v<t>, with Wv (D, 2H) stored like Wax's rows.
    The gradients of the mean loss a token are left in ``buffers.grads`` and, for the rows of
    Wax the batch touched, in ``buffers.gRows``; returns (total loss, those rows in first-touch
    order: a view of ``buffers.rows``, which the next call overwrites).
    """
    S, n = len(starts) - 1, len(X)
    w = weights
    H2 = 2 * buffers.H
    if starts[-1] != n or len(Y) != n or keep.codes.shape != (n, H2):
        raise ValueError("batch arrays disagree on the number of tokens")
    lengths = np.diff(starts)  # (S,)
    if S == 0 or np.any(lengths <= 0):
        raise ValueError("a batch has at least one sentence, and no sentence is empty")
    if keep_in.codes.shape not in ((0, H2), (n, H2)):
        raise ValueError("keep_in must be (N, 2H) or (0, 2H)")
    if (V is None) != ("Wv" not in w) or V is not None and V.shape != (n, w["Wv"].shape[0]):
        raise ValueError("word vectors V (N, D) go with a weight Wv (D, 2H), and only with it")
    b = buffers.ensure(S, n)
    g = b.grads
    if V is None:  # no vectors: (0, 0) arrays
        V, Wv, gWv = (np.zeros((0, 0), dtype=b.dtype),) * 3
    else:  # the kernel sums E<t> = Wv v<t> and dL/dWv in the weights' float type
        V, Wv, gWv = np.ascontiguousarray(V, dtype=b.dtype), w["Wv"], g["Wv"]
    longest_first = np.argsort(-lengths, kind="stable")  # (S,): the kernel's groups
    inner = inner_tokens(starts)

    kernels.loss_and_grads(X, starts, longest_first, inner, Y, keep.for_kernel(b.dtype),
                           keep_in.for_kernel(b.dtype), b.dtype.type(1.0 / n),
                           w["Wax"], V, Wv, w["Waa"], w["ba"], w["Wya"], w["by"], w["Wyy"],
                           allowed, crf, b.A[:n], b.AK[:n], b.dZ[:n], b.D[:n], b.Alpha[:n],
                           b.Beta[:n], b.loss[:S], b.gWyy[:S], g["Waa"], g["ba"], g["Wya"],
                           g["by"], gWv)
    kernels.sum_rows(b.gWyy[:S].reshape(S, -1), g["Wyy"].reshape(-1))
    n_rows = kernels.scatter_wax_grad(X, b.dZ[:n], b.slot, b.rows, b.gRows, b.row_squares)
    rows = b.rows[:n_rows]
    return float(b.loss[:S].sum()), rows


def inner_tokens(starts):
    """(2, N - S): the tokens that have an a<t-1>, in index order, in each direction: all but
    each sentence's first (left to right, row 0) or last (right to left, row 1)."""
    n, S = int(starts[-1]), len(starts) - 1
    inner = np.ones((2, n), dtype=np.bool_)
    inner[0, starts[:-1]] = inner[1, starts[1:] - 1] = False
    return np.nonzero(inner)[1].reshape(2, n - S)  # row 0's tokens, then row 1's


def gradient_norm(buffers, rows):
    """The global norm of the gradients (Wax's touched rows, squared as the scatter left them
    in ``row_squares``, and the dense weights)."""
    norm2 = kernels.ordered_total(buffers.row_squares[:len(rows)])
    norm2 += sum(kernels.sum_squares(g) for g in buffers.grads.values())
    return np.sqrt(norm2)


class Adam:
    """AdamW with lazy (sparse) updates of Wax's rows; ``m`` and ``v`` are the moments of each
    weight, ``step`` the number of steps taken, ``lr`` the current step size."""

    BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

    def __init__(self, weights, lr):
        self.m = {k: np.zeros_like(v) for k, v in weights.items()}
        self.v = {k: np.zeros_like(v) for k, v in weights.items()}
        self.step = 0
        self.lr = lr

    def update(self, weights, buffers, rows, scale, weight_decay):
        """One step from the gradients in ``buffers`` times ``scale`` (clipping); marks the
        rows of Wax it used untouched again."""
        self.step += 1
        t = self.step
        lr_t = self.lr * np.sqrt(1 - self.BETA2 ** t) / (1 - self.BETA1 ** t)
        decay = self.lr * weight_decay
        m, v = self.m, self.v
        # float32 scalars: float64 ones would turn the updates into float64 arithmetic
        hyper = [np.float32(x) for x in (lr_t, self.BETA1, self.BETA2, self.EPS, scale, decay)]
        for name, g in buffers.grads.items():
            kernels.adam_dense(weights[name].reshape(-1), g.reshape(-1), m[name].reshape(-1),
                               v[name].reshape(-1), *hyper)
        kernels.adam_rows(weights["Wax"], buffers.gRows, m["Wax"], v["Wax"], rows,
                          buffers.slot, *hyper)
