"""Offline name knowledge: word vectors and name lists that ship in ``nertag/data/``.

NumPy only, no network, cheap to import: nothing is read until a table is asked for.

Word vectors (``vectors.npz``, written by ``tools/build_knowledge.py`` from GloVe 6B 50d)
    All 400,000 GloVe words (GloVe orders by corpus frequency) of at most 16 UTF-8 bytes
    (397,119), 4-bit-quantised with one float32 scale per row (``x ~= q * scale``, error <=
    scale / 2; see :func:`quantise4`). Arrays, all plain (no pickles): ``words`` the UTF-8 words
    as fixed-width bytes (``S16``), sorted; ``order`` (int32) the row of each sorted word;
    ``q4`` (n, d / 2) uint8, two 4-bit values a byte (or ``q`` (n, d) int8, as vectors carried
    in a model file are); ``scale`` (n,) float32; ``name`` (0-d bytes). A lookup encodes the
    query strings into the same dtype and bisects with ``np.searchsorted``: no dict of 400k
    words is ever built, and only the rows found are unpacked.

    ``Vectors.lookup`` tries, for each string, the first form found of: the lower-cased string;
    the same stripped of leading/trailing punctuation (quotes, brackets, ``.,;:!?#@*_~``...);
    that with every digit made ``0`` (GloVe keeps numbers verbatim, ``1990``, ``1,192``; ``0``,
    ``00``, ``0.00``... exist, so an unseen number falls back to a number of the same shape).

Name lists (``names.tsv``)
    UTF-8 text, one entry a line, sorted: ``entry<TAB>TYPE[,TYPE...]``. An entry is lower-cased,
    its words joined by one space, no word holding whitespace. Types: ``PER_FIRST``,
    ``PER_LAST`` (1990 US Census), ``LOC`` (GeoNames cities >= 15k people, countries, US states
    and counties), ``ORG`` (companies of stock indices), and ``COMMON``, a marker added to a
    single-word name that is also a common English word (see the build script's docstring for
    the cleaning rule: weak names that are common words were dropped, strong ones kept with
    ``COMMON``).

``KNOWLEDGE.json`` is the manifest: sources, versions, licences, credits, counts and the
sha256 of every table.
"""

import hashlib
import io
import json
import os
import re
import zipfile
import zlib

import numpy as np

from .errors import BadInputError

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
VECTORS_PATH = os.path.join(DATA_DIR, "vectors.npz")
NAMES_PATH = os.path.join(DATA_DIR, "names.tsv")
MANIFEST_PATH = os.path.join(DATA_DIR, "KNOWLEDGE.json")

