"""The Numba kernels against the lecture's math: a finite-difference gradient check in float64,
the slow NumPy reference in reference.py, and the NumPy tagging path."""

import numba
import numpy as np
import pytest
from numba import njit

from nertag import _kernels as kernels
from nertag import grad
from nertag.nn import forward_probs_numpy, init_weights, input_sums

from . import reference
from .conftest import random_batch

NAMES = ("Wax", "Waa", "ba", "Wya", "by")
ALL_NAMES = NAMES + ("Wyy", "Wv")


def kernel_loss_and_grads(weights, X, starts, Y, keep=None, crf=False, allowed=None,
                          keep_in=None, V=None):
    """Total loss and dense gradients of every parameter, through grad.loss_and_grads (the
    kernel, the CRF's per-sentence sums, Wv's product and the scatter into Wax's rows)."""
    w = dict(weights)
    if V is None:
        w.pop("Wv", None)
    N = len(X)
    H = w["Waa"].shape[1]
    K = w["Wya"].shape[0]
    if keep is None:
        keep = grad.Dropout.none(N, 2 * H)
    if allowed is None:
        allowed = np.ones((K + 1, K), dtype=np.bool_)
    if keep_in is None:
        keep_in = grad.Dropout.none(0, 2 * H)
    buffers = grad.Buffers(w)
    loss, rows = grad.loss_and_grads(w, X, starts, Y, keep, keep_in, allowed, crf, buffers, V)
    assert set(rows) == set(np.unique(X))
    grads = {name: g.copy() for name, g in buffers.grads.items()}
    grads["Wax"] = np.zeros_like(w["Wax"])
    grads["Wax"][rows] = buffers.gRows[:len(rows)]
    # the kernel reports the summed loss, and gradients of the mean: both as sums here
    return loss, {name: g * N for name, g in grads.items()}


def reference_loss_and_grads(weights, X, starts, Y, keep=None, keep_in=None, V=None):
    w = dict(weights)
    if V is None:
        w.pop("Wv", None)
    total, grads = 0.0, {k: np.zeros_like(v) for k, v in w.items()}
    for s, e in zip(starts[:-1], starts[1:]):
        k = None if keep is None else keep.values(np.float64)[s:e]
        k_in = None if keep_in is None else keep_in.values(np.float64)[s:e]
        v = None if V is None else V[s:e]
        total += reference.loss(X[s:e], Y[s:e], w, k, k_in, v)
        for name, g in reference.gradients(X[s:e], Y[s:e], w, k, k_in, v).items():
            grads[name] += g
    return total, grads


def dropout_keep(rng, N, H2, p=0.3):
    return grad.Dropout.draw(rng, N, H2, p)


def tokens_of(mask, s, e):
    """The dropout mask of tokens s:e."""
    return mask._replace(codes=mask.codes[s:e])


@pytest.mark.parametrize("vectors", [False, True], ids=["no-vectors", "vectors"])
@pytest.mark.parametrize("input_dropout", [False, True], ids=["no-input-dropout", "input-dropout"])
def test_kernel_matches_reference(small_net, rng, input_dropout, vectors):
    weights, X, starts, Y, V = small_net
    V = V if vectors else None
    keep = dropout_keep(rng, len(X), 2 * weights["Waa"].shape[1])
    keep_in = (dropout_keep(rng, len(X), 2 * weights["Waa"].shape[1], p=0.5) if input_dropout
               else None)  # None: the kernel gets a (0, 2H) mask, the reference none
    loss, grads = kernel_loss_and_grads(weights, X, starts, Y, keep, keep_in=keep_in, V=V)
    ref_loss, ref_grads = reference_loss_and_grads(weights, X, starts, Y, keep, keep_in, V)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    # the reference is the lecture's per-step loss: no transition scores Wyy
    assert set(ref_grads) == set(NAMES) | ({"Wv", "Wyy"} if vectors else {"Wyy"})
    for name in set(ref_grads) - {"Wyy"}:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def sentence_by_sentence(weights, X, starts, Y, keep, keep_in, V, crf, allowed):
    """The loss and gradients summed over the sentences run one a batch (each its own
    lockstep group), for the CRF, which has no NumPy reference."""
    total, sums = 0.0, None
    for s, e in zip(starts[:-1], starts[1:]):
        loss, grads = kernel_loss_and_grads(weights, X[s:e], np.array([0, e - s]), Y[s:e],
                                            tokens_of(keep, s, e), crf, allowed,
                                            tokens_of(keep_in, s, e), V[s:e])
        total += loss
        sums = grads if sums is None else {k: sums[k] + g for k, g in grads.items()}
    return total, sums


