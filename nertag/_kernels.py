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
    V (N, D), Wv (D, 2H) word vectors v<t> and their weight: the word-vector part of the
                         input is E<t> = Wv v<t> (2H,) (training; tagging's forward_probs takes
                         E (N, 2H) made outside). A V of no rows means no vectors
    keep_in              input dropout, a mask (codes, below, scale): Wax x<t> + E<t> is
                         multiplied by scale where codes[t] (N, 2H) uint8 >= below, by 0
                         elsewhere (training only; (0, 2H) codes mean no dropout). Bytes, not
                         floats: a quarter of the memory, turned into 0 or scale where used

Training (loss_and_grads) steps the sentences of a batch in lockstep groups, so that a time step
is a (B, H) x (H, H) product rather than B matrix-vector products (see "training (batched)").
Tagging's compiled twin (forward_probs), which the tests hold the NumPy path to, runs the same
cell, a sentence a group.

The kernels are generic in the float type: float32 in use, float64 for the gradient check (where
tanh is the exact one, so finite differences check the calculus and not an approximation).
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._simd import VECTOR_BYTES, vfma, vload, vsplat, vstore

# Every compile option lives here, in this file: Numba's cache key is the source file's stamp,
# not the decorator flags, so changing an option must change this file to drop stale code. (The
# intrinsics of _simd are compiled into these functions too, and an edit there is not seen: see
# its docstring.)
# fastmath lets the reductions vectorise (results then depend on the CPU's vector width; the
# products written with _simd's vectors do not: their sums are in a fixed order).
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
def _logits(A, t, Wya, by, out):
    """out <- Wya a<t> + by: (K,) (a<t> after dropout, when training)."""
    K, H2 = Wya.shape
    for k in range(K):
        acc = by[k]
        for j in range(H2):
            acc += Wya[k, j] * A[t, j]
        out[k] = acc


@njit(**_JIT)
def _softmax(p):
    """p <- softmax(p) in place, from the largest logit (no overflow)."""
    top = p[0]
    for k in range(1, p.shape[0]):
        top = max(top, p[k])
    total = p[0] - p[0]
    for k in range(p.shape[0]):
        p[k] = np.exp(p[k] - top)
        total += p[k]
    for k in range(p.shape[0]):
        p[k] /= total


@njit(**_JIT)
def _output(A, t, Wya, by, p):
    """p <- g(Wya a<t> + by): softmax (K > 1) or sigmoid (K == 1)."""
    _logits(A, t, Wya, by, p)
    if p.shape[0] == 1:
        p[0] = p.dtype.type(1) / (p.dtype.type(1) + np.exp(-p[0]))
    else:
        _softmax(p)


@njit(**_PARALLEL_JIT)
def forward_probs(X, starts, Wax, E, Waa, ba, Wya, by, A, P):
    """Inference: A (N, 2H) activations and P (N, K) probabilities for every sentence.

    Tagging itself runs on NumPy (model.py) so that it never waits for Numba to start; this
    compiled twin is what the tests hold the NumPy path to, with the float32 tanh of training."""
    S = starts.shape[0] - 1
    no_dropout = (np.empty((0, A.shape[1]), dtype=np.uint8), 0, A.dtype.type(1))
    lengths = starts[1:] - starts[:-1]
    WaaT = _transposed(Waa)
    for t in prange(A.shape[0]):
        _cell_input(X, t, Wax, E, no_dropout, ba, A)
    for task in prange(2 * S):
        d, si = task // S, task % S
        out = np.empty((BLOCK, Waa.shape[1]), dtype=A.dtype)
        _forward_group(np.array([si]), lengths, starts, d, WaaT, A, out)
    for t in prange(A.shape[0]):
        _output(A, t, Wya, by, P[t])


# ------------------------------------------------------------------------------------- CRF


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