MAX_NGRAM = 6
# characters stripped from both ends of a token by the vectors' second lookup form
PUNCT = "\"'`\u2018\u2019\u201c\u201d\u00ab\u00bb()[]{}<>.,;:!?#@*_~|\\/^&%$+=-"
_DIGIT = re.compile(r"\d")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest():
    """The shipped KNOWLEDGE.json as a dict."""
    with open(MANIFEST_PATH, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------- npz, our way

def npz_bytes(arrays):
    """A deterministic .npz (stored in key order, fixed timestamps, no pickles). Numbers are
    stored uncompressed, so that :func:`read_npz` can map them from the file instead of
    inflating them (a cold start reads a few rows of a 19.5 MB table); text is deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for key in sorted(arrays):
            member = io.BytesIO()
            array = np.asarray(arrays[key])
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = (zipfile.ZIP_STORED if array.ndim and array.dtype.kind in "iufS"
                                  else zipfile.ZIP_DEFLATED)
            info.external_attr = 0o644 << 16
            z.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()


# a deflated member larger than this is refused (they hold text: a model's feature list is a
# few MB), so a small hostile file cannot make a load allocate gigabytes
MAX_INFLATED = 256 << 20


def read_npz(path, keys=None, mmap=True):
    """The arrays of the .npz at ``path`` (those in ``keys``, a set or a test of a key, when
    given) without pickles.

    With ``mmap``, members stored uncompressed are memory-mapped: only the pages a lookup
    touches are read (a short input reads a few rows of a 19.5 MB table), and their checksums are
    not checked. A mapped file must not be overwritten in place while the arrays live (a rename
    over it is safe): for the tables that ship in the package. Without ``mmap``, every member
    is read into memory and its CRC-32 checked, as ``np.load`` does."""
    out = {}
    with open(path, "rb") as raw, zipfile.ZipFile(raw) as z:
        for info in z.infolist():
            key = info.filename[:-len(".npy")]
            wanted = keys is None or (keys(key) if callable(keys) else key in keys)
            if not info.filename.endswith(".npy") or not wanted:
                continue
            if info.compress_type != zipfile.ZIP_STORED:
                if info.file_size > MAX_INFLATED:
                    raise zipfile.BadZipFile(f"{info.filename} inflates to {info.file_size} "
                                             "bytes")
                with z.open(info) as member:  # checks the CRC-32 as it reads
                    out[key] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            out[key] = _stored_member(raw, info, key, mmap)
    return out


def _stored_member(raw, info, key, mmap):
    raw.seek(info.header_offset)
    local = raw.read(30)  # the local file header: its name and extra field lengths
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header of {info.filename}")
    start = (info.header_offset + 30 + int.from_bytes(local[26:28], "little")
             + int.from_bytes(local[28:30], "little"))
    raw.seek(start)
    version = np.lib.format.read_magic(raw)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(raw)
    if dtype.hasobject:
        raise ValueError(f"{key} holds Python objects (pickles), never loaded")
    offset = raw.tell()
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < 0 or offset - start + size != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename}: its shape does not fit its zip entry")
    order = "F" if fortran else "C"
    if mmap:
        if size == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(raw, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
    raw.seek(start)
    member = np.empty(info.file_size, dtype=np.uint8)  # the .npy header and the data
    if raw.readinto(memoryview(member)) != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename} is cut short")
    if zlib.crc32(member) != info.CRC:
        raise zipfile.BadZipFile(f"bad CRC-32 for {info.filename}")
    data = member[offset - start:]
    return np.ndarray(shape, dtype=dtype, buffer=data, order=order) if size else \
        np.zeros(shape, dtype=dtype)


def write_npz(path, arrays):
    data = npz_bytes(arrays)
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- vectors

def quantise(matrix):
    """(n, d) float -> (int8 q, float32 scale (n,)) with |x - q * scale| <= scale / 2."""
    matrix = np.asarray(matrix, dtype=np.float32)
    top = np.abs(matrix).max(axis=1) if matrix.size else np.zeros(len(matrix), np.float32)
    scale = (top / 127.0).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(matrix / safe[:, None]), -127, 127).astype(np.int8)
    return q, scale


def quantise4(matrix):
    """(n, d) float, d even -> (uint8 packed (n, d / 2), float32 scale (n,)): 4-bit rows,
    ``q`` in -7..7 stored as ``q + 8``, column 2j in the low nibble of byte j and 2j + 1 in the
    high one; |x - q * scale| <= scale / 2 with scale = max |x| / 7. Half the bytes of int8,
    for the 400k-word shipped table (cosine to the float rows: 0.994 on average)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] % 2:
        raise ValueError("4-bit rows need an even number of columns")
    top = np.abs(matrix).max(axis=1) if matrix.size else np.zeros(len(matrix), np.float32)
    scale = (top / 7.0).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = (np.clip(np.rint(matrix / safe[:, None]), -7, 7) + 8).astype(np.uint8)
    return (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8), scale


def unpack4(packed):
    """(n, d / 2) uint8 of :func:`quantise4` -> (n, d) int8 in -8..7."""
    packed = np.asarray(packed, dtype=np.uint8)
    q = np.empty((len(packed), 2 * packed.shape[1]), dtype=np.int8)
    q[:, 0::2] = (packed & 15).astype(np.int8) - 8
    q[:, 1::2] = (packed >> 4).astype(np.int8) - 8
    return q


def _encode(words):
    return [w.encode("utf-8", "surrogatepass") for w in words]


def _sorted_keys(words):
    """Sorted unique fixed-width keys and, for each, the row of its first occurrence."""
    raw = _encode(words)
    width = max((len(b) for b in raw), default=1) or 1
    keys = np.array(raw, dtype=f"S{width}")
    # a word ending in NUL bytes cannot be told apart from its stripped self: never a key
    usable = np.array([not b.endswith(b"\0") for b in raw], dtype=bool)
    rows = np.flatnonzero(usable)
    keys, first = np.unique(keys[rows], return_index=True)
    return keys, rows[first].astype(np.int32)


