"""Tagging on a Dask cluster: ``nertag tag --dask ADDRESS -i GLOB --output-dir DIR`` and
``tag_bag`` for a Dask bag of lines. Needs the extra: ``pip install 'nertag[dask]'``.

Each input file becomes pieces of about ``block_bytes`` cut at line ends (CoNLL input: after
blank lines, between sentences); each piece is tagged by a task on a worker and the outputs are
written in order, so a file's output has the bytes ``nertag tag -i FILE`` writes. A task is a
pure function of (file, byte span): when a worker dies, Dask runs its tasks again elsewhere,
and nothing is lost or written twice, because only this process writes, in order.

The model file's bytes go to the cluster once, as the result of a task that the scheduler can
run again (scattered data could not be remade: when the workers that held it died, every piece
failed with "lost data"); each worker process loads them once and keeps the model
(``_MODELS``) for every later task.

Nothing here is imported by ``import nertag`` or by the plain CLI: Dask is imported only here.
"""

import hashlib
import io
import os
import tempfile
import uuid
from dataclasses import dataclass

from .errors import BadInputError, NertagError

BLOCK_BYTES = 8 << 20  # a piece of a file: a task's work
LOCAL = "local"
CONNECT_TIMEOUT = "10s"  # to reach a scheduler

_MODELS = {}  # in each worker process: model digest -> loaded model
LOADS = {"count": 0}  # model loads in this process (the tests check: once a worker process)


@dataclass(frozen=True)
class ModelBlob:
    """A model file's bytes and their SHA-256, as they travel to the workers."""

    digest: str
    data: bytes

    @classmethod
    def read(cls, path=None):
        from .modelfile import default_model_path

        path = default_model_path() if path is None else os.fspath(path)
        with open(path, "rb") as f:
            data = f.read()
        return cls(hashlib.sha256(data).hexdigest(), data)