BATCH_LENGTHS = {  # more sentences than a group, lengths from 1 up with ties
    "mixed": lambda rng: np.concatenate([rng.integers(1, 14, size=kernels.GROUP * 2 + 5),
                                         [1, 1, 13]]),
    "group+1-equal": lambda rng: np.full(kernels.GROUP + 1, 6),
    "all-length-1": lambda rng: np.ones(11, dtype=np.int64),  # no token has an a<t-1>
    "one-sentence": lambda rng: np.array([1]),
}


@pytest.mark.parametrize("lengths", list(BATCH_LENGTHS))
@pytest.mark.parametrize("K, crf", [(1, False), (5, False), (5, True)],
                         ids=["sigmoid", "softmax", "crf"])
@pytest.mark.parametrize("hidden", [7, 8, 37], ids=["H<lanes", "H=lanes", "H>4-lanes"])
def test_batched_kernel_matches_reference_on_many_sentences(rng, hidden, K, crf, lengths):
    """The lockstep groups shrink step by step and blocks of fewer than four repeat their last
    token. H (float64: 8 lanes) ends inside a Vector, fills one, or takes two passes of four
    Vectors and ends inside one. Against the NumPy reference (the per-step loss), or for the
    CRF against the sentences run one at a time."""
    weights = init_weights(50, hidden, K, seed=2, dtype=np.float64, vector_dim=3)
    weights["ba"] += rng.normal(0, 0.3, size=weights["ba"].shape)
    weights["Wyy"] += rng.normal(0, 0.5, size=weights["Wyy"].shape)
    X, starts, Y = random_batch(rng, 50, 4, BATCH_LENGTHS[lengths](rng), K)
    V = rng.normal(size=(len(X), 3))
    keep = dropout_keep(rng, len(X), 2 * hidden)
    keep_in = dropout_keep(rng, len(X), 2 * hidden, p=0.5)
    allowed = np.ones((K + 1, K), dtype=np.bool_)
    loss, grads = kernel_loss_and_grads(weights, X, starts, Y, keep, crf, allowed, keep_in, V)
    if crf:
        ref_loss, ref_grads = sentence_by_sentence(weights, X, starts, Y, keep, keep_in, V,
                                                   crf, allowed)
    else:
        ref_loss, ref_grads = reference_loss_and_grads(weights, X, starts, Y, keep, keep_in, V)
        ref_grads.pop("Wyy")
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in ref_grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_inner_tokens_are_all_but_each_direction_first():
    starts = np.array([0, 1, 4, 5, 7])  # sentences of 1, 3, 1 and 2 tokens
    np.testing.assert_array_equal(grad.inner_tokens(starts), [[2, 3, 6], [1, 2, 5]])


