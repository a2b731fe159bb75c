"""The network's forward pass on NumPy (tagging needs no Numba): the lecture's cell run in both
directions over a weights record (a mapping with Wax, Waa, ba, Wya, by), sentences of equal
length stepped together, the backward direction on a second thread. The training kernels in
_kernels.py compute the same function; tests/ checks them against each other.
"""

import numpy as np

from .features import N_TEMPLATES

# tokens a padded forward batch holds at most: bounds memory on any input
BATCH_TOKENS = 16384


# the scale of Wv's initial entries, for unit-length vectors: the vector part of the input starts
# a little below the multi-hot part's (a sum of about ten rows of scale 1/sqrt(10))
WV_INIT = 0.3


def weight_shapes(n_features, hidden, n_outputs, vector_dim=0):
    H = hidden
    shapes = {
        "Wax": (n_features, 2 * H),
        "Waa": (2, H, H),
        "ba": (2, H),
        "Wya": (n_outputs, 2 * H),
        "by": (n_outputs,),
        "Wyy": (n_outputs + 1, n_outputs),  # CRF transition scores; row K is the start
    }
    if vector_dim:  # the input's dense part: Wv v<t>, rows stored like Wax's
        shapes["Wv"] = (vector_dim, 2 * H)
    return shapes


def init_weights(n_features, hidden, n_outputs, seed, dtype=np.float32, vector_dim=0):
    """Small random input rows, orthogonal recurrences (BPTT through tanh then neither explodes
    nor vanishes at the start), zero biases; with ``vector_dim``, a random Wv too (drawn last,
    so the other weights are those of the same seed without vectors)."""
    rng = np.random.default_rng(seed)
    H = hidden
    Wax = rng.normal(0.0, 1.0 / np.sqrt(N_TEMPLATES), size=(n_features, 2 * H))
    Waa = np.stack([np.linalg.qr(rng.normal(size=(H, H)))[0] for _ in range(2)])
    Wya = rng.normal(0.0, 1.0 / np.sqrt(2 * H), size=(n_outputs, 2 * H))
    weights = {"Wax": Wax, "Waa": Waa, "ba": np.zeros((2, H)), "Wya": Wya,
               "by": np.zeros(n_outputs), "Wyy": np.zeros((n_outputs + 1, n_outputs))}
    if vector_dim:
        weights["Wv"] = rng.normal(0.0, WV_INIT, size=(vector_dim, 2 * H))
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in weights.items()}


def input_sums(Wax, X):
    """Wax x<t> for multi-hot x<t>: (N, F) feature ids -> (N, 2H), a sum of F rows of Wax."""
    E = Wax[X[:, 0]]
    for f in range(1, X.shape[1]):
        E += Wax[X[:, f]]
    return E


# OpenBLAS multiplies small matrices (rows x N x K up to 1e6) with other kernels than large
# ones, and their rounding differs: a sentence's scores would depend on how many sentences share
# its batch, and a file tagged in pieces (two processes, Dask) would not give the bytes of one
# pass. Every product of the forward pass therefore has at least blas_rows() rows (padding).
SMALL_PRODUCT = 1_000_000