def worker_model(blob):
    """The model of ``blob``, loaded once in this process. load_model reads a path, so the
    bytes are written once to a file named by their digest."""
    model = _MODELS.get(blob.digest)
    if model is None:
        from .modelfile import load_model

        # a file of this process's own (a shared, predictable path could hold anything), read
        # whole into memory by load_model and then removed
        fd, path = tempfile.mkstemp(prefix="nertag-model-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob.data)
            model = load_model(path)
        finally:
            os.unlink(path)
        model.single_threaded = True  # one worker process a core: no helper thread
        _MODELS[blob.digest] = model
        LOADS["count"] += 1
    return model


# --------------------------------------------------------------------------- the tasks


@dataclass(frozen=True)
class PieceError:
    """A NertagError met by a task, returned (not raised: the client turns it into the CLI's
    one-line error, with the line counted from the start of the file)."""

    message: str
    where: str
    exit_code: int


def tag_piece(blob, url, name, span, input_format, output_format, encoding):
    """The output bytes of the byte ``span`` of the file at ``url`` (anything fsspec opens),
    exactly what ``nertag tag`` writes for those lines; ``name`` names the file in errors."""
    import fsspec

    from .streams import _needs_scores, _write_tagged, iter_tagged

    model = worker_model(blob)
    out = io.BytesIO()
    try:
        with fsspec.open(url, "rb") as stream:
            batches = iter_tagged(model, path=name, input_format=input_format, span=span,
                                  encoding=encoding, scores=_needs_scores(output_format),
                                  stream=stream)
            _write_tagged(model, out, batches, output_format)
    except NertagError as exc:
        return PieceError(exc.message, exc.where, exc.exit_code)
    except OSError as exc:
        return PieceError(f"cannot read: {exc.strerror or exc}", name, 1)
    return out.getvalue()


def _tag_lines(lines, blob, output_format):
    """A bag partition of lines -> its output records (``tag_bag``)."""
    from .formats import format_each
    from .streams import _needs_scores
    from .tagger import tag_texts

    model = worker_model(blob)
    lines = [line[:-1] if line.endswith("\n") else line for line in lines]
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    out = []
    for at in range(0, len(lines), 1000):
        out += format_each(output_format, tag_texts(model, lines[at:at + 1000],
                                                    _needs_scores(output_format)))
    return out


def tag_bag(bag, model=None, output_format="json"):
    """A Dask bag of lines (e.g. ``dask.bag.read_text(...)``; a line end is dropped) -> a bag
    of output records, one a line, each as ``nertag tag --format output_format`` writes it
    (its line end included), so ``"".join(result.compute())`` is the CLI's output (without the
    page header and footer of ``html``). ``model``: a model file path (default: the shipped
    one); its bytes go into the graph once."""
    import dask

    from .formats import FORMATTERS

    if output_format not in FORMATTERS:
        raise ValueError(f"output_format must be one of {sorted(FORMATTERS)}, "
                         f"not {output_format!r}")
    blob = ModelBlob.read(model)
    shared = dask.delayed(blob, pure=True, name=f"nertag-model-{blob.digest[:16]}")
    return bag.map_partitions(_tag_lines, shared, output_format)


# ----------------------------------------------------------------------- the client side


@dataclass
class InputFile:
    url: str  # what fsspec opens
    name: str  # how messages name it
    size: int
    output: str  # the output file's path


def find_inputs(pattern, output_dir, output_format):
    """The files of a path or glob (any fsspec URL), each with its output path in
    ``output_dir``: the same name with the format's suffix."""
    import fsspec

    from .formats import SUFFIXES

    try:
        fs, _, paths = fsspec.core.get_fs_token_paths(pattern)
    except (ValueError, ImportError, OSError) as exc:
        raise BadInputError(f"cannot open: {exc}", pattern) from None
    local = "file" in _protocols(fs)
    if not paths:
        raise BadInputError("no input file matches" if fsspec.core.has_magic(pattern)
                            else "no such file", pattern)
    inputs, outputs = [], {}
    for path in sorted(paths):
        name = path if local else fs.unstrip_protocol(path)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            raise BadInputError("no such file", name) from None
        if info["type"] == "directory":
            if fsspec.core.has_magic(pattern):
                continue
            raise BadInputError("is a directory, not a file to tag", name)
        stem = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
        output = os.path.join(output_dir, stem + SUFFIXES[output_format])
        if output in outputs:
            raise BadInputError(f"{outputs[output]} and {name} would both be written to "
                                f"{output}", pattern)
        if local and os.path.abspath(output) == os.path.abspath(path):
            raise BadInputError(f"the output {output} would replace its input", name)
        outputs[output] = name
        inputs.append(InputFile(fs.unstrip_protocol(path), name, info["size"], output))
    if not inputs:
        raise BadInputError("no input file matches", pattern)
    return inputs


def _protocols(fs):
    protocol = fs.protocol
    return set(protocol) if isinstance(protocol, (tuple, list)) else {protocol}


def piece_spans(url, size, conll, block_bytes=BLOCK_BYTES):
    """Byte spans ``(start, stop)`` covering a file of ``size`` bytes, each about
    ``block_bytes``, cut just after a line end (CoNLL: after a blank line)."""
    import fsspec

    from .streams import boundary_after

    cuts = [0]
    if size > block_bytes:
        with fsspec.open(url, "rb") as stream:
            at = block_bytes
            while at < size:
                cut = boundary_after(stream, at, conll)
                if cut is None or cut >= size:
                    break
                cuts.append(cut)
                at = cut + block_bytes
    return list(zip(cuts, cuts[1:] + [size]))


def absolute_where(error, name, url, span_start):
    """A task's error place (``name:line``, the line counted from its piece's start) as the
    line in the whole file."""
    where = error.where
    if where and span_start and where.startswith(name + ":"):
        line = where[len(name) + 1:]
        if line.isdigit():
            import fsspec

            with fsspec.open(url, "rb") as stream:
                before, left = 0, span_start
                while left:
                    chunk = stream.read(min(left, 1 << 22))
                    if not chunk:
                        break
                    before += chunk.count(b"\n")
                    left -= len(chunk)
            where = f"{name}:{before + int(line)}"
    error_type = BadInputError if error.exit_code == 1 else NertagError
    exc = error_type(error.message, where)
    exc.exit_code = error.exit_code
    return exc


def connect(address):
    """A Dask client of the scheduler at ``address``, or of a new LocalCluster (``local``:
    one single-threaded worker process a core). Returns (client, cluster or None)."""
    import logging

    from distributed import Client, LocalCluster

    if address == LOCAL:
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(address, timeout=CONNECT_TIMEOUT), None
    except (OSError, TimeoutError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise NertagError(f"cannot reach the Dask scheduler: {reason}", address) from None


def _same(blob):
    return blob


def _model_task(client, blob):
    """A future of the model's bytes that the scheduler recomputes if the workers holding it
    die (its task carries the bytes). The bytes make the graph large on purpose: Dask's
    warning about that is silenced."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return client.submit(_same, blob, key=f"nertag-model-{uuid.uuid4().hex[:12]}",
                             pure=False)


def tag_files(address, pattern, output_dir, model_path=None, input_format="text",
              output_format="inline", encoding="utf-8", block_bytes=BLOCK_BYTES, progress=None):
    """Tag every file of ``pattern`` on the Dask cluster at ``address`` (``local``: a
    LocalCluster started and stopped here), each into ``output_dir`` under its name with the
    format's suffix, written atomically (a temporary file, then a rename). ``progress``, if
    given, is called with (bytes done, bytes in all) after each piece is written. Returns the
    list of output paths."""
    from .formats import format_footer, format_header
    from .modelfile import default_model_path, load_model

    inputs = find_inputs(pattern, output_dir, output_format)
    path = default_model_path() if model_path is None else model_path
    types = load_model(path).types  # checked here, before any cluster: a bad model fails fast
    blob = ModelBlob.read(path)
    os.makedirs(output_dir, exist_ok=True)
    conll = input_format == "conll"
    pieces = [piece_spans(f.url, f.size, conll, block_bytes) for f in inputs]
    total, done = sum(f.size for f in inputs), 0
    client, cluster = connect(address)
    try:
        shared = _model_task(client, blob)
        futures, n, run = [], 0, uuid.uuid4().hex[:12]
        for f, spans in zip(inputs, pieces):
            futures.append([])
            for span in spans:
                futures[-1].append(client.submit(
                    tag_piece, shared, f.url, f.name, span, input_format, output_format,
                    encoding, key=f"nertag-piece-{run}-{n}", priority=-n))
                n += 1
        try:
            for f, spans, jobs in zip(inputs, pieces, futures):
                tmp = f.output + ".part"
                with open(tmp, "wb") as out:
                    out.write(format_header(output_format, types).encode("utf-8"))
                    for span, job in zip(spans, jobs):
                        result = job.result()
                        job.release()
                        if isinstance(result, PieceError):
                            raise absolute_where(result, f.name, f.url, span[0])
                        out.write(result)
                        done += span[1] - span[0]
                        if progress:
                            progress(done, total)
                    out.write(format_footer(output_format).encode("utf-8"))
                os.replace(tmp, f.output)
        except BaseException:
            client.cancel([job for jobs in futures for job in jobs])
            for f in inputs:
                if os.path.exists(f.output + ".part"):
                    os.remove(f.output + ".part")
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [f.output for f in inputs]