@pytest.mark.parametrize("lengths", [[], [2, 0, 3]], ids=["no-sentence", "empty-sentence"])
def test_batch_without_tokens_is_refused(lengths):
    weights = init_weights(10, 4, 3, seed=1, dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(starts[-1])
    X, Y = np.zeros((n, 2), np.int32), np.zeros(n, np.int32)
    with pytest.raises(ValueError, match="no sentence is empty"):
        grad.loss_and_grads({k: v for k, v in weights.items() if k != "Wv"}, X, starts, Y,
                            grad.Dropout.none(n, 8), grad.Dropout.none(0, 8),
                            np.ones((4, 3), np.bool_), True,
                            grad.Buffers(weights))


# (outputs, loss, parameter): the transition scores Wyy exist only in the CRF loss, which is
# for typed tags (K > 1)
GRADIENT_CASES = ([(1, "cross-entropy", name) for name in ALL_NAMES if name != "Wyy"]
                  + [(5, loss, name) for loss in ("cross-entropy", "crf") for name in ALL_NAMES
                     if name != "Wyy" or loss == "crf"])


@pytest.mark.parametrize("small_net, loss, name",
                         [pytest.param(K, loss, name, id=f"K{K}-{loss}-{name}")
                          for K, loss, name in GRADIENT_CASES],
                         indirect=["small_net"])
def test_gradient_matches_finite_differences(small_net, rng, loss, name):
    """Central differences of the float64 loss (kernel, word vectors through Wv, input and
    output dropout), for every entry of the parameter (every row of Wax the batch uses, and
    some it does not)."""
    weights, X, starts, Y, V = small_net
    crf = loss == "crf"
    K = weights["Wya"].shape[0]
    weights["Wyy"] += rng.normal(0, 0.5, size=weights["Wyy"].shape)
    allowed = np.ones((K + 1, K), dtype=np.bool_)
    if crf:
        allowed[rng.random(allowed.shape) < 0.2] = False  # some transitions forbidden...
        allowed[K, Y[starts[:-1]]] = True  # ...but never the gold ones
        allowed[Y[:-1], Y[1:]] = True
    keep = dropout_keep(rng, len(X), 2 * weights["Waa"].shape[1])
    keep_in = dropout_keep(rng, len(X), 2 * weights["Waa"].shape[1], p=0.5)

    def run(w):
        return kernel_loss_and_grads(w, X, starts, Y, keep, crf, allowed, keep_in, V)

    _, grads = run(weights)
    param = weights[name]
    numeric = np.zeros_like(param)
    eps = 1e-6
    for index in np.ndindex(param.shape):
        old = param[index]
        param[index] = old + eps
        up, _ = run(weights)
        param[index] = old - eps
        down, _ = run(weights)
        param[index] = old
        numeric[index] = (up - down) / (2 * eps)
    error = np.linalg.norm(grads[name] - numeric) / (
        np.linalg.norm(grads[name]) + np.linalg.norm(numeric))
    assert error < 1e-6, f"{name}: relative error {error:.2e}"
    assert np.linalg.norm(numeric) > 0


def test_float32_forward_agrees_everywhere(rng):
    """Kernel inference (float32, rational tanh), the NumPy tagging path and the reference,
    with word vectors."""
    weights = init_weights(60, 8, 7, seed=3, vector_dim=4)
    X, starts, _ = random_batch(rng, 60, 10, [1, 4, 9, 2, 30], 7)
    N = len(X)
    V = rng.normal(size=(N, 4)).astype(np.float32)
    E = V @ weights["Wv"]
    A = np.zeros((N, 16), np.float32)
    P_kernel = np.zeros((N, 7), np.float32)
    kernels.forward_probs(X, starts, weights["Wax"], E, *(weights[k] for k in NAMES[1:]), A,
                          P_kernel)
    P_numpy = forward_probs_numpy(weights, starts, input_sums(weights["Wax"], X) + E)
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    P_ref = np.concatenate([reference.forward(X[s:e], *(w64[k] for k in NAMES),
                                              V=V[s:e].astype(np.float64), Wv=w64["Wv"])[1]
                            for s, e in zip(starts[:-1], starts[1:])])
    np.testing.assert_allclose(P_kernel, P_ref, atol=2e-6)
    np.testing.assert_allclose(P_numpy, P_ref, atol=2e-6)


@njit(cache=False)
def _kernel_tanh_f32(x, out):
    for i in range(x.size):
        out[i] = kernels.tanh(x[i])


def test_float32_tanh_approximation_is_accurate():
    x = np.linspace(-12, 12, 200_001).astype(np.float32)
    out = np.empty_like(x)
    _kernel_tanh_f32(x, out)
    assert np.max(np.abs(out.astype(np.float64) - np.tanh(x.astype(np.float64)))) < 3e-7
    assert np.all(np.abs(out) <= 1.0)


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
def test_gradients_do_not_depend_on_thread_count(rng, crf):
    weights = init_weights(50, 7, 5, seed=1, vector_dim=4)
    X, starts, Y = random_batch(rng, 50, 10, rng.integers(1, 20, size=21), 5)
    V = rng.normal(size=(len(X), 4)).astype(np.float32)
    keep_in = dropout_keep(rng, len(X), 14, p=0.5)
    allowed = np.ones((6, 5), dtype=np.bool_)
    default = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kernel_loss_and_grads(weights, X, starts, Y, None, crf, allowed, keep_in, V)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = kernel_loss_and_grads(weights, X, starts, Y, None, crf, allowed, keep_in, V)
    finally:
        numba.set_num_threads(default)
    assert one[0] == many[0]
    for name in NAMES + ("Wv", "Wyy"):
        assert np.array_equal(one[1][name], many[1][name]), name


def test_adam_dense_matches_formula(rng):
    w, g = rng.normal(size=20), rng.normal(size=20)
    m, v = rng.normal(size=20) * 0.1, rng.random(20) * 0.1
    expect_m = 0.9 * m + 0.1 * (g * 0.5)
    expect_v = 0.999 * v + 0.001 * (g * 0.5) ** 2
    expect_w = w - 0.01 * expect_m / (np.sqrt(expect_v) + 1e-8)
    kernels.adam_dense(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.5, 0.0)
    np.testing.assert_allclose(m, expect_m)
    np.testing.assert_allclose(v, expect_v)
    np.testing.assert_allclose(w, expect_w)


def test_adam_in_float32_as_training_calls_it(rng):
    """Training passes float32 arrays and float32 scalars: the same step, to float32
    precision, and the arrays stay float32."""
    w, g = rng.normal(size=64), rng.normal(size=64)
    m, v = rng.normal(size=64) * 0.1, rng.random(64) * 0.1
    w32, g32, m32, v32 = (a.astype(np.float32) for a in (w, g, m, v))
    hyper = [np.float32(x) for x in (0.01, 0.9, 0.999, 1e-8, 0.5, 0.001)]
    kernels.adam_dense(w32, g32, m32, v32, *hyper)
    kernels.adam_dense(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.5, 0.001)
    assert w32.dtype == m32.dtype == v32.dtype == np.float32
    for a32, a64 in ((w32, w), (m32, m), (v32, v)):
        np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-6)
    W = rng.normal(size=(5, 8)).astype(np.float32)
    W64, G = W.astype(np.float64), rng.normal(size=(5, 8))
    M32, V32 = np.zeros_like(W), np.zeros_like(W)
    M64, V64 = np.zeros_like(W64), np.zeros_like(W64)
    rows, slot = np.array([3, 0]), np.array([1, -1, -1, 0, -1])
    kernels.adam_rows(W, G[rows].astype(np.float32), M32, V32, rows, slot.copy(), *hyper)
    kernels.adam_rows(W64, G[rows], M64, V64, rows, slot.copy(), 0.01, 0.9, 0.999, 1e-8,
                      0.5, 0.001)
    np.testing.assert_allclose(W, W64, rtol=1e-5, atol=1e-6)


