"""The model: weights + vocabularies + configuration, a NumPy forward pass and decoding, and the
versioned ``.npz`` file format.

Tagging runs on NumPy alone (a batched, length-bucketed forward pass), so ``nertag tag`` starts
without importing Numba; training runs on the Numba kernels in kernels.py. Both compute the same
function: tests/ checks them against each other and against a naive reference.
"""

import io
import json
import math
import os
import tempfile
import time
import zipfile
from collections.abc import MutableMapping

import numpy as np

from .errors import BadModelError
from .tags import OUTSIDE, binary_to_bio, bio_spans
from .vocab import N_TEMPLATES, Featurizer

FORMAT = "nertag"
FORMAT_VERSION = 1
WEIGHTS = ("Wax", "Waa", "ba", "Wya", "by", "Wyy")
# Wax is stored as int8 rows with a float32 scale a row (a quarter of the float32 size; the
# rounding error is below 0.4% of the row's largest weight); the other weights as float32
KEYS = frozenset(("format_version", "meta", "features", "tagset", "Wax_scale") + WEIGHTS)
BINARY_TAGSET = ("0", "1")
# tokens a padded forward batch holds at most: bounds memory on any input
BATCH_TOKENS = 16384
# longest run the RNN sees at once: a longer sentence is cut into pieces of this many tokens
MAX_RUN = 1000


def weight_shapes(n_features, hidden, n_outputs):
    H = hidden
    return {
        "Wax": (n_features, 2 * H),
        "Waa": (2, H, H),
        "ba": (2, H),
        "Wya": (n_outputs, 2 * H),
        "by": (n_outputs,),
        "Wyy": (n_outputs + 1, n_outputs),  # CRF transition scores; row K is the start
    }


def init_weights(n_features, hidden, n_outputs, seed, dtype=np.float32):
    """Small random input rows, orthogonal recurrences (BPTT through tanh then neither explodes
    nor vanishes at the start), zero biases."""
    rng = np.random.default_rng(seed)
    H = hidden
    Wax = rng.normal(0.0, 1.0 / np.sqrt(N_TEMPLATES), size=(n_features, 2 * H))
    Waa = np.stack([np.linalg.qr(rng.normal(size=(H, H)))[0] for _ in range(2)])
    Wya = rng.normal(0.0, 1.0 / np.sqrt(2 * H), size=(n_outputs, 2 * H))
    weights = {"Wax": Wax, "Waa": Waa, "ba": np.zeros((2, H)), "Wya": Wya,
               "by": np.zeros(n_outputs), "Wyy": np.zeros((n_outputs + 1, n_outputs))}
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in weights.items()}