def blas_rows(N, K):
    """The fewest rows of an (rows, N) x (N, K) product that OpenBLAS computes like any larger
    one (and never a matrix-vector product)."""
    return max(2, SMALL_PRODUCT // (N * K) + 1)


def stable_matmul(X, W):
    """X @ W, each row's result independent of how many rows X has (see blas_rows)."""
    need = blas_rows(*W.shape)
    if len(X) >= need:
        return X @ W
    padded = np.zeros((need, X.shape[1]), dtype=X.dtype)
    padded[:len(X)] = X
    return (padded @ W)[:len(X)]


def _pad_batch(valid, index, rows):
    """A length group padded to at least ``rows`` sentences of length 0 (their steps compute
    from input row 0 and are never read)."""
    B, T = valid.shape
    if B >= rows:
        return valid, index
    pad = rows - B
    return (np.concatenate([valid, np.zeros((pad, T), dtype=bool)]),
            np.concatenate([index, np.zeros((pad, T), dtype=index.dtype)]))


def vector_inputs(V, Wv):
    """Wv v<t> of each row of V: (n, D) @ (D, 2H) -> (n, 2H), each row's result the same
    whatever else is in V (see blas_rows): a string's input does not depend on which other
    strings are new in its batch."""
    return stable_matmul(np.ascontiguousarray(V, dtype=np.float32), Wv)


def forward_probs_numpy(weights, starts, inputs, ids=None, logits=False, biased=False,
                        two_threads=True):
    """The network on NumPy, sentences of equal length stepped together: (N, K) probabilities
    (or with ``logits`` the logits Wya a<t> + by) from Wax x<t>, given as inputs (N, 2H), or as
    rows ``ids`` of (2, n, H) per-direction tables; with ``biased`` the inputs already hold
    Wax x<t> + ba.

    Sentences are sorted by length and cut into batches of at most BATCH_TOKENS padded tokens,
    so each time step is one (B, H) x (H, H) product and memory stays bounded. Without
    ``two_threads`` both directions run on the calling thread (when other processes already use
    the cores, or in a forked child, which lacks the parent's helper thread)."""
    Waa, ba, Wya, by = (weights[k] for k in ("Waa", "ba", "Wya", "by"))
    H = Waa.shape[1]
    K = Wya.shape[0]
    N = int(starts[-1])
    P = np.empty((N, K), dtype=np.float32)
    WaaT = [np.ascontiguousarray(Waa[d].T) for d in range(2)]  # (H, H): a @ Waa.T = Waa a
    WyaT = [np.ascontiguousarray(Wya[:, d * H:(d + 1) * H].T) for d in range(2)]  # (H, K)
    if inputs.ndim == 2:  # (n, 2H) -> contiguous (n, H) halves, one a direction: fast gathers
        inputs = [np.ascontiguousarray(inputs[:, d * H:(d + 1) * H]) for d in range(2)]
    biases = [None, None] if biased else list(ba)
    for _, valid, index in length_groups(starts):
        valid, index = _pad_batch(valid, index, blas_rows(H, H))
        B, T = valid.shape
        rows = (index if ids is None else ids[index]).T  # (T, B)
        lengths = valid.sum(axis=1)
        # the two directions are independent: the backward one runs on a second thread
        # (NumPy releases the GIL in take, matmul and tanh), the forward one here
        run = _second_thread().submit if two_threads and B * T >= 4096 else _run_now
        backward = run(_run_direction, inputs[1], rows, biases[1], WaaT[1],
                       range(T - 1, -1, -1), lengths if lengths.min() < T else None)
        A_fwd = _run_direction(inputs[0], rows, biases[0], WaaT[0], range(T), None)
        A_bwd = backward.result()
        # logits of every padded step (cheap: sentences in a group have similar lengths),
        # then the real tokens' rows; (T*B, K)
        out = stable_matmul(A_fwd.reshape(T * B, H), WyaT[0])
        out += stable_matmul(A_bwd.reshape(T * B, H), WyaT[1])
        out += by
        mask = valid.T.reshape(-1)  # (T*B,) in the order of out's rows
        out = out[mask]
        P[index.T.reshape(-1)[mask]] = out if logits else _probabilities(out)
    return P


_EXECUTOR = []


class _run_now:
    """A finished-future stand-in: small batches are not worth a thread hand-off."""

    def __init__(self, fn, *args):
        self.value = fn(*args)

    def result(self):
        return self.value


def _second_thread():
    if not _EXECUTOR:
        from concurrent.futures import ThreadPoolExecutor

        _EXECUTOR.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="nertag"))
    return _EXECUTOR[0]


def _run_direction(inputs, rows, bias, WaaT, steps, lengths):
    """One direction's a<t> = tanh(Waa a<t-1> + Wax x<t> + ba) over the steps: (T, B, H),
    computed in place in a contiguous gather of its inputs (n, H) at rows (T, B). With
    lengths, a sentence's state stays zero until its last token (the backward direction
    starts each sentence at its own end)."""
    A = np.take(inputs, rows, axis=0)  # (T, B, H): Wax x<t>, overwritten by a<t>
    if bias is not None:
        A += bias
    z = np.empty(A.shape[1:], dtype=A.dtype)  # (B, H)
    previous = None
    for t in steps:
        a = A[t]
        if previous is not None:  # a<0> = 0
            np.matmul(A[previous], WaaT, out=z)
            a += z
        np.tanh(a, out=a)
        if lengths is not None and t >= lengths.min():
            a[t >= lengths] = 0  # padding after a sentence's end
        previous = t
    return A


def length_groups(starts):
    """Sentences sorted by length and cut into groups of at most BATCH_TOKENS padded tokens.
    Yields (sentence ids (B,), valid (B, T) bool, index (B, T) token ids, 0 where padding)."""
    lengths = np.diff(starts)
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (j - i + 1) * lengths[order[j]] <= BATCH_TOKENS:
            j += 1
        group = order[i:j]
        T = int(lengths[group[-1]])
        valid = np.arange(T)[None, :] < lengths[group][:, None]
        index = np.where(valid, starts[group][:, None] + np.arange(T)[None, :], 0)
        yield group, valid, index
        i = j


def _probabilities(logits):
    if logits.shape[1] == 1:
        return 1.0 / (1.0 + np.exp(-logits))
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)