def test_adam_rows_updates_only_touched_rows(rng):
    """Rows 4 and 1 (gradient rows 0 and 1) move, each by its own gradient row, and become
    untouched again; the others stay."""
    W = rng.normal(size=(6, 4))
    before = W.copy()
    G = rng.normal(size=(2, 4))
    M, V = np.zeros_like(W), np.zeros_like(W)
    slot = np.full(6, -1)
    slot[[4, 1]] = [0, 1]
    kernels.adam_rows(W, G, M, V, np.array([4, 1]), slot, 0.1, 0.9, 0.999, 1e-8, 1.0, 0.0)
    changed = np.any(W != before, axis=1)
    assert list(np.flatnonzero(changed)) == [1, 4]
    assert np.all(slot == -1)
    # a first step (no bias correction here: lr_t = 0.1) is lr_t m / sqrt(v) with m = 0.1 g
    # and v = 0.001 g^2, g that row's own gradient
    np.testing.assert_allclose(W[[4, 1]] - before[[4, 1]],
                               -0.1 * (0.1 * G) / (np.sqrt(0.001 * G * G) + 1e-8), rtol=1e-9)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_sums_rows_in_token_order(rng, threads, dtype):
    """The compact scatter gives, bit for bit, np.add.at's sums (one row at a time, in token
    then feature order) on any number of threads, rows in first-touch order and each row's sum
    of squares; rows repeat within and across tokens."""
    N, F, H2, n_x = 300, 5, 12, 40
    X = rng.integers(0, n_x, size=(N, F)).astype(np.int32)
    X[::7, 1] = X[::7, 0]  # a row twice in one token
    dZ = (rng.normal(size=(N, H2)) * 10.0 ** rng.integers(-3, 4, size=(N, 1))).astype(dtype)
    slot, rows = np.full(n_x, -1), np.empty(n_x, dtype=np.int64)
    gRows, squares = np.full((n_x, H2), np.nan, dtype=dtype), np.empty(n_x)
    default = numba.get_num_threads()
    try:
        numba.set_num_threads(threads)
        n = kernels.scatter_wax_grad(X, dZ, slot, rows, gRows, squares)
    finally:
        numba.set_num_threads(default)
    _, first = np.unique(X.ravel(), return_index=True)
    assert list(rows[:n]) == list(X.ravel()[np.sort(first)])
    assert np.array_equal(slot[rows[:n]], np.arange(n))
    assert np.all(np.delete(slot, rows[:n]) == -1)
    dense = np.zeros((n_x, H2), dtype=dtype)
    np.add.at(dense, X.ravel(), np.repeat(dZ, F, axis=0))
    assert np.array_equal(gRows[:n], dense[rows[:n]])
    # each row's squares, summed in the row's float type (in vector-lane order: hence rtol)
    np.testing.assert_allclose(squares[:n], (dense[rows[:n]].astype(np.float64) ** 2).sum(1),
                               rtol=1e-5)
    assert squares[:n].tolist() == [kernels._sum_squares_row(r) for r in dense[rows[:n]]]