# ------------------------------------------------------------------------ training (batched)
#
# Training steps many sentences at once. The batch's sentences, sorted longest first, are cut
# into groups of GROUP; a task runs one direction of one group in lockstep, so that a time step
# is a (B, H) x (H, H) product whose every load of a weight serves BLOCK sentences (register
# blocking) rather than B matrix-vector products. The tasks are (direction, group) pairs, and
# every gradient is summed in an order that the batch alone fixes: results do not depend on the
# thread count.

GROUP = 8  # sentences a task
BLOCK = 4  # sentences a load of Waa serves (the unrolled _recur_block and _unroll_block)


@njit(**_JIT)
def _token(starts, s, d, n):
    """The token at step n of direction d (0: left to right, 1: right to left) of sentence s."""
    return starts[s] + n if d == 0 else starts[s + 1] - 1 - n


@njit(**_JIT, inline="always")
def _kept(mask, t, j):
    """A dropout mask (codes (N, 2H) uint8, below, scale) at [t, j]: scale where the unit is
    kept (its code is at least below), else 0."""
    codes, below, scale = mask
    return scale if codes[t, j] >= below else scale - scale


@njit(**_JIT)
def _cell_input(X, t, Wax, E, keep_in, ba, A):
    """A[t] <- (Wax x<t> + E<t>) * keep_in<t> + ba, both directions: (2H,)."""
    H = ba.shape[1]
    H2 = 2 * H
    for i in range(H2):
        A[t, i] = 0
    for f in range(X.shape[1]):  # Wax x<t>: a sum of rows, never a one-hot product
        row = X[t, f]
        for i in range(H2):
            A[t, i] += Wax[row, i]
    if E.shape[0] > 0:
        for i in range(H2):
            A[t, i] += E[t, i]
    if keep_in[0].shape[0] > 0:
        for i in range(H2):
            A[t, i] *= _kept(keep_in, t, i)
    for d in range(2):
        for i in range(H):
            A[t, d * H + i] += ba[d, i]


# The products of the recurrence hold a block of outputs in vector registers (_simd): four
# sentences by four Vectors of H, summed over all of j before they are stored, so that each
# load of a weight serves four products and no dot product ends in a horizontal sum. Every
# output is summed in j's order, one rounding a step: the vector width does not change it.


@njit(**_JIT)
def _store4(y0, y1, y2, y3, c, H, a0, a1, a2, a3):
    """y<b>[c:c + L] <- a<b>, masked where the rows' H columns end (a row given twice gets the
    same values twice)."""
    vstore(y0, c, H - c, a0)
    vstore(y1, c, H - c, a1)
    vstore(y2, c, H - c, a2)
    vstore(y3, c, H - c, a3)


