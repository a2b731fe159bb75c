"""The model file: one ``.npz`` with no pickles, versioned and checked on load (every key, dtype
and shape against the hyperparameters), ``Wax`` stored as int8 rows with a float32 scale each,
written deterministically and atomically (a temporary file, fsynced, then renamed). Also the
training checkpoints' atomic writes and where the shipped model lives.

Version 2 adds what a model knows of words beyond its corpus. Word vectors: the weight ``Wv``
(D, 2H), and the vectors themselves, either named by checksum (the ones nertag ships, which
must then be the installed ones) or carried in the file (``vec_*``, from ``--vectors FILE``).
Name lists: carried in the file (``names_*``, single words and their lists' labels).
"""

import io
import json
import os
import tempfile
import time
import zipfile
from collections.abc import MutableMapping

import numpy as np

from .errors import BadModelError, MissingModelError
from .features import templates_for
from .model import BINARY_TAGSET, WEIGHTS, Model
from .nn import input_sums, weight_shapes
from .tags import OUTSIDE

FORMAT = "nertag"
FORMAT_VERSION = 2  # 2: word vectors (Wv, vec_*) and name lists (names_*)
# Wax is stored as int8 rows with a float32 scale a row (a quarter of the float32 size; the
# rounding error is below 0.4% of the row's largest weight); the other weights as float32
KEYS = frozenset(("format_version", "meta", "features", "tagset", "Wax_scale") + WEIGHTS)
VECTOR_PREFIX, NAMES_PREFIX = "vec_", "names_"  # arrays of carried vectors and name lists
SHIPPED = "shipped"  # a model's config["vectors"]["source"] for the vectors nertag ships


def save_model(model, path):
    """Write the model as one .npz (no pickles), replacing ``path`` atomically: a temporary
    file in the same folder, fsynced, then renamed over it."""
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "meta": _text_array(
            json.dumps(
                {"format": FORMAT, "config": model.config, "meta": model.meta}, sort_keys=True
            )
        ),
        "features": _text_array("\n".join(model.features)),
        "tagset": _text_array("\n".join(model.tagset)),
    }
    arrays["Wax"], arrays["Wax_scale"] = quantize_rows(model.weights["Wax"])
    for name in WEIGHTS[1:] + (("Wv",) if model.vectors is not None else ()):
        arrays[name] = model.weights[name].astype(np.float32)
    if model.vectors is not None and model.config["vectors"]["source"] != SHIPPED:
        arrays.update(model.vectors.save_arrays(VECTOR_PREFIX))
    if model.names is not None:
        arrays.update(model.names.to_arrays(NAMES_PREFIX))
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
                    # (so do the name lists' keys: inflating them would cost a cold start 60 ms)
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


def load_model(path, lazy=False):
    """Load and check a model file; anything that is not a nertag model of this format version
    is refused with a BadModelError naming the file. Never unpickles.

    The arrays are read into memory and their checksums checked. With ``lazy`` (a short-lived
    process tagging a few texts: ``nertag tag "..."``), the large ones are memory-mapped
    instead, unchecked, so a cold start reads only the rows of Wax its words need; the file must
    then not be overwritten in place while the model is used (nertag's own writes rename a new
    file over it, which is safe)."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise MissingModelError("no such model file", name)
    if os.path.isdir(name):
        raise BadModelError("is a directory, not a model file", name)
    from .knowledge import read_npz

    try:
        if _starts_with(name, b"\x93NUMPY"):
            raise BadModelError("not a nertag model (a bare array, not an .npz)", name)
        # stored members are memory-mapped: a short input reads the rows of Wax it meets
        arrays = read_npz(name, _is_model_key, mmap=lazy)
        missing = KEYS - set(arrays)
        if missing:
            raise BadModelError(f"not a nertag model (missing {', '.join(sorted(missing))})",
                                name)
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


def _is_model_key(key):
    return key in KEYS or key == "Wv" or key.startswith((VECTOR_PREFIX, NAMES_PREFIX))


def _is_zip(path):
    return _starts_with(path, b"PK\x03\x04")


def _starts_with(path, magic):
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
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
        weights[key] = np.array(array, dtype=np.float32)  # small: a writable copy
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
    vectors = _vectors_of(arrays, config, weights, hidden, name)
    names = _names_of(arrays, config, name)
    if len(features) < len(templates_for(names)):
        raise BadModelError("feature vocabulary is too short", name)
    return Model(features, tagset, weights, config, meta.get("meta"), vectors, names)


def _vectors_of(arrays, config, weights, hidden, name):
    """The word vectors a model was trained with (and its Wv checked), or None."""
    from . import knowledge

    info = config.get("vectors")
    if info is None:
        if "Wv" in arrays:
            raise BadModelError("holds Wv but its config names no word vectors", name)
        return None
    if not isinstance(info, dict) or "Wv" not in arrays:
        raise BadModelError("its config names word vectors, but it holds no Wv", name)
    if info.get("source") == SHIPPED:
        vectors = _shipped_vectors(info, name)
    else:
        try:
            vectors = knowledge.Vectors.from_arrays(arrays, VECTOR_PREFIX)
        except (knowledge.BadInputError, ValueError, TypeError, AttributeError) as exc:
            raise BadModelError(f"its word vectors cannot be read ({exc.args[0]})",
                                name) from None
    Wv = arrays["Wv"]
    if Wv.dtype != np.float32 or Wv.shape != (vectors.dim, 2 * hidden):
        raise BadModelError(f"Wv has shape {Wv.shape} and dtype {Wv.dtype}, expected "
                            f"({vectors.dim}, {2 * hidden}) float32", name)
    if not np.isfinite(Wv).all():
        raise BadModelError("Wv holds NaN or infinite values", name)
    weights["Wv"] = np.array(Wv)  # a writable copy of the mapped file
    return vectors


def _shipped_vectors(info, name):
    """The installed shipped vectors, if they are the ones the model was trained with (known
    by the manifest's checksum: the 19.5 MB table is not hashed at every start)."""
    from . import knowledge

    try:
        installed = knowledge.manifest()["tables"]["vectors.npz"]["sha256"]
    except (OSError, ValueError, KeyError):
        installed = None
    if installed is None or not os.path.exists(knowledge.VECTORS_PATH):
        raise BadModelError("it was trained with the word vectors that ship with nertag, and "
                            "they are not installed here (nertag/data/vectors.npz)", name)
    if installed != info.get("sha256"):
        raise BadModelError(
            f"it was trained with word vectors {str(info.get('sha256'))[:12]}..., but this "
            f"nertag ships {installed[:12]}... (retrain the model with this nertag, or tag with "
            "the nertag that trained it)", name)
    return knowledge.load_vectors()


def _names_of(arrays, config, name):
    from . import knowledge

    info = config.get("names")
    if info is None:
        return None
    try:
        return knowledge.NameTable.from_arrays(arrays, NAMES_PREFIX, info.get("sha256", ""))
    except (KeyError, ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise BadModelError(f"its name lists cannot be read ({exc})", name) from None


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