def fma_sums(scalars, rows):
    """sum_j scalars[j] rows[j] in float32, a fused multiply-add a step in j's order (float64
    holds each product exactly; its sum is rounded once more, to float32)."""
    y = np.zeros(rows.shape[1], dtype=np.float32)
    for x, row in zip(scalars, rows):
        y = (np.float64(x) * row.astype(np.float64) + y).astype(np.float32)
    return y


def sentinel_rows(n, width):
    """n rows of `width` inside wider NaN-filled rows: (rows, the whole array)."""
    whole = np.full((n, width + 40), np.nan, dtype=np.float32)
    return whole[:, 20:20 + width], whole


@pytest.mark.parametrize("H", [1, 5, 16, 17, 64, 100, 200])
@pytest.mark.parametrize("J", [0, 1, 50])
def test_times4_sums_each_output_in_order(rng, H, J):
    """_times4 against a sequential fused multiply-add in float32, bit for bit: each output is
    summed in j's order from its own x, whatever the Vector blocks; a y given twice gets the
    same values; nothing is written past the rows (H ends inside a Vector, on one, past one
    and past a block of four)."""
    W = rng.normal(size=(J, H)).astype(np.float32)
    x = rng.normal(size=(4, J)).astype(np.float32)
    y, whole = sentinel_rows(4, H)
    kernels._times4(W, x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3])
    for b in range(4):
        assert np.array_equal(y[b], fma_sums(x[b], W)), b
    assert np.isnan(np.delete(whole, np.s_[20:20 + H], axis=1)).all()
    twice, _ = sentinel_rows(3, H)
    kernels._times4(W, x[0], x[1], x[2], x[2], twice[0], twice[1], twice[2], twice[2])
    assert np.array_equal(twice, y[:3])