def _strip(s):
    return s.strip(PUNCT)


class Vectors:
    """A word-vector table: words in row order (most frequent first), rows int8 or 4-bit with
    a scale each, or float32. Build one with :func:`load_vectors`, a reader, :meth:`from_matrix` or
    :meth:`from_arrays`."""

    def __init__(self, name="", path=None, arrays=None, matrix=None):
        self.name = name
        self._path = path  # the .npz the arrays were mapped from (its checksum is the sha256)
        self._arrays = dict(arrays or {})
        self._matrix = matrix  # full-precision rows, when made from a text or .npy file
        self._words = None
        self._sha = None

    # -- construction
    @classmethod
    def from_matrix(cls, words, matrix, name=""):
        """In-memory vectors from words (row order) and an (n, d) float matrix; a repeated
        word keeps its first row."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or len(words) != len(matrix):
            raise ValueError("need one word per matrix row")
        v = cls(name, matrix=matrix)
        v._words = list(words)  # the sorted keys are made on first lookup
        return v

    @classmethod
    def from_arrays(cls, arrays, prefix="vec_", path=None, check_values=True):
        """Vectors from :meth:`save_arrays`' dict (e.g. the arrays of a model file, or of a
        table file at ``path``), checked: shapes and types, and with ``check_values`` the
        values too (row numbers in range, finite scales), which reads the whole of two arrays:
        3 MB of the shipped table, 0.24 s with a cold page cache, so its load skips them (a
        cold start reads a few pages; the table is known by the manifest's checksum)."""
        if prefix + "q4" in arrays and prefix + "q" in arrays:
            raise BadInputError("word-vector arrays hold both int8 and 4-bit rows")
        rows_key = "q4" if prefix + "q4" in arrays else "q"
        try:
            got = {k: np.asarray(arrays[prefix + k])
                   for k in ("words", "order", rows_key, "scale")}
            name = arrays.get(prefix + "name", np.bytes_(b""))
        except KeyError as err:
            raise BadInputError(f"no word-vector array {err}") from None
        q, scale, words, order = got[rows_key], got["scale"], got["words"], got["order"]
        name = np.asarray(name)
        row_dtype = np.uint8 if rows_key == "q4" else np.int8
        if (q.ndim != 2 or q.dtype != row_dtype or scale.shape != (len(q),)
                or scale.dtype != np.float32
                or words.ndim != 1 or words.shape != order.shape or words.dtype.kind != "S"
                or order.dtype.kind not in "iu"
                or name.shape != () or name.dtype.kind != "S"):
            raise BadInputError("word-vector arrays of the wrong shape or type")
        if check_values and (not np.isfinite(scale).all() or order.size and (
                order.min() < 0 or order.max() >= len(q))):
            raise BadInputError("word-vector arrays of the wrong values")
        try:
            return cls(name.item().decode("utf-8"), path=path, arrays=got)
        except UnicodeDecodeError:
            raise BadInputError("the word vectors' name is not UTF-8") from None

    def save_arrays(self, prefix="vec_"):
        """Plain arrays (quantised) to store in a model file; :meth:`from_arrays` reads them."""
        if "q4" in self._arrays:  # a 4-bit table is carried as it is, never unpacked
            rows = {prefix + "q4": self._arrays["q4"], prefix + "scale": self._array("scale")}
        else:
            q, scale = self._quantised()
            rows = {prefix + "q": q, prefix + "scale": scale}
        return {prefix + "words": self._array("words"), prefix + "order": self._array("order"),
                **rows,
                prefix + "name": np.bytes_(self.name.encode("utf-8"))}

    def four_bit(self):
        """The same words with 4-bit rows (:func:`quantise4` of the full-precision rows), as
        the shipped table is stored."""
        q4, scale = quantise4(self._matrix)
        return Vectors(self.name, arrays={"words": self._array("words"),
                                          "order": self._array("order"), "q4": q4,
                                          "scale": scale})

    def save(self, path):
        """Write a .npz like the shipped one; returns its sha256."""
        arrays = {k[len("vec_"):]: v for k, v in self.save_arrays().items()}
        return write_npz(path, arrays)

    # -- access
    def _array(self, key):
        if key not in self._arrays:
            if key in ("words", "order") and self._words is not None:
                self._arrays["words"], self._arrays["order"] = _sorted_keys(self._words)
            else:
                raise KeyError(key)
        return self._arrays[key]

    def _quantised(self):
        """(int8 q (n, d), float32 scale (n,)); a 4-bit table is unpacked (whole)."""
        if "q4" in self._arrays:
            return unpack4(self._arrays["q4"]), self._array("scale")
        if "q" not in self._arrays and self._matrix is not None:
            self._arrays["q"], self._arrays["scale"] = quantise(self._matrix)
        return self._array("q"), self._array("scale")

    def _rows(self, picked):
        """(k,) row numbers -> (k, d) int8 q of just those rows."""
        if "q4" in self._arrays:
            return unpack4(self._arrays["q4"][picked])
        return self._array("q")[picked]

    def __len__(self):
        return len(self._matrix) if self._matrix is not None else len(self._array("scale"))

    @property
    def dim(self):
        if self._matrix is not None:
            return self._matrix.shape[1]
        if "q4" in self._arrays:
            return 2 * self._arrays["q4"].shape[1]
        return self._array("q").shape[1]

    @property
    def words(self):
        """Words in row order (decoded on first use)."""
        if self._words is None:
            keys, order = self._array("words"), self._array("order")
            words = [""] * len(self)
            for key, row in zip(keys.tolist(), order.tolist()):
                words[row] = key.decode("utf-8", "surrogatepass")
            self._words = words
        return self._words

    @property
    def sha256(self):
        """sha256 of the file it was loaded from, else of the .npz that :meth:`save` writes."""
        if self._sha is None:
            if self._path is not None:
                self._sha = sha256_file(self._path)
            else:
                arrays = {k[len("vec_"):]: v for k, v in self.save_arrays().items()}
                self._sha = hashlib.sha256(npz_bytes(arrays)).hexdigest()
        return self._sha

    def matrix(self):
        """(n, dim) float32 rows (dequantised when stored as int8 or 4-bit)."""
        if self._matrix is not None:
            return self._matrix
        q, scale = self._quantised()
        return np.multiply(q, scale[:, None], dtype=np.float32)

    def unit_rows(self, rows):
        """(n,) rows (-1 for none) -> (n, dim) float32 vectors scaled to unit length, zeros for
        -1. Only the rows asked for are dequantised (a short input never reads the rest)."""
        rows = np.asarray(rows, dtype=np.int64)
        found = rows >= 0
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        if found.any():
            picked = rows[found]
            if self._matrix is not None:
                values = self._matrix[picked]
            else:
                values = self._rows(picked).astype(np.float32)
                values *= self._array("scale")[picked, None]
            norms = np.sqrt((values * values).sum(axis=1, keepdims=True))
            out[found] = values / np.maximum(norms, np.float32(1e-12))
        return out

    def _find(self, strings):
        keys, order = self._array("words"), self._array("order")
        out = np.full(len(strings), -1, dtype=np.int64)
        if not len(strings) or not len(keys):
            return out
        raw = _encode(strings)
        width = keys.dtype.itemsize
        ok = np.array([0 < len(b) <= width and not b.endswith(b"\0") for b in raw], dtype=bool)
        query = np.array(raw, dtype=f"S{width}")  # too long ones are cut: masked by ok
        at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        hit = ok & (keys[at] == query)
        out[hit] = order[at[hit]]
        return out

    def lookup(self, strings):
        """Row of each string, or -1: the first found of the string as written (vectors with
        capitals: word2vec, fastText), its lower-cased form (GloVe is lower-case), that
        stripped of outer punctuation, that with digits made ``0``. Vectorised: one bisection
        per form."""
        written = [str(s) for s in strings]
        strings = [s.lower() for s in written]
        rows = np.full(len(strings), -1, dtype=np.int64)
        cased = [i for i, (w, s) in enumerate(zip(written, strings)) if w != s]
        if cased:
            rows[cased] = self._find([written[i] for i in cased])
        miss = np.flatnonzero(rows < 0)
        if miss.size:
            rows[miss] = self._find([strings[i] for i in miss])
        for normalise in (_strip, lambda s: _DIGIT.sub("0", _strip(s))):
            miss = np.flatnonzero(rows < 0)
            if not miss.size:
                break
            forms = [normalise(strings[i]) for i in miss]
            changed = [j for j, i in enumerate(miss) if forms[j] and forms[j] != strings[i]]
            if changed:
                found = self._find([forms[j] for j in changed])
                rows[miss[changed]] = found
        return rows


def load_vectors(path=None):
    """The shipped GloVe slice, or a .npz written by :meth:`Vectors.save`. The tables are
    memory-mapped (read_npz): a lookup reads only the pages it touches."""
    path = VECTORS_PATH if path is None else os.fspath(path)
    try:
        arrays = read_npz(path, {"words", "order", "q", "q4", "scale", "name"})
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise BadInputError(f"cannot read word vectors: {err}", path) from None
    if not ({"words", "order", "scale"} <= set(arrays) and ({"q", "q4"} & set(arrays))):
        raise BadInputError("not a word-vector table", path)
    try:  # the checks of a model file's vectors; the shipped table's values go unread
        return Vectors.from_arrays(arrays, prefix="", path=path,
                                   check_values=path != VECTORS_PATH)
    except BadInputError as err:
        raise BadInputError(str(err), path) from None


def _vector_rows(lines, name, dim=None, limit=None):
    """(word, values) rows of word2vec/GloVe text lines, numbered from 1."""
    words, rows = [], []
    for number, line in lines:
        parts = line.rstrip().split(" ")
        if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            dim = int(parts[1])
            continue
        if not line.strip():
            continue
        if dim is None:
            dim = len(parts) - 1
        if len(parts) != dim + 1 or dim < 1:
            raise BadInputError(f"expected a word and {dim} numbers, found {len(parts)} fields",
                                f"{name}:{number}")
        try:
            values = [float(v) for v in parts[1:]]
        except ValueError:
            raise BadInputError("a vector value is not a number", f"{name}:{number}") from None
        if not all(np.isfinite(values)):
            raise BadInputError("a vector holds NaN or infinity", f"{name}:{number}")
        words.append(parts[0])
        rows.append(values)
        if limit and len(words) >= limit:
            break
    if not words:
        raise BadInputError("no word vectors found", name)
    return words, np.asarray(rows, dtype=np.float32)


def read_vectors_text(path, limit=None):
    """word2vec/GloVe text vectors (optional ``count dim`` header, then ``word v1 ... vd`` a
    line; ``-`` is stdin), at most ``limit`` words (the first: such files are sorted by
    frequency). Malformed input raises BadInputError naming ``file:line``."""
    from .conll import display_name, iter_lines, opened

    name = display_name(path)
    with opened(path) as stream:
        words, matrix = _vector_rows(iter_lines(stream, name), name, limit=limit)
    return Vectors.from_matrix(words, matrix, name=os.path.basename(name))


def read_vectors_npy(npy_path, words_path):
    """A (n, d) ``.npy`` matrix and a words file (UTF-8, one word a line, row order)."""
    try:
        matrix = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise BadInputError(f"cannot read a matrix: {err}", str(npy_path)) from None
    if matrix.ndim != 2 or matrix.dtype.kind not in "fi" or matrix.shape[1] < 1:
        raise BadInputError(f"expected an (n, d) number matrix, found shape {matrix.shape} "
                            f"of {matrix.dtype}", str(npy_path))
    words = []
    try:
        with open(words_path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                word = line.rstrip("\r\n")
                if not word or word != word.strip():
                    raise BadInputError("a word is empty or has spaces around it",
                                        f"{words_path}:{number}")
                words.append(word)
    except UnicodeDecodeError:
        raise BadInputError("not UTF-8 text", f"{words_path}:{len(words) + 1}") from None
    except OSError as err:
        raise BadInputError(f"cannot read words: {err}", str(words_path)) from None
    if len(words) != len(matrix):
        raise BadInputError(f"{len(words)} words for {len(matrix)} matrix rows",
                            f"{words_path}:{len(words)}")
    matrix = matrix.astype(np.float32)
    if not np.isfinite(matrix).all():
        raise BadInputError("a vector holds NaN or infinity", str(npy_path))
    return Vectors.from_matrix(words, matrix, name=os.path.basename(str(npy_path)))


# ---------------------------------------------------------------------------- gazetteer

class Gazetteer:
    """Name lists: lower-cased entries of 1..MAX_NGRAM words -> tuple of types."""

    def __init__(self, entries, sha256=None):
        self.entries = entries  # "w1 w2" -> ("LOC", "ORG")
        self._table = None  # the walk table of _walk(), made on first use
        self._sha = sha256
        self._features = {}

    @property
    def max_n(self):
        return max((len(e.split(" ")) for e in self.entries), default=0)

    def _walk(self):
        """key -> (types or None, whether longer entries start with it), for every entry and
        every proper prefix of a multi-word entry: a match walks forward from a start only while
        its key is such a prefix. Built on first use."""
        if self._table is None:
            walk = {}
            for entry, types in self.entries.items():
                words = entry.split(" ")
                for k in range(1, len(words)):
                    prefix = " ".join(words[:k])
                    node = walk.get(prefix)
                    walk[prefix] = (node[0] if node else None, True)
                node = walk.get(entry)
                walk[entry] = (types, node[1] if node else False)
            self._table = walk
        return self._table

    @classmethod
    def from_lines(cls, lines, name="names.tsv"):
        entries, kinds = {}, {}
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            entry, _, types = line.partition("\t")
            got = kinds.get(types)
            if got is None:
                got = kinds[types] = tuple(sorted(set(types.split(",")))) if types else ()
            words = entry.split(" ")
            if (not got or len(words) > MAX_NGRAM or entry != entry.lower()
                    or len(entry.split()) != len(words)):
                raise BadInputError("expected 'entry<TAB>TYPE[,TYPE]' with a lower-case entry "
                                    f"of 1 to {MAX_NGRAM} words", f"{name}:{number}")
            entries[entry] = got
        return cls(entries)

    def to_text(self):
        return "".join(f"{e}\t{','.join(t)}\n" for e, t in sorted(self.entries.items()))

    @property
    def sha256(self):
        """sha256 of the canonical names.tsv text (the shipped file's, when it is loaded)."""
        if self._sha is None:
            self._sha = hashlib.sha256(self.to_text().encode("utf-8")).hexdigest()
        return self._sha

    @property
    def types(self):
        return sorted({t for ts in self.entries.values() for t in ts})

    def to_arrays(self, prefix="gaz_"):
        """Plain arrays for a model file: entries (UTF-8 bytes), types (comma-joined bytes)."""
        items = sorted(self.entries.items())
        entries = [e.encode("utf-8") for e, _ in items]
        types = [",".join(t).encode("utf-8") for _, t in items]
        return {prefix + "entries": np.array(entries, f"S{max(map(len, entries), default=1)}"),
                prefix + "types": np.array(types, f"S{max(map(len, types), default=1)}")}

    @classmethod
    def from_arrays(cls, arrays, prefix="gaz_"):
        try:
            entries, types = arrays[prefix + "entries"], arrays[prefix + "types"]
        except KeyError as err:
            raise BadInputError(f"no gazetteer array {err}") from None
        lines = (f"{e.decode('utf-8')}\t{t.decode('utf-8')}"
                 for e, t in zip(np.asarray(entries).tolist(), np.asarray(types).tolist()))
        return cls.from_lines(lines, name="gazetteer arrays")

    def token_types(self, strings):
        """Types of each string as a single-word entry (lower-cased), () when none."""
        get = self.entries.get
        return [get(s.lower(), ()) for s in strings]

    def _position_features(self, types, n):
        key = (types, n)
        got = self._features.get(key)
        if got is None:
            if n == 1:
                got = [[f"{t}-S" for t in types]]
            else:
                got = ([[f"{t}-B" for t in types]] + [[f"{t}-I" for t in types]] * (n - 2)
                       + [[f"{t}-E" for t in types]])
            self._features[key] = got
        return got

    def match(self, tokens):
        """Per token, the features of the longest entries (over 1..max_n consecutive tokens,
        lower-cased) that cover it: ``TYPE-B``/``-I``/``-E`` for the first, inner and last
        word of a multi-word entry, ``TYPE-S`` for a single word; entries of equal length
        covering a token pool their features (sorted). A token that is empty or holds
        whitespace never matches. Only tokens that start some entry are tried."""
        low = [t.lower() for t in tokens]
        n_tok = len(low)
        walk = self._walk()
        get = walk.get
        out = [[] for _ in range(n_tok)]
        best = {}  # token -> length of the longest match covering it so far
        for i, key in enumerate(low):
            node = get(key)
            if node is None or key.split() != [key]:
                continue
            found = 1 if node[0] else 0
            j = i + 1
            while node[1] and j < n_tok:
                word = low[j]
                node = get(key + " " + word)
                if node is None or word.split() != [word]:
                    break
                key = key + " " + word
                j += 1
                if node[0]:
                    found = j - i
            if not found:
                continue
            types = walk[" ".join(low[i:i + found])][0]
            for p, feats in enumerate(self._position_features(types, found), i):
                have = best.get(p, 0)
                if found > have:
                    best[p] = found
                    out[p] = list(feats)
                elif found == have:
                    out[p] = sorted(set(out[p]) | set(feats))
        return out


class NameTable:
    """Single-word name-list membership, for a model's features: which lists a lower-cased word
    is an entry of (``"LOC+PER_LAST"``, ``""`` for none). Sorted fixed-width keys looked up by
    bisection, like the vectors' words: loading one builds no dict (tagging starts fast)."""

    def __init__(self, keys, kinds, labels, sha256=""):
        self.keys = keys  # (n,) S bytes, sorted
        self.kinds = kinds  # (n,) uint16: index into labels
        self.labels = labels  # list of str, labels[0] == "" (no list)
        self.sha256 = sha256  # of the name lists it was made from

    MAX_BYTES = 20  # longer single words (rare) are left out: keys stay narrow

    @classmethod
    def from_gazetteer(cls, gazetteer):
        single = sorted((e, "+".join(t)) for e, t in gazetteer.entries.items()
                        if " " not in e and len(e.encode("utf-8")) <= cls.MAX_BYTES)
        labels = [""] + sorted({label for _, label in single})
        index = {label: i for i, label in enumerate(labels)}
        keys, first = _sorted_keys([e for e, _ in single])
        kinds = np.array([index[single[i][1]] for i in first.tolist()], dtype=np.uint16)
        return cls(keys, kinds, labels, gazetteer.sha256)

    def __len__(self):
        return len(self.keys)

    def lookup(self, strings):
        """The label of each string (lower-cased), ``""`` when it is in no list."""
        keys = self.keys
        if not len(strings) or not len(keys):
            return [""] * len(strings)
        raw = _encode([str(s).lower() for s in strings])
        width = keys.dtype.itemsize
        query = np.array(raw, dtype=f"S{width}")
        at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        ok = np.array([0 < len(b) <= width and not b.endswith(b"\0") for b in raw], dtype=bool)
        hit = ok & (keys[at] == query)
        kinds = np.where(hit, self.kinds[at], 0)
        labels = self.labels
        return [labels[k] for k in kinds.tolist()]

    def to_arrays(self, prefix="names_"):
        return {prefix + "keys": self.keys, prefix + "kinds": self.kinds,
                prefix + "labels": np.frombuffer("\n".join(self.labels).encode("utf-8"),
                                                 dtype=np.uint8)}

    @classmethod
    def from_arrays(cls, arrays, prefix="names_", sha256=""):
        """A NameTable from :meth:`to_arrays`' arrays; ValueError when they do not fit. The
        order of the keys is checked in full when they are in memory, on a sample when they are
        mapped from a file (a cold start reads a few pages, not 3 MB; such a load checks no
        checksum either)."""
        step = 97 if isinstance(arrays[prefix + "keys"], np.memmap) else 1
        keys, kinds = np.asarray(arrays[prefix + "keys"]), np.asarray(arrays[prefix + "kinds"])
        labels_raw = np.asarray(arrays[prefix + "labels"])
        if labels_raw.dtype != np.uint8 or labels_raw.ndim != 1:
            raise ValueError("name-list labels are not UTF-8 text")
        labels = labels_raw.tobytes().decode("utf-8").split("\n")
        if (keys.ndim != 1 or keys.dtype.kind != "S" or kinds.shape != keys.shape
                or kinds.dtype.kind not in "iu" or labels[0] != ""
                or kinds.size and (kinds.min() < 0 or kinds.max() >= len(labels))
                or keys.size > 1 and not (keys[1::step] > keys[:-1:step]).all()):
            raise ValueError("name-list arrays of the wrong shape, type or order")
        return cls(keys, kinds.astype(np.uint16), labels, sha256)


def load_gazetteer(path=None):
    """The shipped name lists, or a names.tsv of the same form."""
    path = NAMES_PATH if path is None else os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInputError(f"cannot read name lists: {err}", path) from None
    gaz = Gazetteer.from_lines(text.splitlines(), name=path)
    gaz._sha = hashlib.sha256(data).hexdigest()
    return gaz
