"""Numba kernels of the bidirectional Elman RNN: only @njit functions over arrays.

The lecture's cell, run once left to right (direction 0) and once right to left (direction 1):

    a<t> = tanh(Waa a<t-1> + Wax x<t> + ba)        # (H,)
    y<t> = g(Wya [a_fwd<t>; a_bwd<t>] + by)        # (K,)  g = softmax, or sigmoid when K == 1

Shapes (N tokens in a batch, F features a token, H units a direction, K tags):
    X (N, F) int32       feature ids: x<t> is multi-hot, so Wax x<t> = sum of F rows of Wax
    Wax (n_x, 2H)        row j is column j of the lecture's Wax, both directions side by side
                         (stored transposed so that a lookup reads contiguous memory)
    Waa (2, H, H), ba (2, H), Wya (K, 2H), by (K,)
    starts (S+1,) int64  sentence s is tokens starts[s]:starts[s+1]
    A (N, 2H)            activations [a_fwd<t>; a_bwd<t>]
    E (N, 2H)            the word-vector part of the input, Wv v<t> (computed outside, one
                         matrix product a batch; a (0, 2H) array means no vectors)
    keep_in (N, 2H)      input dropout: Wax x<t> + E<t> is multiplied by keep_in[t] (training
                         only; a (0, 2H) array means no dropout)

The kernels are generic in the float type: float32 in use, float64 for the gradient check (where
tanh is the exact one, so finite differences check the calculus and not an approximation).
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

# Every compile option lives here, in this file: Numba's cache key is the source file's stamp,
# not the decorator flags, so changing an option must change this file to drop stale code.
# fastmath lets the dot products vectorise (results then depend on the CPU's vector width).
_JIT = dict(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False)
_PARALLEL_JIT = dict(_JIT, parallel=True)

# float32 tanh as a [13/6] rational function (the approximation Eigen uses), clamped where tanh
# is 1 in float32. It vectorises, unlike libm's tanh, and its error is below 3e-7.
_TANH_CLAMP = np.float32(7.90531110763549805)
_TANH_ALPHA = tuple(
    np.float32(c)
    for c in (
        -2.76076847742355e-16,
        2.00018790482477e-13,
        -8.60467152213735e-11,
        5.12229709037114e-08,
        1.48572235717979e-05,
        6.37261928875436e-04,
        4.89352455891786e-03,
    )
)
_TANH_BETA = tuple(
    np.float32(c)
    for c in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
              4.89352518554385e-03)
)


def tanh(x):
    """Scalar tanh as the kernels compute it (exact for float64, rational for float32)."""
    return np.tanh(x)


@overload(tanh, jit_options=_JIT)
def _tanh_overload(x):
    if x != types.float32:
        return lambda x: np.tanh(x)
    a13, a11, a9, a7, a5, a3, a1 = _TANH_ALPHA
    b6, b4, b2, b0 = _TANH_BETA
    clamp = _TANH_CLAMP

    def tanh_f32(x):
        x = min(max(x, -clamp), clamp)
        x2 = x * x
        p = x2 * a13 + a11
        p = x2 * p + a9
        p = x2 * p + a7
        p = x2 * p + a5
        p = x2 * p + a3
        p = x2 * p + a1
        q = x2 * b6 + b4
        q = x2 * q + b2
        q = x2 * q + b0
        return x * p / q

    return tanh_f32


# ---------------------------------------------------------------------------------- forward


@njit(**_JIT)
def _cell_direction(X, s, e, d, Wax, E, Waa, ba, A, keep_in):
    """One direction of the cell over tokens s:e, writing A[s:e, dH:(d+1)H]."""
    H = Waa.shape[1]
    off = d * H
    z = np.empty(H, dtype=Wax.dtype)  # (H,) pre-activation
    F = X.shape[1]
    step = 1 if d == 0 else -1
    t = s if d == 0 else e - 1
    dropout = keep_in.shape[0] > 0
    with_vectors = E.shape[0] > 0
    for n in range(e - s):
        for i in range(H):
            z[i] = 0
        for f in range(F):  # Wax x<t>: a sum of columns, never a one-hot product
            row = X[t, f]
            for i in range(H):
                z[i] += Wax[row, off + i]
        if with_vectors:
            for i in range(H):
                z[i] += E[t, off + i]
        if dropout:
            for i in range(H):
                z[i] *= keep_in[t, off + i]
        for i in range(H):
            z[i] += ba[d, i]
        if n > 0:  # Waa a<t-1>; a<0> = 0
            prev = t - step
            for i in range(H):
                acc = z[i]
                for j in range(H):
                    acc += Waa[d, i, j] * A[prev, off + j]
                z[i] = acc
        for i in range(H):
            A[t, off + i] = tanh(z[i])
        t += step


@njit(**_JIT)
def _logits(A, t, keep, Wya, by, out):
    """out <- Wya (a<t> * keep) + by: (K,)."""
    K, H2 = Wya.shape
    for k in range(K):
        acc = by[k]
        for j in range(H2):
            acc += Wya[k, j] * (A[t, j] * keep[j])
        out[k] = acc


@njit(**_JIT)
def _output(A, t, keep, Wya, by, p):
    """p <- g(Wya (a<t> * keep) + by): softmax (K > 1) or sigmoid (K == 1). Returns log-sum-exp
    of the logits for softmax, the logit for sigmoid."""
    K = Wya.shape[0]
    _logits(A, t, keep, Wya, by, p)
    one = p.dtype.type(1)
    if K == 1:
        logit = p[0]
        p[0] = one / (one + np.exp(-logit))
        return logit
    top = p[0]
    for k in range(1, K):
        top = max(top, p[k])
    total = p[0] - p[0]
    for k in range(K):
        p[k] = np.exp(p[k] - top)
        total += p[k]
    for k in range(K):
        p[k] /= total
    return top + np.log(total)


@njit(**_PARALLEL_JIT)
def forward_probs(X, starts, Wax, E, Waa, ba, Wya, by, A, P):
    """Inference: A (N, 2H) activations and P (N, K) probabilities for every sentence.

    Tagging itself runs on NumPy (model.py) so that it never waits for Numba to start; this
    compiled twin is what the tests hold the NumPy path to, with the float32 tanh of training."""
    S = starts.shape[0] - 1
    ones = np.ones(Wya.shape[1], dtype=Wax.dtype)
    no_dropout = np.ones((0, Wya.shape[1]), dtype=Wax.dtype)
    for si in prange(S):
        s, e = starts[si], starts[si + 1]
        _cell_direction(X, s, e, 0, Wax, E, Waa, ba, A, no_dropout)
        _cell_direction(X, s, e, 1, Wax, E, Waa, ba, A, no_dropout)
        for t in range(s, e):
            _output(A, t, ones, Wya, by, P[t])


# --------------------------------------------------------------------------------- backward


@njit(**_JIT)
def _backprop_direction(s, e, d, Waa, A, dZ, gWaa, gba):
    """BPTT through one direction. On entry dZ[t, dH:(d+1)H] holds dL/da<t> from the output;
    on exit it holds dL/dz<t> (z the pre-activation), which is also dL/d(Wax x<t>)."""
    H = Waa.shape[1]
    off = d * H
    one = A.dtype.type(1)
    da_next = np.zeros(H, dtype=A.dtype)  # dL/da<t> through the recurrence
    # walk against the direction of the cell: the forward cell is unrolled from the end
    step = 1 if d == 0 else -1
    t = e - 1 if d == 0 else s
    for n in range(e - s):
        for i in range(H):
            a = A[t, off + i]
            dZ[t, off + i] = (dZ[t, off + i] + da_next[i]) * (one - a * a)  # tanh' = 1 - a^2
            gba[d, i] += dZ[t, off + i]
        if n < e - s - 1:  # a<t-1> exists: dWaa += dz a<t-1>^T, da<t-1> = Waa^T dz
            prev = t - step
            for j in range(H):
                da_next[j] = 0
            for i in range(H):
                dz = dZ[t, off + i]
                for j in range(H):
                    gWaa[d, i, j] += dz * A[prev, off + j]
                    da_next[j] += Waa[d, i, j] * dz
        t -= step


@njit(**_JIT)
def _crf_sentence(D, s, e, Y, Wyy, allowed, Alpha, Beta, gWyy, grad_scale):
    """Linear-chain CRF over the emissions D[s:e] (the logits): returns -log p(gold path) and
    leaves in D[s:e] its gradient wrt the emissions (times grad_scale), adding the gradient wrt
    the transition scores Wyy (K+1, K; row K is the start) to gWyy. Only transitions that
    ``allowed`` permits are in the sum (the decoder emits only those).

    Scaled forward-backward (no logarithms in the inner loops): psi<t> = exp(D<t> - max D<t>),
    M = exp(Wyy) masked, Alpha and Beta normalised each step by c<t>, so
    log Z = sum_t (log c<t> + max D<t>) and the marginals are Alpha * Beta."""
    K = D.shape[1]
    T = e - s
    M = np.zeros((K + 1, K), dtype=np.float64)
    for i in range(K + 1):
        for j in range(K):
            if allowed[i, j]:
                M[i, j] = np.exp(Wyy[i, j])
    gold = Wyy[K, Y[s]] + D[s, Y[s]]
    for t in range(s + 1, e):
        gold += Wyy[Y[t - 1], Y[t]] + D[t, Y[t]]
    c = np.empty(T, dtype=np.float64)
    log_z = 0.0
    for t in range(s, e):  # D<t> <- psi<t>
        top = D[t, 0]
        for j in range(1, K):
            top = max(top, D[t, j])
        log_z += top
        for j in range(K):
            D[t, j] = np.exp(D[t, j] - top)
    for t in range(s, e):  # forward
        total = 0.0
        for j in range(K):
            if t == s:
                acc = M[K, j]
            else:
                acc = 0.0
                for i in range(K):
                    acc += Alpha[t - 1, i] * M[i, j]
            Alpha[t, j] = acc * D[t, j]
            total += Alpha[t, j]
        c[t - s] = total
        log_z += np.log(total)
        for j in range(K):
            Alpha[t, j] /= total
    for i in range(K):
        Beta[e - 1, i] = 1.0
    for t in range(e - 2, s - 1, -1):  # backward, with the forward pass's scales
        for i in range(K):
            acc = 0.0
            for j in range(K):
                acc += M[i, j] * D[t + 1, j] * Beta[t + 1, j]
            Beta[t, i] = acc / c[t + 1 - s]
    # transition gradients: expected counts minus the gold path's counts
    for j in range(K):
        gWyy[K, j] += grad_scale * Alpha[s, j] * Beta[s, j]
    gWyy[K, Y[s]] -= grad_scale
    for t in range(s + 1, e):
        scale = grad_scale / c[t - s]
        for i in range(K):
            a = Alpha[t - 1, i] * scale
            for j in range(K):
                gWyy[i, j] += a * M[i, j] * D[t, j] * Beta[t, j]
        gWyy[Y[t - 1], Y[t]] -= grad_scale
    for t in range(s, e):  # emission gradients: marginals minus the gold one-hot
        for j in range(K):
            D[t, j] = grad_scale * Alpha[t, j] * Beta[t, j]
        D[t, Y[t]] -= grad_scale
    return log_z - gold


@njit(**_PARALLEL_JIT)
def loss_and_grads(X, starts, Y, keep, keep_in, grad_scale, Wax, E, Waa, ba, Wya, by, Wyy,
                   allowed, crf, A, dZ, D, Alpha, Beta, loss, gWaa, gba, gWya, gby, gWyy):
    """Forward, loss and BPTT for a mini-batch, one sentence per task.

    The loss is the lecture's per-step cross-entropy (softmax, or sigmoid when K == 1), or with
    ``crf`` the negative log-likelihood of a linear-chain CRF whose emissions are the logits
    Wya a<t> + by and whose transition scores are Wyy (K+1, K).
    keep (N, 2H) is the dropout mask on a<t> before Wya, already divided by the keep
    probability (ones for none); keep_in the same on Wax x<t> + E<t> ((0, 2H) for none).
    Per-sentence outputs, so the result does not depend on the thread count:
    loss (S,); gWaa (S, 2, H, H), gba (S, 2, H), gWya (S, K, 2H), gby (S, K), gWyy (S, K+1, K)
    the gradients of grad_scale * loss; dZ (N, 2H) dL/d(Wax x<t> + E<t>), to scatter into
    Wax's rows (and, for E = V Wv, to give dL/dWv = V^T dZ).
    D, Alpha, Beta (N, K) are work space.
    """
    S = starts.shape[0] - 1
    K, H2 = Wya.shape
    for si in prange(S):
        s, e = starts[si], starts[si + 1]
        _cell_direction(X, s, e, 0, Wax, E, Waa, ba, A, keep_in)
        _cell_direction(X, s, e, 1, Wax, E, Waa, ba, A, keep_in)
        total = loss[si] - loss[si]
        gWaa[si] = 0
        gba[si] = 0
        gWya[si] = 0
        gby[si] = 0
        gWyy[si] = 0
        if crf:
            for t in range(s, e):
                _logits(A, t, keep[t], Wya, by, D[t])
            total += _crf_sentence(D, s, e, Y, Wyy, allowed, Alpha, Beta, gWyy[si], grad_scale)
        else:
            for t in range(s, e):
                p = D[t]
                lse = _output(A, t, keep[t], Wya, by, p)
                y = Y[t]
                if K == 1:  # sigmoid cross-entropy, from the logit for stability
                    total += max(lse, 0) - lse * y + np.log1p(np.exp(-abs(lse)))
                    p[0] -= y
                else:  # softmax cross-entropy: -log p[y]
                    total += -np.log(max(p[y], 1e-30))
                    p[y] -= 1
                for k in range(K):  # p is now dL/dlogits
                    p[k] *= grad_scale
        for t in range(s, e):  # the output layer, from dL/dlogits in D
            for k in range(K):
                gby[si, k] += D[t, k]
            for j in range(H2):
                a_kept = A[t, j] * keep[t, j]
                acc = dZ[t, j] - dZ[t, j]
                for k in range(K):
                    gWya[si, k, j] += D[t, k] * a_kept
                    acc += Wya[k, j] * D[t, k]
                dZ[t, j] = acc * keep[t, j]
        loss[si] = total
        _backprop_direction(s, e, 0, Waa, A, dZ, gWaa[si], gba[si])
        _backprop_direction(s, e, 1, Waa, A, dZ, gWaa[si], gba[si])
        if keep_in.shape[0] > 0:  # dL/dz<t> -> dL/d(Wax x<t> + E<t>) through the dropout
            for t in range(s, e):
                for j in range(H2):
                    dZ[t, j] *= keep_in[t, j]


@njit(**_PARALLEL_JIT)
def sum_rows(per_sentence, out):
    """out <- per_sentence.sum(0), in a fixed order: (S, M) -> (M,)."""
    S, M = per_sentence.shape
    for m in prange(M):
        acc = out[m] - out[m]
        for si in range(S):
            acc += per_sentence[si, m]
        out[m] = acc


@njit(**_JIT)
def scatter_wax_grad(X, dZ, gWax, touched):
    """gWax[X[t, f]] += dZ[t] for every token and feature (serial: a fixed order), marking the
    rows touched. Returns the touched rows in first-touch order."""
    N, F = X.shape
    H2 = dZ.shape[1]
    rows = np.empty(N * F, dtype=np.int64)
    n_rows = 0
    for t in range(N):
        for f in range(F):
            r = X[t, f]
            if not touched[r]:
                touched[r] = True
                rows[n_rows] = r
                n_rows += 1
            for j in range(H2):
                gWax[r, j] += dZ[t, j]
    return rows[:n_rows]


# ------------------------------------------------------------------------------- optimiser


@njit(**_JIT)
def sum_squares(g):
    acc = 0.0
    for v in g.ravel():
        acc += v * v
    return acc


@njit(**_PARALLEL_JIT)
def sum_squares_rows(g, rows):
    """Sum of squares of the given rows of g: per-row sums in parallel, added in row order."""
    per_row = np.empty(rows.shape[0], dtype=np.float64)
    for n in prange(rows.shape[0]):
        acc = g.dtype.type(0)  # in g's float type: vectorises
        for v in g[rows[n]]:
            acc += v * v
        per_row[n] = acc
    total = 0.0
    for n in range(rows.shape[0]):
        total += per_row[n]
    return total


@njit(**_JIT, inline="always")
def _adam(w, g, m, v, lr_t, beta1, beta2, c1, c2, eps, scale, decay):
    """The AdamW update of one weight, written once for adam_dense and adam_rows: returns the
    new (w, m, v) from the gradient g (scaled first: gradient clipping)."""
    gi = g * scale
    m = beta1 * m + c1 * gi
    v = beta2 * v + c2 * gi * gi
    return w - (lr_t * m / (np.sqrt(v) + eps) + decay * w), m, v


@njit(**_JIT)
def adam_dense(w, g, m, v, lr_t, beta1, beta2, eps, scale, decay):
    """One AdamW step of a flat parameter (lr_t carries the bias correction; decay is the
    decoupled weight decay, lr * wd); g is scaled first (gradient clipping)."""
    c1 = w.dtype.type(1) - beta1  # in the weights' float type, as the other scalars
    c2 = w.dtype.type(1) - beta2
    for i in range(w.size):
        w[i], m[i], v[i] = _adam(w[i], g[i], m[i], v[i], lr_t, beta1, beta2, c1, c2, eps, scale,
                                 decay)


@njit(**_PARALLEL_JIT)
def adam_rows(W, G, M, V, rows, touched, lr_t, beta1, beta2, eps, scale, decay):
    """Lazy Adam on the rows of Wax a batch touched (the rest of Wax has zero gradient and is
    left alone, as sparse Adam does); zeroes those gradient rows for the next batch."""
    H2 = W.shape[1]
    c1 = W.dtype.type(1) - beta1
    c2 = W.dtype.type(1) - beta2
    for n in prange(rows.shape[0]):
        r = rows[n]
        for j in range(H2):
            W[r, j], M[r, j], V[r, j] = _adam(W[r, j], G[r, j], M[r, j], V[r, j], lr_t, beta1,
                                              beta2, c1, c2, eps, scale, decay)
            G[r, j] = 0
        touched[r] = False