def test_vector_loads_and_stores_refuse_what_they_cannot_address(rng):
    """A strided matrix, or outputs of another float type than the weights', would be read or
    written as contiguous lanes of the wrong type: _simd refuses them when compiling."""
    W = rng.normal(size=(5, 40)).astype(np.float32)
    x = rng.normal(size=5).astype(np.float32)
    y = np.zeros(20, dtype=np.float32)
    with pytest.raises(numba.core.errors.TypingError, match="C-contiguous"):
        kernels._times4(W[:, ::2], x, x, x, x, y, y, y, y)
    y64 = np.zeros(40)
    with pytest.raises(numba.core.errors.TypingError, match="float32"):
        kernels._times4(W, x, x, x, x, y64, y64, y64, y64)


@pytest.mark.parametrize("H", [3, 8, 37])
def test_times4_in_float64(rng, H):
    """The float64 path (8 lanes; the gradient check's), against NumPy's product."""
    W, x = rng.normal(size=(11, H)), rng.normal(size=(4, 11))
    y = np.full((4, H), np.nan)
    kernels._times4(W, x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3])
    np.testing.assert_allclose(y, x @ W, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("H", [5, 100])
@pytest.mark.parametrize("back", [-1, 0, 1])
def test_outer4_sums_outer_products_in_token_order(rng, H, back):
    """_outer4's rows y<b> = sum_t S[t, off + r<b>] M[t + back, off:off + H], in token order,
    bit for bit as a sequential fused multiply-add, each from its own column of S, and a row
    asked for twice; M and S hold NaN outside the columns read (a read of M before off, or
    of S outside off + r<b>, would spread it into the sums)."""
    N, off = 30, 3
    M = np.full((N, off + H + 9), np.nan, dtype=np.float32)
    M[:, off:off + H] = rng.normal(size=(N, H))
    S = np.full((N, off + 6), np.nan, dtype=np.float32)
    S[:, off:] = rng.normal(size=(N, 6))
    tokens = np.arange(1, N - 1)[::-1].copy()  # any order: the sums follow it
    for r in ((0, 5, 2, 3), (4, 1, 1, 1)):
        y, whole = sentinel_rows(4, H)
        kernels._outer4(tokens, back, off, M, S, *r, y[0], y[1], y[2], y[3])
        for b in range(4):
            expected = fma_sums(S[tokens, off + r[b]], M[tokens + back, off:off + H])
            assert np.array_equal(y[b], expected), (r, b)
        assert np.isnan(np.delete(whole, np.s_[20:20 + H], axis=1)).all()


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
def test_float32_training_kernel_agrees_with_float64(rng, crf):
    """The float32 kernel, whose products take several passes of four 16-lane Vectors and end
    inside one (H = 70, 2H = 140; D = 5 and K = 6 rows of Wv and Wya in blocks of four, the
    second short), against the same batch in float64: the float32 path is the one training
    runs, and the gradient check runs the float64 one."""
    H, K, D = 70, 6, 5
    w64 = init_weights(60, H, K, seed=4, dtype=np.float64, vector_dim=D)
    w64["ba"] += rng.normal(0, 0.3, size=w64["ba"].shape)
    X, starts, Y = random_batch(rng, 60, 6, np.concatenate([rng.integers(1, 20, 13), [1]]), K)
    V = rng.normal(size=(len(X), D))
    keep = dropout_keep(rng, len(X), 2 * H)
    keep_in = dropout_keep(rng, len(X), 2 * H, p=0.5)
    allowed = np.ones((K + 1, K), dtype=np.bool_)
    w32 = {k: v.astype(np.float32) for k, v in w64.items()}
    loss32, g32 = kernel_loss_and_grads(w32, X, starts, Y, keep, crf, allowed, keep_in, V)
    loss64, g64 = kernel_loss_and_grads(w64, X, starts, Y, keep, crf, allowed, keep_in, V)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for name in ALL_NAMES:
        scale = np.abs(g64[name]).max()
        np.testing.assert_allclose(g32[name], g64[name], rtol=0, atol=1e-4 * scale,
                                   err_msg=name)


@pytest.mark.parametrize("small_net", [5], ids=["softmax"], indirect=True)
def test_crf_loss_matches_brute_force(small_net, rng):
    """The CRF loss against enumeration of every allowed path (tiny sentences); the CRF is for
    typed tags, so only the softmax network."""
    weights, X, starts, Y, _ = small_net
    K = weights["Wya"].shape[0]
    weights["Wyy"] += rng.normal(0, 0.7, size=weights["Wyy"].shape)
    allowed = np.ones((K + 1, K), dtype=np.bool_)
    allowed[0, 2] = allowed[K, 3] = False
    Y = Y.copy()
    for s in starts[:-1]:
        if not allowed[K, Y[s]]:
            Y[s] = 0
    for t in range(1, len(Y)):
        if t not in starts and not allowed[Y[t - 1], Y[t]]:
            Y[t] = 0
    loss, _ = kernel_loss_and_grads(weights, X, starts, Y, crf=True, allowed=allowed)
    expected = 0.0
    for s, e in zip(starts[:-1], starts[1:]):
        emissions = reference.forward_logits(X[s:e], *(weights[k] for k in NAMES))
        expected += reference.crf_nll(emissions, Y[s:e], weights["Wyy"], allowed)
    assert loss == pytest.approx(expected, rel=1e-10)


def test_gather_batch_is_the_numpy_gather(rng):
    """The compiled batch gather against the NumPy one it replaced: the tokens sentence by
    sentence, a sentence's case variant chosen by its pick, then word dropout (templates 0 and
    1) and feature dropout to each template's unknown id (its index)."""
    F, case_augment = 5, 0.6
    lengths = rng.integers(1, 6, size=30)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    X, lower, upper = (rng.integers(F, 1000, size=(starts[-1], F)).astype(np.int32)
                       for _ in range(3))
    batch = rng.permutation(30)[:20]
    n = int(lengths[batch].sum())
    pick, word_u, feature_u = rng.random(20), rng.random(n), rng.random((n, F))
    tok = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in batch])
    expected = X[tok]
    variant = np.repeat(np.where(pick < case_augment * 2 / 3, 1,
                                 np.where(pick < case_augment, 2, 0)), lengths[batch])
    assert set(variant) == {0, 1, 2}
    for v, cased in ((1, lower), (2, upper)):
        expected[variant == v] = cased[tok[variant == v]]
    expected[word_u < 0.3, :2] = [0, 1]
    drop = feature_u < 0.2
    expected[drop] = np.broadcast_to(np.arange(F), expected.shape)[drop]
    Xb, got_tok = np.empty((n, F), dtype=np.int32), np.empty(n, dtype=np.int64)
    kernels.gather_batch(X, lower, upper, starts, batch, pick, case_augment * 2 / 3, case_augment,
                         word_u, 0.3, feature_u, 0.2, Xb, got_tok)
    assert np.array_equal(got_tok, tok)
    assert np.array_equal(Xb, expected)
    no_rows, nothing = np.zeros((0, F), np.int32), np.zeros(0)
    kernels.gather_batch(X, no_rows, no_rows, starts, batch, nothing, 0.0, 0.0, nothing, 0.3,
                         nothing.reshape(0, F), 0.2, Xb, got_tok)
    assert np.array_equal(Xb, X[tok])


def test_dropout_masks_as_bytes(rng):
    """A unit is kept, times 1 / the keep probability, where its byte is at least p * 256:
    about 1 - p of them, and the mask's mean is about 1. No dropout keeps every unit at 1."""
    mask = grad.Dropout.draw(rng, 2000, 50, 0.3)
    assert mask.codes.dtype == np.uint8 and mask.below == 77
    values = mask.values(np.float64)
    assert set(np.unique(values)) == {0.0, 256 / 179}
    assert np.array_equal(values == 0, mask.codes < 77)
    assert abs((values > 0).mean() - 179 / 256) < 0.01
    assert abs(values.mean() - 1.0) < 0.01
    assert np.all(grad.Dropout.none(3, 4).values() == 1.0)
    state = rng.bit_generator.state
    assert np.all(grad.Dropout.draw(rng, 3, 4, 0.0).values() == 1.0)
    assert rng.bit_generator.state == state  # p = 0 draws nothing