class Model:
    """A trained tagger. ``tagset`` is ``("0", "1")`` for the binary task (one sigmoid output),
    else BIO tags with ``O`` first (one softmax output per tag, or with ``config["crf"]`` the
    emissions of a linear-chain CRF whose transition scores are ``Wyy``)."""

    def __init__(self, features, tagset, weights, config, meta=None):
        self.features = list(features)
        self.tagset = list(tagset)
        self.weights = weights
        self.config = dict(config)
        self.meta = dict(meta or {})
        self.featurizer = Featurizer(self.features)
        self._type_inputs = None  # (featurizer generation, (n_types, 2H) input sums)
        self._allowed = None if self.binary else allowed_transitions(self.tagset)

    @property
    def binary(self):
        return tuple(self.tagset) == BINARY_TAGSET

    @property
    def crf(self):
        return bool(self.config.get("crf")) and not self.binary

    @property
    def hidden(self):
        return self.weights["Waa"].shape[1]

    @property
    def types(self):
        return sorted({t[2:] for t in self.tagset if t not in (OUTSIDE, "0", "1")})

    @classmethod
    def new(cls, features, tagset, hidden, seed, config=None):
        n_outputs = 1 if tuple(tagset) == BINARY_TAGSET else len(tagset)
        weights = init_weights(len(features), hidden, n_outputs, seed)
        return cls(features, tagset, weights, dict(config or {}, hidden=hidden, seed=seed))

    # ------------------------------------------------------------------------- tagging

    def probabilities(self, X, starts):
        """(N, F) feature ids and (S+1,) sentence starts -> (N, K) output probabilities."""
        return forward_probs_numpy(self.weights, starts, input_sums(self.weights["Wax"], X))

    def _tag_outputs(self, tokens, starts):
        """(N, K) outputs of tokens (probabilities, or CRF emissions), through the per-string
        cache of input sums."""
        table, ids = self._input_sums(tokens)
        return forward_probs_numpy(self.weights, starts, table, ids, logits=self.crf,
                                   biased=True)

    def weights_changed(self):
        """Drop what was computed from the weights (training updates them in place)."""
        self._type_inputs = None

    def _input_sums(self, tokens):
        """Wax x<t> + ba of tokens, one row a distinct token string (a token's features, and
        so its input to the cell, do not depend on its context), as a pair of per-direction
        (n_types, H) tables, and (N,) ids of the tokens' rows."""
        types = self.featurizer.encode_types(tokens)
        rows = self.featurizer.type_rows()
        cache = self._type_inputs  # [generation, (2, capacity, H) tables, rows filled]
        if cache is None or cache[0] != self.featurizer.generation:
            cache = [self.featurizer.generation,
                     np.empty((2, 1024, self.hidden), np.float32), 0]
        done = cache[2]
        if done < len(rows):
            if len(rows) > cache[1].shape[1]:  # grow geometrically: a stream adds a few at a time
                grown = np.empty((2, max(len(rows), 2 * cache[1].shape[1]), self.hidden),
                                 np.float32)
                grown[:, :done] = cache[1][:, :done]
                cache[1] = grown
            sums = (self.weights.quantized_rows(rows[done:])  # (n, 2H)
                    if isinstance(self.weights, LoadedWeights)
                    else input_sums(self.weights["Wax"], rows[done:]))
            sums += self.weights["ba"].reshape(-1)
            cache[1][:, done:len(rows)] = sums.reshape(len(sums), 2, self.hidden).swapaxes(0, 1)
            cache[2] = len(rows)
        self._type_inputs = cache
        return cache[1], types

    def tag(self, sentences, scores=True):
        """Lists of tokens -> for each sentence, (BIO tags, per-token scores).

        Scores are the model's probability of the chosen tag at each token; without
        ``scores`` they are None (a CRF's marginals are not computed)."""
        sentences = sentences if isinstance(sentences, list) else list(sentences)
        results = [None] * len(sentences)
        pending, pending_tokens = [], 0
        for index, tokens in enumerate(sentences):
            if not tokens:
                results[index] = ([], [] if scores else None)
                continue
            pending.append(index)
            pending_tokens += len(tokens)
            if pending_tokens >= 4 * BATCH_TOKENS:
                self._tag_batch(sentences, pending, results, scores)
                pending, pending_tokens = [], 0
        if pending:
            self._tag_batch(sentences, pending, results, scores)
        return results

    def _tag_batch(self, sentences, indices, results, with_scores):
        runs = []  # (sentence index, start, end): long sentences in pieces of MAX_RUN tokens
        for index in indices:
            n = len(sentences[index])
            runs += [(index, s, min(s + MAX_RUN, n)) for s in range(0, n, MAX_RUN)]
        tokens = [tok for i, s, e in runs for tok in sentences[i][s:e]]
        lengths = np.array([e - s for _, s, e in runs], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        outputs = self._tag_outputs(tokens, starts)
        if self.crf:
            tag_ids, scores = decode_crf(outputs, starts, self._allowed, self.weights["Wyy"],
                                         with_scores)
        else:
            tag_ids, scores = decode(outputs, starts, self._allowed)
        # whole-batch conversions (C loops), then a slice a sentence; the runs of a sentence
        # are consecutive, so a sentence is tokens starts[first run] .. starts[last run + 1]
        tags = self.ids_to_tags(tag_ids, starts)
        scores = scores.tolist() if with_scores else None
        if len(runs) == len(indices):  # no sentence was cut: run r is sentence indices[r]
            bounds = zip(indices, starts[:-1].tolist(), starts[1:].tolist())
        else:
            spans = {}
            for r, (index, _, _) in enumerate(runs):
                spans[index] = (spans[index][0] if index in spans else starts[r], starts[r + 1])
            bounds = ((index, a, b) for index, (a, b) in spans.items())
        for index, a, b in bounds:
            results[index] = (tags[a:b], scores[a:b] if with_scores else None)

    def ids_to_tags(self, ids, starts):
        """Tag ids of the runs starts[r]:starts[r+1] -> BIO tags (a binary model's 0/1 runs
        become B-ENT I-ENT ..., each sentence on its own)."""
        if self.binary:
            labels = [BINARY_TAGSET[i] for i in ids]
            return [tag for a, b in zip(starts[:-1], starts[1:])
                    for tag in binary_to_bio(labels[a:b])]
        return np.array(self.tagset, dtype=object)[ids].tolist()

    # ------------------------------------------------------------------------ the file

    def save(self, path, atomic_rename=True):
        """Write the model as one .npz (no pickles), replacing ``path`` atomically: a temporary
        file in the same folder, fsynced, then renamed over it."""
        arrays = {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "meta": _text_array(
                json.dumps(
                    {"format": FORMAT, "config": self.config, "meta": self.meta}, sort_keys=True
                )
            ),
            "features": _text_array("\n".join(self.features)),
            "tagset": _text_array("\n".join(self.tagset)),
        }
        arrays["Wax"], arrays["Wax_scale"] = quantize_rows(self.weights["Wax"])
        for name in WEIGHTS[1:]:
            arrays[name] = self.weights[name].astype(np.float32)
        write_npz_atomic(path, arrays)


def _text_array(text):
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def write_npz_atomic(path, arrays):
    """A deterministic .npz (fixed entry order and timestamps, so the same model gives the same
    bytes) written to a temporary file beside ``path`` and renamed over it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nertag-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, array in arrays.items():
                    buffer = io.BytesIO()
                    np.lib.format.write_array(buffer, np.asarray(array, order="C"),
                                              allow_pickle=False)
                    info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                    # text compresses well; weights hardly at all, and stored ones load faster
                    info.compress_type = (zipfile.ZIP_DEFLATED if array.dtype == np.uint8
                                          else zipfile.ZIP_STORED)
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, buffer.getvalue())
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def load_model(path):
    """Load and check a model file; anything that is not a nertag model of this format version
    is refused with a BadModelError naming the file. Never unpickles."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise BadModelError("no such model file", name)
    if os.path.isdir(name):
        raise BadModelError("is a directory, not a model file", name)
    try:
        npz = np.load(name, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise BadModelError("not a nertag model (a bare array, not an .npz)", name)
        with npz:
            missing = KEYS - set(npz.files)
            if missing:
                raise BadModelError(
                    f"not a nertag model (missing {', '.join(sorted(missing))})", name
                )
            arrays = {key: npz[key] for key in KEYS}
    except BadModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file may raise anything: all refused
        reason = f"not a readable .npz ({type(exc).__name__}: {exc})"
        if not _is_zip(name):
            reason = "not an .npz (not a zip archive)"
        elif "pickle" in str(exc):
            reason = "it holds Python objects, which nertag never loads"
        raise BadModelError(f"corrupt or foreign model file: {reason}", name) from None
    return _model_from_arrays(arrays, name)


def _is_zip(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _model_from_arrays(arrays, name):
    version = arrays["format_version"]
    if version.dtype.kind not in "iu" or version.shape != ():
        raise BadModelError("format_version is not an integer", name)
    if int(version) != FORMAT_VERSION:
        raise BadModelError(
            f"model format version {int(version)}, but this nertag reads version {FORMAT_VERSION}"
            " (retrain it with this nertag, or use the nertag that wrote it)",
            name,
        )
    try:
        meta = json.loads(_read_text(arrays["meta"], "meta", name))
    except ValueError:
        raise BadModelError("meta is not valid JSON", name) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BadModelError("not a nertag model (meta has no nertag format tag)", name)
    config = meta.get("config")
    if not isinstance(config, dict):
        raise BadModelError("meta has no config", name)
    features = _read_text(arrays["features"], "features", name).split("\n")
    tagset = _read_text(arrays["tagset"], "tagset", name).split("\n")
    _check_tagset(tagset, name)
    _check_quantized(arrays["Wax"], arrays["Wax_scale"], name)
    weights = LoadedWeights(arrays["Wax"], arrays["Wax_scale"])
    for key in WEIGHTS[1:]:
        array = arrays[key]
        if array.dtype not in (np.float16, np.float32, np.float64):
            raise BadModelError(f"{key} has dtype {array.dtype}, expected floats", name)
        weights[key] = np.ascontiguousarray(array, dtype=np.float32)
    hidden = weights["Waa"].shape[-1] if weights["Waa"].ndim == 3 else -1
    n_outputs = 1 if tuple(tagset) == BINARY_TAGSET else len(tagset)
    if hidden <= 0 or config.get("hidden") != hidden:
        raise BadModelError(f"Waa has shape {weights['Waa'].shape}, config says hidden="
                            f"{config.get('hidden')!r}", name)
    for key, shape in weight_shapes(len(features), hidden, n_outputs).items():
        found = (arrays["Wax"] if key == "Wax" else weights[key]).shape  # Wax not yet read
        if found != shape:
            raise BadModelError(
                f"{key} has shape {found}, expected {shape} for {len(features)} "
                f"features, hidden={hidden} and {n_outputs} outputs", name)
        # Wax is int8 times a scale a row: finite exactly when the scales are
        values = arrays["Wax_scale"] if key == "Wax" else weights[key]
        if not np.isfinite(values).all():
            raise BadModelError(f"{key} holds NaN or infinite values", name)
    if len(features) < N_TEMPLATES:
        raise BadModelError("feature vocabulary is too short", name)
    return Model(features, tagset, weights, config, meta.get("meta"))


def quantize_rows(W):
    """(n, m) float -> (n, m) int8 and (n,) float32 scales with W ~ q * scale[:, None]."""
    scale = np.abs(W).max(axis=1).astype(np.float32) / 127
    scale[scale == 0] = 1
    q = np.clip(np.rint(W / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def _check_quantized(q, scale, name):
    if q.dtype != np.int8 or q.ndim != 2:
        raise BadModelError(f"Wax has dtype {q.dtype} and {q.ndim} dimensions, expected 2-d int8",
                            name)
    if scale.dtype != np.float32 or scale.shape != (q.shape[0],):
        raise BadModelError(f"Wax_scale has shape {scale.shape} and dtype {scale.dtype}, "
                            f"expected ({q.shape[0]},) float32", name)


class LoadedWeights(MutableMapping):
    """A loaded model's weights: a dict of arrays whose Wax is dequantized from its int8 rows
    only when first read. Tagging reads just the rows of the strings it meets (quantized_rows),
    so a short ``nertag tag`` skips converting the whole table (32 MB for the default model)."""

    def __init__(self, wax_q, wax_scale):
        self._arrays = {}
        self.quantized = (wax_q, wax_scale)  # (n, 2H) int8, (n,) float32
        self._wax_pending = True  # Wax not yet converted (nor replaced, nor deleted)

    def __getitem__(self, key):
        if key == "Wax" and self._wax_pending:
            q, scale = self.quantized
            self._arrays[key] = q.astype(np.float32) * scale[:, None]
            self._wax_pending = False
        return self._arrays[key]

    def __setitem__(self, key, value):
        if key == "Wax":
            self._wax_pending = False
        self._arrays[key] = value

    def __delitem__(self, key):
        if key == "Wax" and self._wax_pending:
            self._wax_pending = False
            return
        del self._arrays[key]

    def __iter__(self):
        wax = ["Wax"] if "Wax" in self else []
        return iter(wax + [k for k in self._arrays if k != "Wax"])

    def __len__(self):
        return len(self._arrays) + self._wax_pending

    def __contains__(self, key):  # without reading the value, as Mapping's would
        return key in self._arrays or (key == "Wax" and self._wax_pending)

    @property
    def wax_read(self):
        return not self._wax_pending

    def quantized_rows(self, X):
        """input_sums(self["Wax"], X) without dequantizing all of Wax (the same values: each
        row is q * scale in float32 either way)."""
        table = _QuantizedRows(*self.quantized) if self._wax_pending else self["Wax"]
        return input_sums(table, X)


class _QuantizedRows:
    """Rows of an int8 table times their scales, converted to float32 only as indexed."""

    def __init__(self, q, scale):
        self.q, self.scale = q, scale

    def __getitem__(self, ids):
        rows = self.q[ids].astype(np.float32)
        rows *= self.scale[ids, None]
        return rows


def _read_text(array, key, name):
    if array.dtype != np.uint8 or array.ndim != 1:
        raise BadModelError(f"{key} is not UTF-8 text (dtype {array.dtype})", name)
    try:
        return array.tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise BadModelError(f"{key} is not valid UTF-8", name) from None


def _check_tagset(tagset, name):
    if tuple(tagset) == BINARY_TAGSET:
        return
    if not tagset or tagset[0] != OUTSIDE or len(set(tagset)) != len(tagset):
        raise BadModelError("tag set must start with O and hold no repeats", name)
    for tag in tagset[1:]:
        if tag[:2] not in ("B-", "I-") or len(tag) < 3:
            raise BadModelError(f"tag set holds {tag!r}, not a BIO tag", name)


# ------------------------------------------------------------------- NumPy forward pass


def input_sums(Wax, X):
    """Wax x<t> for multi-hot x<t>: (N, F) feature ids -> (N, 2H), a sum of F rows of Wax."""
    E = Wax[X[:, 0]]
    for f in range(1, X.shape[1]):
        E += Wax[X[:, f]]
    return E


def forward_probs_numpy(weights, starts, inputs, ids=None, logits=False, biased=False):
    """The network on NumPy, sentences of equal length stepped together: (N, K) probabilities
    (or with ``logits`` the logits Wya a<t> + by) from Wax x<t>, given as inputs (N, 2H), or as
    rows ``ids`` of (2, n, H) per-direction tables; with ``biased`` the inputs already hold
    Wax x<t> + ba.

    Sentences are sorted by length and cut into batches of at most BATCH_TOKENS padded tokens,
    so each time step is one (B, H) x (H, H) product and memory stays bounded."""
    Waa, ba, Wya, by = (weights[k] for k in WEIGHTS[1:5])
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
        B, T = valid.shape
        rows = (index if ids is None else ids[index]).T  # (T, B)
        lengths = valid.sum(axis=1)
        # the two directions are independent: the backward one runs on a second thread
        # (NumPy releases the GIL in take, matmul and tanh), the forward one here
        run = _second_thread().submit if B * T >= 4096 and not _SINGLE_THREADED else _run_now
        backward = run(_run_direction, inputs[1], rows, biases[1], WaaT[1],
                       range(T - 1, -1, -1), lengths if lengths.min() < T else None)
        A_fwd = _run_direction(inputs[0], rows, biases[0], WaaT[0], range(T), None)
        A_bwd = backward.result()
        # logits of every padded step (cheap: sentences in a group have similar lengths),
        # then the real tokens' rows; (T*B, K)
        out = A_fwd.reshape(T * B, H) @ WyaT[0]
        out += A_bwd.reshape(T * B, H) @ WyaT[1]
        out += by
        mask = valid.T.reshape(-1)  # (T*B,) in the order of out's rows
        out = out[mask]
        P[index.T.reshape(-1)[mask]] = out if logits else _probabilities(out)
    return P


_EXECUTOR = []
_SINGLE_THREADED = []


def set_single_threaded():
    """Run both directions on this thread (when other processes already use the cores)."""
    _SINGLE_THREADED.append(True)


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


# ------------------------------------------------------------------------------ decoding


def allowed_transitions(tagset):
    """(K+1, K) bool: row K is the start; I-X may only follow B-X or I-X (valid BIO only)."""
    K = len(tagset)
    allowed = np.ones((K + 1, K), dtype=bool)
    for j, tag in enumerate(tagset):
        if tag.startswith("I-"):
            allowed[:, j] = False
            for i, prev in enumerate(tagset):
                if prev[2:] == tag[2:]:
                    allowed[i, j] = True
    return allowed


def decode(P, starts, allowed):
    """Tag ids and their probabilities. Binary: threshold 0.5. Typed: Viterbi over log
    probabilities restricted to valid BIO sequences (sentences stepped together)."""
    if allowed is None:
        ids = (P[:, 0] >= 0.5).astype(np.int64)
        scores = np.where(ids == 1, P[:, 0], 1.0 - P[:, 0])
        return ids, scores
    ids = P.argmax(axis=1)
    bad = _invalid_sentences(ids, starts, allowed)
    if len(bad):  # Viterbi only for sentences whose best tags do not form valid BIO
        lengths = np.diff(starts)[bad]
        sub_starts = np.concatenate([[0], np.cumsum(lengths)])
        rows = np.concatenate([np.arange(starts[s], starts[s + 1]) for s in bad])
        ids[rows] = viterbi(np.log(np.maximum(P[rows], 1e-30)), sub_starts, allowed)
    return ids, P[np.arange(len(ids)), ids]


def _invalid_sentences(ids, starts, allowed):
    """Sentences where some transition of ``ids`` is not allowed."""
    K = allowed.shape[1]
    prev = np.empty_like(ids)
    prev[1:] = ids[:-1]
    prev[starts[:-1]] = K  # the start row
    bad_token = ~allowed[prev, ids]
    if not bad_token.any():
        return np.empty(0, dtype=np.int64)
    sentence_of = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    return np.unique(sentence_of[bad_token])


def decode_crf(emissions, starts, allowed, Wyy, scores=True):
    """CRF decoding: the best valid path under emissions + transition scores, and each chosen
    tag's marginal probability (None without ``scores``)."""
    transitions = np.where(allowed, Wyy, -np.inf)
    ids = viterbi(emissions, starts, allowed, transitions)
    if not scores:
        return ids, None
    marginals = crf_marginals(emissions, starts, transitions)
    return ids, marginals[np.arange(len(ids)), ids]


def crf_marginals(emissions, starts, transitions):
    """p(y<t> = k | sentence) under a linear-chain CRF, by scaled forward-backward (products
    of probabilities renormalised each step: no logarithms), sentences stepped together:
    (N, K) emissions, (K+1, K) transitions (-inf where not allowed) -> (N, K)."""
    N, K = emissions.shape
    out = np.zeros((N, K), dtype=np.float64)
    finite = transitions[np.isfinite(transitions)]
    shift = finite.max() if finite.size else 0.0  # cancels in the normalisation; no overflow
    M = np.exp(transitions.astype(np.float64) - shift)  # (K+1, K); 0 where not allowed
    step, step_t = M[:K], np.ascontiguousarray(M[:K].T)
    for _, valid, index in length_groups(starts):
        B, T = valid.shape
        if T == 0:
            continue
        E = emissions[index].astype(np.float64)  # (B, T, K)
        psi = np.exp(E - E.max(axis=2, keepdims=True))
        alpha = np.empty((B, T, K))
        c = np.empty((B, T))
        a = M[K] * psi[:, 0]
        for t in range(T):
            if t:
                a = (alpha[:, t - 1] @ step) * psi[:, t]
            c[:, t] = np.maximum(a.sum(axis=1), 1e-300)
            alpha[:, t] = a / c[:, t, None]
        beta = np.ones((B, T, K))
        for t in range(T - 2, -1, -1):
            b = ((psi[:, t + 1] * beta[:, t + 1]) @ step_t) / c[:, t + 1, None]
            beta[:, t] = np.where(valid[:, t + 1, None], b, 1.0)  # past the end: nothing
        out[index[valid]] = alpha[valid] * beta[valid]
    return out


def viterbi(logP, starts, allowed, transitions=None):
    """Best valid path of each sentence: (N, K) log-probs (or emissions) and optional
    (K+1, K) transition scores -> (N,) tag ids.

    Sentences of a length group are stepped together with the tags on the first axis, (K, B),
    so each step is K vectorised adds and maxima over contiguous rows. Back-pointers are not
    stored: the best predecessor is found again from the kept scores while tracing back (the
    same first-maximum rule, so the same path). Scores add up in the wider float type of the
    inputs: float64 for log-probabilities without transition scores (a float32 total over a
    long sentence would break near-ties by rounding)."""
    N, K = logP.shape
    penalty = np.where(allowed, 0.0 if transitions is None else transitions, -np.inf)
    dtype = np.result_type(logP.dtype, penalty.dtype)
    step = penalty[:K].astype(dtype)  # (K from, K to)
    ids = np.zeros(N, dtype=np.int64)
    for _, valid, index in length_groups(starts):
        B, T = valid.shape
        if T == 0:
            continue
        scores = logP[index.T].transpose(0, 2, 1).astype(dtype)  # (T, K, B)
        lengths = valid.sum(axis=1)
        delta = np.empty((T, K, B), dtype=dtype)  # best score of a path ending in k
        delta[0] = scores[0] + penalty[K].astype(dtype)[:, None]
        via = np.empty((K, B), dtype=dtype)
        for t in range(1, T):
            previous, new = delta[t - 1], delta[t]
            np.add(previous[0], step[0][:, None], out=new)
            for i in range(1, K):  # from tag i
                np.add(previous[i], step[i][:, None], out=via)
                np.maximum(new, via, out=new)
            new += scores[t]
            if t >= lengths.min():
                ended = t >= lengths  # a finished sentence keeps its scores
                new[:, ended] = previous[:, ended]
        path = np.empty((T, B), dtype=np.int64)
        path[T - 1] = delta[T - 1].argmax(axis=0)
        for t in range(T - 1, 0, -1):
            best = (delta[t - 1] + step[:, path[t]]).argmax(axis=0)
            path[t - 1] = np.where(t < lengths, best, path[t])  # past the end: its last tag
        ids[index[valid]] = path.T[valid]
    return ids


def entity_spans(tags, scores):
    """(start, end, type, score) for each entity; the score is the product of its tokens'
    probabilities: the model's probability of exactly that labelling of those tokens (None
    when ``scores`` is None)."""
    if tags.count(OUTSIDE) == len(tags):  # most sentences: no entity, found at C speed
        return []
    if scores is None:
        return [(s, e, t, None) for s, e, t in bio_spans(tags)]
    return [(s, e, t, math.prod(scores[s:e])) for s, e, t in bio_spans(tags)]


def default_model_path():
    """``models/default.npz`` beside the package, unless NERTAG_MODEL says otherwise."""
    env = os.environ.get("NERTAG_MODEL")
    if env:
        return env
    import site
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(os.path.dirname(here), "models", "default.npz"),  # a checkout
        os.path.join(sys.prefix, "share", "nertag", "models", "default.npz"),  # pip install .
        os.path.join(site.USER_BASE or "", "share", "nertag", "models", "default.npz"),  # --user
    ):
        if os.path.exists(candidate):
            return candidate
    return os.path.join(os.path.dirname(here), "models", "default.npz")


def today():
    """UTC date for model metadata; SOURCE_DATE_EPOCH fixes it for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = int(epoch) if epoch and epoch.isdigit() else time.time()
    return time.strftime("%Y-%m-%d", time.gmtime(stamp))
