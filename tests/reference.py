"""A slow, plain NumPy reference of the network, written straight from the lecture's equations
(one sentence at a time, one time step at a time, dense one-hot-free but loop-explicit), that
the Numba kernels and the NumPy tagging path are checked against.

With word vectors the cell's input is Wax x<t> + Wv^T v<t>: V (T, D) holds the sentence's
vectors and Wv (D, 2H) is in the weights."""

import numpy as np


def forward(X, Wax, Waa, ba, Wya, by, keep=None, keep_in=None, V=None, Wv=None):
    """One sentence: X (T, F) feature ids -> (A (T, 2H), probabilities (T, K)). ``keep`` and
    ``keep_in`` are dropout masks (T, 2H) on a<t> before Wya and on the cell's input."""
    T = X.shape[0]
    H = Waa.shape[1]
    K = Wya.shape[0]
    if keep is None:
        keep = np.ones((T, 2 * H))
    if keep_in is None:
        keep_in = np.ones((T, 2 * H))
    A = np.zeros((T, 2 * H))
    for d, steps in ((0, range(T)), (1, range(T - 1, -1, -1))):
        a_prev = np.zeros(H)  # a<0> = 0
        for t in steps:
            wax_x = sum(Wax[j, d * H:(d + 1) * H] for j in X[t])  # Wax x<t>, x multi-hot
            if V is not None:
                wax_x = wax_x + V[t] @ Wv[:, d * H:(d + 1) * H]  # + Wv v<t>
            wax_x = wax_x * keep_in[t, d * H:(d + 1) * H]
            a = np.tanh(Waa[d] @ a_prev + wax_x + ba[d])
            A[t, d * H:(d + 1) * H] = a
            a_prev = a
    logits = (A * keep) @ Wya.T + by  # (T, K)
    if K == 1:
        P = 1.0 / (1.0 + np.exp(-logits))
    else:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        P = e / e.sum(axis=1, keepdims=True)
    return A, P


def forward_logits(X, Wax, Waa, ba, Wya, by):
    """One sentence's logits Wya a<t> + by: (T, K)."""
    A, _ = forward(X, Wax, Waa, ba, Wya, by)
    return A @ Wya.T + by


def crf_nll(emissions, Y, Wyy, allowed):
    """-log p(Y) under a linear-chain CRF, the partition function by enumerating every path
    whose transitions are allowed (row K of Wyy and allowed is the start)."""
    import itertools

    T, K = emissions.shape

    def score(path):
        if not allowed[K, path[0]] or any(not allowed[a, b] for a, b in zip(path, path[1:])):
            return None
        return (Wyy[K, path[0]] + sum(emissions[t, k] for t, k in enumerate(path))
                + sum(Wyy[a, b] for a, b in zip(path, path[1:])))

    scores = [s for s in map(score, itertools.product(range(K), repeat=T)) if s is not None]
    log_z = np.log(np.sum(np.exp(scores)))
    return float(log_z - score(list(Y)))


def loss(X, Y, weights, keep=None, keep_in=None, V=None):
    """Summed per-step cross-entropy of one sentence (the lecture's L = sum_t L<t>)."""
    _, P = forward(X, *(weights[k] for k in ("Wax", "Waa", "ba", "Wya", "by")), keep=keep,
                   keep_in=keep_in, V=V, Wv=weights.get("Wv"))
    if P.shape[1] == 1:
        p = P[:, 0]
        return float(-np.sum(Y * np.log(p) + (1 - Y) * np.log(1 - p)))
    return float(-np.sum(np.log(P[np.arange(len(Y)), Y])))


def gradients(X, Y, weights, keep=None, keep_in=None, V=None):
    """Backpropagation through time for one sentence, loop by loop: dict of dL/dW."""
    Wax, Waa, ba, Wya, by = (weights[k] for k in ("Wax", "Waa", "ba", "Wya", "by"))
    T = X.shape[0]
    H = Waa.shape[1]
    if keep is None:
        keep = np.ones((T, 2 * H))
    if keep_in is None:
        keep_in = np.ones((T, 2 * H))
    A, P = forward(X, Wax, Waa, ba, Wya, by, keep, keep_in, V, weights.get("Wv"))
    g = {k: np.zeros_like(v, dtype=np.float64) for k, v in weights.items()}
    dA = np.zeros((T, 2 * H))
    for t in range(T):
        dlogits = P[t].copy()
        if P.shape[1] == 1:
            dlogits[0] -= Y[t]
        else:
            dlogits[Y[t]] -= 1.0
        g["Wya"] += np.outer(dlogits, A[t] * keep[t])
        g["by"] += dlogits
        dA[t] = (Wya.T @ dlogits) * keep[t]
    for d, steps in ((0, range(T - 1, -1, -1)), (1, range(T))):
        sl = slice(d * H, (d + 1) * H)
        da_next = np.zeros(H)
        for t in steps:
            a = A[t, sl]
            dz = (dA[t, sl] + da_next) * (1 - a * a)
            g["ba"][d] += dz
            for j in X[t]:
                g["Wax"][j, sl] += dz * keep_in[t, sl]
            if V is not None:
                g["Wv"][:, sl] += np.outer(V[t], dz * keep_in[t, sl])
            prev = t - 1 if d == 0 else t + 1
            if 0 <= prev < T:
                g["Waa"][d] += np.outer(dz, A[prev, sl])
                da_next = Waa[d].T @ dz
            else:
                da_next = np.zeros(H)
    return g