@njit(**_JIT)
def _times4(W, x0, x1, x2, x3, y0, y1, y2, y3):
    """y<b> <- sum_j x<b>[j] W[j] for four vectors x<b> (J,) at once, W (J, H): each y<b>
    (H,) the product x<b>^T W. No x may be one of the y. Accumulator a<b><k> is Vector k of
    the block of y<b> from column c."""
    J, H = W.shape
    L = VECTOR_BYTES // W.itemsize  # lanes
    zero = vsplat(W.dtype.type(0))
    for c in range(0, H, 4 * L):
        chunks = min(4, (H - c + L - 1) // L)
        n0, n1, n2, n3 = H - c, H - c - L, H - c - 2 * L, H - c - 3 * L  # lanes left
        a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = zero
        a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = zero
        for j in range(J):
            s0, s1, s2, s3 = vsplat(x0[j]), vsplat(x1[j]), vsplat(x2[j]), vsplat(x3[j])
            # written out: a helper returning the four Vectors stops LLVM keeping them in
            # registers
            w = vload(W, j, c, n0)
            a00, a10, a20, a30 = (vfma(w, s0, a00), vfma(w, s1, a10), vfma(w, s2, a20),
                                  vfma(w, s3, a30))
            if chunks > 1:
                w = vload(W, j, c + L, n1)
                a01, a11, a21, a31 = (vfma(w, s0, a01), vfma(w, s1, a11), vfma(w, s2, a21),
                                      vfma(w, s3, a31))
            if chunks > 2:
                w = vload(W, j, c + 2 * L, n2)
                a02, a12, a22, a32 = (vfma(w, s0, a02), vfma(w, s1, a12), vfma(w, s2, a22),
                                      vfma(w, s3, a32))
            if chunks > 3:
                w = vload(W, j, c + 3 * L, n3)
                a03, a13, a23, a33 = (vfma(w, s0, a03), vfma(w, s1, a13), vfma(w, s2, a23),
                                      vfma(w, s3, a33))
        _store4(y0, y1, y2, y3, c, H, a00, a10, a20, a30)
        if chunks > 1:
            _store4(y0, y1, y2, y3, c + L, H, a01, a11, a21, a31)
        if chunks > 2:
            _store4(y0, y1, y2, y3, c + 2 * L, H, a02, a12, a22, a32)
        if chunks > 3:
            _store4(y0, y1, y2, y3, c + 3 * L, H, a03, a13, a23, a33)


@njit(**_JIT)
def _four(i, end):
    """i and the three after it, the last repeated where they pass end - 1: a block for
    _times4 and _outer4 (which give a row given twice the same values twice)."""
    return i, min(i + 1, end - 1), min(i + 2, end - 1), min(i + 3, end - 1)


@njit(**_JIT)
def _transposed(Waa):
    """Waa[d]^T for both directions (2, H, H), rows contiguous: the rows of the cell's
    product Waa a<t-1> = sum_j a<t-1>[j] Waa[:, j] as _times4 takes them."""
    WaaT = np.empty_like(Waa)
    for d in range(2):
        for j in range(Waa.shape[1]):
            for i in range(Waa.shape[2]):
                WaaT[d, j, i] = Waa[d, i, j]
    return WaaT


@njit(**_JIT)
def _recur_block(WaaT, d, A, t0, t1, t2, t3, p0, p1, p2, p3, out):
    """A[t<b>] <- tanh(A[t<b>] + Waa[d] A[p<b>]) in direction d's columns for four tokens at
    once (on entry A[t] holds the cell's input, A[p] the previous activation); WaaT from
    _transposed, out (4, H) work space. A token given twice is computed twice, identically: a
    block of fewer than four repeats its last."""
    H = WaaT.shape[1]
    off = d * H
    # row views, indexed from 0: they vectorise (Numba cannot tell that A[p, off + j] is not a
    # negative index, and then loads element by element)
    z0, z1, z2, z3 = A[t0, off:off + H], A[t1, off:off + H], A[t2, off:off + H], A[t3, off:off + H]
    o0, o1, o2, o3 = out[0], out[1], out[2], out[3]
    _times4(WaaT[d], A[p0, off:off + H], A[p1, off:off + H], A[p2, off:off + H],
            A[p3, off:off + H], o0, o1, o2, o3)
    for i in range(H):
        # one tuple assignment: a repeated token (z2 is z3) must not get tanh(tanh(z))
        z0[i], z1[i], z2[i], z3[i] = (tanh(z0[i] + o0[i]), tanh(z1[i] + o1[i]),
                                      tanh(z2[i] + o2[i]), tanh(z3[i] + o3[i]))


@njit(**_JIT)
def _unroll_block(Waa, d, dZ, t0, t1, t2, t3, da, b0, b1, b2, b3):
    """da[b] <- Waa[d]^T dz<t<b>> = sum_j dz<t<b>>[j] Waa[d, j] for four tokens at once: the
    gradient reaching a<t-1> through the recurrence."""
    H = Waa.shape[1]
    off = d * H
    _times4(Waa[d], dZ[t0, off:off + H], dZ[t1, off:off + H], dZ[t2, off:off + H],
            dZ[t3, off:off + H], da[b0], da[b1], da[b2], da[b3])


@njit(**_JIT)
def _active(members, lengths, n):
    """How many of a group's sentences (longest first) have a step n."""
    count = members.shape[0]
    while count > 0 and lengths[members[count - 1]] <= n:
        count -= 1
    return count


@njit(**_JIT)
def _forward_group(members, lengths, starts, d, WaaT, A, out):
    """Direction d of the cell over a group of sentences (longest first), in lockstep: on entry
    A holds the cell's inputs, on exit the activations a<t> (columns dH:(d+1)H). WaaT from
    _transposed; out (4, H) is work space."""
    H = WaaT.shape[1]
    off = d * H
    back = -1 if d == 0 else 1  # a<t-1> is the token before in the direction's order
    for n in range(lengths[members[0]]):
        active = _active(members, lengths, n)
        if n == 0:  # a<0> = 0
            for b in range(active):
                t = _token(starts, members[b], d, 0)
                z = A[t, off:off + H]
                for i in range(H):
                    z[i] = tanh(z[i])
            continue
        for b in range(0, active, BLOCK):
            b0, b1, b2, b3 = _four(b, active)
            t0 = _token(starts, members[b0], d, n)
            t1 = _token(starts, members[b1], d, n)
            t2 = _token(starts, members[b2], d, n)
            t3 = _token(starts, members[b3], d, n)
            _recur_block(WaaT, d, A, t0, t1, t2, t3, t0 + back, t1 + back, t2 + back, t3 + back,
                         out)


@njit(**_JIT)
def _backward_group(members, lengths, starts, d, Waa, A, dZ, da):
    """BPTT through direction d for a group, in lockstep from the last step. On entry
    dZ[t, dH:(d+1)H] holds dL/da<t> from the output; on exit dL/dz<t> (z the pre-activation).
    da (GROUP, H) is work space: dL/da<t-1> through the recurrence, a sentence a row."""
    H = Waa.shape[1]
    off = d * H
    one = A.dtype.type(1)
    for b in range(members.shape[0]):
        for j in range(H):
            da[b, j] = 0
    for n in range(lengths[members[0]] - 1, -1, -1):
        active = _active(members, lengths, n)
        for b in range(active):  # dz<t> = (dL/da<t> + recurrent part) * tanh'(z), 1 - a^2
            t = _token(starts, members[b], d, n)
            a, dz, da_b = A[t, off:off + H], dZ[t, off:off + H], da[b]
            for i in range(H):
                dz[i] = (dz[i] + da_b[i]) * (one - a[i] * a[i])
        if n == 0:
            continue
        for b in range(0, active, BLOCK):
            b0, b1, b2, b3 = _four(b, active)
            _unroll_block(Waa, d, dZ, _token(starts, members[b0], d, n),
                          _token(starts, members[b1], d, n), _token(starts, members[b2], d, n),
                          _token(starts, members[b3], d, n), da, b0, b1, b2, b3)


@njit(**_JIT)
def _recurrent_grads(inner, d, i0, i1, A, dZ, gWaa, gba):
    """Rows i0:i1 of direction d's dL/dWaa = sum_t dz<t> a<t-1>^T and dL/dba = sum_t dz<t>,
    each summed in token order; inner (M,) are the tokens that have an a<t-1> (all but the
    direction's first of each sentence). Four rows at a time, held in registers as _times4
    holds its outputs: a row a<t-1> loaded once serves four rows of dL/dWaa."""
    H = gWaa.shape[1]
    off = d * H
    back = -1 if d == 0 else 1
    for i in range(i0, i1):
        gba[d, i] = 0
    for t in range(dZ.shape[0]):
        for i in range(i0, i1):
            gba[d, i] += dZ[t, off + i]
    for i in range(i0, i1, 4):
        r0, r1, r2, r3 = _four(i, i1)
        _outer4(inner, back, off, A, dZ, r0, r1, r2, r3, gWaa[d, r0], gWaa[d, r1], gWaa[d, r2],
                gWaa[d, r3])


@njit(**_JIT)
def _outer4(tokens, back, off, M, S, r0, r1, r2, r3, y0, y1, y2, y3):
    """y<b> <- sum_t S[t, off + r<b>] M[t + back, off:off + H] over the tokens t in order
    (y<b> (H,)): four rows of a sum of outer products (dL/dWaa = sum_t dz<t> a<t-1>^T,
    dL/dWya = sum_t dL/dlogits<t> (a<t> * keep<t>)^T, dL/dWv = sum_t v<t> dL/dE<t>^T), held
    in registers as _times4 holds its outputs, and written out as it is, for the same
    reason."""
    H = y0.shape[0]
    L = VECTOR_BYTES // M.itemsize
    zero = vsplat(M.dtype.type(0))
    for c in range(0, H, 4 * L):
        chunks = min(4, (H - c + L - 1) // L)
        n0, n1, n2, n3 = H - c, H - c - L, H - c - 2 * L, H - c - 3 * L
        a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = zero
        a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = zero
        for t in tokens:
            s0, s1, s2, s3 = (vsplat(S[t, off + r0]), vsplat(S[t, off + r1]),
                              vsplat(S[t, off + r2]), vsplat(S[t, off + r3]))
            p, col = t + back, off + c
            w = vload(M, p, col, n0)
            a00, a10, a20, a30 = (vfma(w, s0, a00), vfma(w, s1, a10), vfma(w, s2, a20),
                                  vfma(w, s3, a30))
            if chunks > 1:
                w = vload(M, p, col + L, n1)
                a01, a11, a21, a31 = (vfma(w, s0, a01), vfma(w, s1, a11), vfma(w, s2, a21),
                                      vfma(w, s3, a31))
            if chunks > 2:
                w = vload(M, p, col + 2 * L, n2)
                a02, a12, a22, a32 = (vfma(w, s0, a02), vfma(w, s1, a12), vfma(w, s2, a22),
                                      vfma(w, s3, a32))
            if chunks > 3:
                w = vload(M, p, col + 3 * L, n3)
                a03, a13, a23, a33 = (vfma(w, s0, a03), vfma(w, s1, a13), vfma(w, s2, a23),
                                      vfma(w, s3, a33))
        _store4(y0, y1, y2, y3, c, H, a00, a10, a20, a30)
        if chunks > 1:
            _store4(y0, y1, y2, y3, c + L, H, a01, a11, a21, a31)
        if chunks > 2:
            _store4(y0, y1, y2, y3, c + 2 * L, H, a02, a12, a22, a32)
        if chunks > 3:
            _store4(y0, y1, y2, y3, c + 3 * L, H, a03, a13, a23, a33)


@njit(**_JIT)
def _cross_entropy(p, y, grad_scale):
    """The lecture's per-step loss from the logits p (K,): softmax cross-entropy -log p[y], or
    for K == 1 the sigmoid one; leaves grad_scale * dL/dlogits in p."""
    K = p.shape[0]
    if K == 1:  # from the logit, for stability
        logit = p[0]
        loss = max(logit, 0) - logit * y + np.log1p(np.exp(-abs(logit)))
        p[0] = (p.dtype.type(1) / (p.dtype.type(1) + np.exp(-logit)) - y) * grad_scale
        return loss
    _softmax(p)
    loss = -np.log(max(p[y], 1e-30))
    p[y] -= 1
    for k in range(K):
        p[k] *= grad_scale
    return loss


@njit(**_JIT)
def _sentence_output(s, e, Y, keep, grad_scale, Wya, WyaT, by, Wyy, allowed, crf, A, AK, dZ,
                     D, Alpha, Beta, gWyy):
    """The output layer and loss of sentence s:e (WyaT = Wya^T (2H, K), rows contiguous).
    Leaves AK<t> = a<t> * keep<t>, D<t> = grad_scale * dL/dlogits and dZ<t> = grad_scale *
    dL/da<t>; adds to gWyy (K+1, K) the CRF's transition gradient. Returns the loss."""
    K, H2 = Wya.shape
    for t in range(s, e):
        for j in range(H2):
            AK[t, j] = A[t, j] * _kept(keep, t, j)
    for t in range(s, e, 4):  # logits Wya (a<t> * keep<t>) + by, four tokens a product
        t0, t1, t2, t3 = _four(t, e)
        _times4(WyaT, AK[t0], AK[t1], AK[t2], AK[t3], D[t0], D[t1], D[t2], D[t3])
    for t in range(s, e):
        for k in range(K):
            D[t, k] += by[k]
    if crf:
        total = _crf_sentence(D, s, e, Y, Wyy, allowed, Alpha, Beta, gWyy, grad_scale)
    else:
        total = 0.0
        for t in range(s, e):
            total += _cross_entropy(D[t], Y[t], grad_scale)
    for t in range(s, e, 4):  # dL/da<t> = (Wya^T dL/dlogits) * keep<t>
        t0, t1, t2, t3 = _four(t, e)
        _times4(Wya, D[t0], D[t1], D[t2], D[t3], dZ[t0], dZ[t1], dZ[t2], dZ[t3])
    for t in range(s, e):
        for j in range(H2):
            dZ[t, j] *= _kept(keep, t, j)
    return total


@njit(**_JIT)
def _output_grads(k, tokens, AK, D, gWya, gby):
    """Rows k:k + 4 of dL/dWya = sum_t dL/dlogit<t>[k] (a<t> * keep<t>) and of dL/dby, over
    the tokens in index order (tokens: 0..N-1)."""
    K = gWya.shape[0]
    k0, k1, k2, k3 = _four(k, K)
    for r in range(k, min(k + 4, K)):
        gby[r] = 0
        for t in tokens:
            gby[r] += D[t, r]
    _outer4(tokens, 0, 0, AK, D, k0, k1, k2, k3, gWya[k0], gWya[k1], gWya[k2], gWya[k3])


ROW_BLOCKS = 4  # tasks a direction for dL/dWaa (each owns rows: no order changes with it)


@njit(**_PARALLEL_JIT)
def loss_and_grads(X, starts, order, inner, Y, keep, keep_in, grad_scale, Wax, V, Wv, Waa, ba,
                   Wya, by, Wyy, allowed, crf, A, AK, dZ, D, Alpha, Beta, loss, gWyy, gWaa,
                   gba, gWya, gby, gWv):
    """Forward, loss and BPTT for a mini-batch, the sentences stepped in lockstep groups.

    The loss is the lecture's per-step cross-entropy (softmax, or sigmoid when K == 1), or with
    ``crf`` the negative log-likelihood of a linear-chain CRF whose emissions are the logits
    Wya a<t> + by and whose transition scores are Wyy (K+1, K).
    order (S,): the sentences longest first (ties in index order); inner (2, N - S): the tokens
    that have an a<t-1> in each direction, in index order.
    keep is the dropout mask on a<t> before Wya, (codes (N, 2H) uint8, below, scale): a unit
    is kept, times scale (1 / the keep probability), where its code is at least below (with
    below = 0 every unit is kept); keep_in the same on Wax x<t> + E<t> ((0, 2H) codes: none).
    V (N, D) and Wv (D, 2H) are the word vectors and their weight (a V of no rows: none).
    Outputs: loss (S,) a sentence; and the gradients of grad_scale * loss: gWyy (S, K+1, K) a
    sentence (summed outside, in a fixed order); gWaa (2, H, H), gba (2, H), gWya (K, 2H),
    gby (K,), gWv (D, 2H) summed here in token order; dZ (N, 2H) dL/d(Wax x<t> + E<t>), to
    scatter into Wax's rows. A (N, 2H) is left holding the activations; AK (N, 2H), D, Alpha,
    Beta (N, K) are work space.
    """
    S = starts.shape[0] - 1
    N = X.shape[0]
    K, H2 = Wya.shape
    H = H2 // 2
    lengths = starts[1:] - starts[:-1]
    n_groups = (S + GROUP - 1) // GROUP
    WaaT = _transposed(Waa)
    WyaT = np.ascontiguousarray(Wya.T)
    tokens = np.arange(N)
    vectors = V.shape[0] > 0
    E = AK[:N] if vectors else AK[:0]  # AK is free until the output layer
    if vectors:  # E<t> = Wv v<t> (2H,): four tokens a task
        for q in prange((N + 3) // 4):
            t0, t1, t2, t3 = _four(4 * q, N)
            _times4(Wv, V[t0], V[t1], V[t2], V[t3], E[t0], E[t1], E[t2], E[t3])
    for t in prange(N):
        _cell_input(X, t, Wax, E, keep_in, ba, A)
    for task in prange(2 * n_groups):  # the cell: a direction of a group a task
        d, g = task // n_groups, task % n_groups
        members = order[g * GROUP:min(S, (g + 1) * GROUP)]
        out = np.empty((BLOCK, H), dtype=A.dtype)
        _forward_group(members, lengths, starts, d, WaaT, A, out)
    for si in prange(S):
        gWyy[si] = 0
        loss[si] = _sentence_output(starts[si], starts[si + 1], Y, keep, grad_scale, Wya, WyaT,
                                    by, Wyy, allowed, crf, A, AK, dZ, D, Alpha, Beta, gWyy[si])
    for q in prange((K + 3) // 4):
        _output_grads(4 * q, tokens, AK, D, gWya, gby)
    for task in prange(2 * n_groups):  # BPTT, as the cell
        d, g = task // n_groups, task % n_groups
        members = order[g * GROUP:min(S, (g + 1) * GROUP)]
        da = np.empty((GROUP, H), dtype=A.dtype)
        _backward_group(members, lengths, starts, d, Waa, A, dZ, da)
    n_quads = (H + 3) // 4  # rows of dL/dWaa in fours, shared among a direction's tasks
    for task in prange(2 * ROW_BLOCKS):
        d, r = task // ROW_BLOCKS, task % ROW_BLOCKS
        i0, i1 = 4 * (r * n_quads // ROW_BLOCKS), min(H, 4 * ((r + 1) * n_quads // ROW_BLOCKS))
        _recurrent_grads(inner[d], d, i0, i1, A, dZ, gWaa, gba)
    if keep_in[0].shape[0] > 0:  # dL/dz<t> -> dL/d(Wax x<t> + E<t>) through the dropout
        for t in prange(N):
            for j in range(H2):
                dZ[t, j] *= _kept(keep_in, t, j)
    if vectors:  # dL/dWv = sum_t v<t> dL/dE<t>^T, and dL/dE<t> = dZ<t>: four rows a task
        for q in prange((V.shape[1] + 3) // 4):
            k0, k1, k2, k3 = _four(4 * q, V.shape[1])
            _outer4(tokens, 0, 0, dZ, V, k0, k1, k2, k3, gWv[k0], gWv[k1], gWv[k2], gWv[k3])


@njit(**_JIT)
def gather_batch(X, lower, upper, starts, batch, pick, lower_below, cased_below, word_u, word_p,
                 feature_u, feature_p, Xb, tok):
    """A mini-batch's tokens tok (n,) and their features Xb (n, F), sentence by sentence from
    batch (B,). With case variants: sentence b is seen lower-cased (lower, (N, F)) where
    pick[b] < lower_below, UPPER-CASED (upper) where lower_below <= pick[b] < cased_below.
    Then where word_u (n,) < word_p the word and lower-case features (templates 0 and 1, those
    there are) become unknown, and where feature_u (n, F) < feature_p that feature does
    (template f's unknown feature is row f: features.unknown_features). An empty pick, word_u
    or feature_u means none of that."""
    F = X.shape[1]
    n = 0
    for b in range(batch.shape[0]):
        s = batch[b]
        source = X
        if pick.shape[0] > 0 and pick[b] < cased_below:
            source = lower if pick[b] < lower_below else upper
        for t in range(starts[s], starts[s + 1]):
            tok[n] = t
            for f in range(F):
                Xb[n, f] = source[t, f]
            n += 1
    if word_u.shape[0] > 0:
        for i in range(n):
            if word_u[i] < word_p:
                for f in range(min(2, F)):
                    Xb[i, f] = f
    if feature_u.shape[0] > 0:
        for i in range(n):
            for f in range(F):
                if feature_u[i, f] < feature_p:
                    Xb[i, f] = f


@njit(**_PARALLEL_JIT)
def sum_rows(per_sentence, out):
    """out <- per_sentence.sum(0), in a fixed order: (S, M) -> (M,)."""
    S, M = per_sentence.shape
    for m in prange(M):
        acc = out.dtype.type(0)
        for si in range(S):
            acc += per_sentence[si, m]
        out[m] = acc


@njit(**_PARALLEL_JIT)
def scatter_wax_grad(X, dZ, slot, rows, gRows, row_squares):
    """dL/dWax, compactly: the batch's rows of Wax in first-touch order go to rows[:n] (n
    returned), with slot[r] <- r's position i; gRows[i] sums dZ[t] over every token t and
    feature f with X[t, f] = rows[i], in token order, then feature order (from 0: np.add.at's
    sums); row_squares[i] <- the sum of squares of gRows[i] (for the gradient norm). slot is
    -1 for rows not yet touched (adam_rows puts the -1 back).

    The gradient rows are the batch's alone, contiguous and the same memory batch after
    batch, so they stay in cache, where the rows of a dense (n_x, 2H) gradient were cold. The
    slots are found serially; then two tasks each sum the rows of their own half of the
    entries (a row's sum in the same order whatever the thread count)."""
    N, F = X.shape
    H2 = dZ.shape[1]
    n_rows = 0
    at = np.empty((N, F), dtype=np.int64)  # (N, F): each feature's row of gRows
    for t in range(N):
        for f in range(F):
            r = X[t, f]
            if slot[r] < 0:
                slot[r] = n_rows
                rows[n_rows] = r
                n_rows += 1
            at[t, f] = slot[r]
    entries = np.zeros(n_rows + 1, dtype=np.int64)  # entries[i + 1]: row i's count, then cumsum
    for t in range(N):
        for f in range(F):
            entries[at[t, f] + 1] += 1
    for i in range(n_rows):
        entries[i + 1] += entries[i]
    split = np.searchsorted(entries, entries[n_rows] // 2)  # rows [0, split) hold half
    for part in prange(2):
        lo, hi = (0, split) if part == 0 else (split, n_rows)
        for i in range(lo, hi):
            for j in range(H2):
                gRows[i, j] = 0
        for t in range(N):  # (no row views here: their reference counts are shared)
            for f in range(F):
                i = at[t, f]
                if lo <= i < hi:
                    for j in range(H2):
                        gRows[i, j] += dZ[t, j]
    for i in prange(n_rows):
        row_squares[i] = _sum_squares_row(gRows[i])
    return n_rows


# ------------------------------------------------------------------------------- optimiser


@njit(**_JIT)
def sum_squares(g):
    acc = 0.0
    for v in g.ravel():
        acc += v * v
    return acc


@njit(**_JIT)
def _sum_squares_row(row):
    """The sum of squares of a row, in its float type, indexed (both so that it vectorises:
    a `for v in row` loop did not; the sum's order is then the vector lanes', which the
    gradient norm, and so the clipping scale, carry in their last bits)."""
    acc = row.dtype.type(0)
    for j in range(row.shape[0]):
        acc += row[j] * row[j]
    return acc


@njit(**_JIT)
def ordered_total(values):
    """values summed in float64, in index order."""
    total = 0.0
    for v in values:
        total += v
    return total


@njit(**_JIT)
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
def adam_rows(W, G, M, V, rows, slot, lr_t, beta1, beta2, eps, scale, decay):
    """Lazy Adam on the rows of Wax a batch touched, rows[i] with gradient G[i] (the rest of
    Wax has zero gradient and is left alone, as sparse Adam does); puts back slot[r] = -1 for
    the next batch."""
    H2 = W.shape[1]
    c1 = W.dtype.type(1) - beta1
    c2 = W.dtype.type(1) - beta2
    for n in prange(rows.shape[0]):
        r = rows[n]
        g = G[n]
        for j in range(H2):
            W[r, j], M[r, j], V[r, j] = _adam(W[r, j], g[j], M[r, j], V[r, j], lr_t, beta1,
                                              beta2, c1, c2, eps, scale, decay)
        slot[r] = -1
