"""Plumbing between the readers and the tagger: line batches read as they arrive (select on a
pipe), byte spans of a regular file (lseek, split offsets), and tagging a stream, a large file
in two forked processes. Output is written in batches, flushed after each.
"""

import os
import re
import shutil
import signal
import sys
import tempfile
from itertools import chain, islice

from .conll import (
    UTF16_BOMS,
    UTF16_MESSAGE,
    Sentence,
    close_unless_stdin,
    display_name,
    first_column,
    open_text,
    sentence_blocks,
)
from .errors import BadInputError, NertagError
from .formats import SCORED_FORMATS, format_footer, format_header, format_records
from .tagger import tag_sentences, tag_texts

READ_CHUNK = 1 << 20


def iter_line_batches(path, span=None, encoding="utf-8", stream=None):
    """Batches of lines from a file or stdin as soon as they arrive: ``(number of the first
    line, [lines])``, line ends removed. ``span=(start, stop)`` reads only those bytes of a
    regular file (``stop`` None: to the end); line numbers then count from the span's start.

    Each read takes what is available (up to READ_CHUNK bytes), so a file is read in large
    batches while an interactive pipe gets each line answered when it comes. Every read yields
    a batch, empty when it completed no line: one step never reads twice. Text to tag is
    decoded leniently: bytes that are not UTF-8 become lone surrogates, written back unchanged.
    ``stream``: a binary file already open (any seekable one for a span, e.g. an fsspec file)
    to read instead of opening ``path``, which then only names it in messages; it is left open.
    """
    name = display_name(path)
    given = stream
    if stream is None:
        stream = open_text(path) if span is None else open(_regular_file(path), "rb")
    read = getattr(stream, "read1", stream.read)  # read1: what is there, at most one syscall
    if span is not None:
        stream.seek(span[0])
        left = None if span[1] is None else span[1] - span[0]

        def read(n, raw=read):
            nonlocal left
            if left is None:
                return raw(n)
            chunk = raw(min(n, left)) if left > 0 else b""
            left -= len(chunk)
            return chunk

    parts = []  # bytes of a line still to be completed (a list: no quadratic joins)
    number = 1
    waiting = _more_waiting(stream) if span is None else None
    try:
        while True:
            try:
                chunk = read(READ_CHUNK)
                # a pipe gives at most its buffer (64 KiB) a read: while more is already
                # waiting, read on, so a fast producer is tagged in large batches
                while waiting is not None and chunk and len(chunk) < READ_CHUNK and waiting():
                    more = read(READ_CHUNK - len(chunk))
                    if not more:
                        break
                    chunk += more
            except OSError as exc:
                raise BadInputError(f"cannot read: {exc.strerror}", name) from None
            cut = chunk.rfind(b"\n")
            if chunk and cut < 0:
                parts.append(chunk)
                # no line completed: hand back control, so a caller with records to answer
                # is never kept waiting by a read for the rest of a line that may come late
                yield number, []
                continue
            complete = b"".join(parts) + chunk[: cut + 1]
            parts = [chunk[cut + 1:]]
            if not complete:
                break
            if number == 1 and complete.startswith(UTF16_BOMS) and not (span and span[0]):
                raise BadInputError(UTF16_MESSAGE, f"{name}:1")
            text = complete.decode(encoding, "surrogateescape")
            if number == 1 and text.startswith("\ufeff") and not (span and span[0]):
                text = text[1:]
            lines = text.split("\n")
            if lines[-1] == "":
                lines.pop()  # after the final line end
            if "\r" in text:
                lines = [line[:-1] if line.endswith("\r") else line for line in lines]
            yield number, lines
            number += len(lines)
            if not chunk:
                break
    finally:
        if given is None:
            close_unless_stdin(stream)


def _more_waiting(stream):
    """A function telling whether a read of ``stream`` would return at once, for a pipe, a
    socket or a terminal (select on its descriptor); None for anything else: a regular file
    (read in large batches anyway), or a stream whose readiness cannot be told."""
    import select
    import stat

    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        return None
    return lambda: bool(select.select([fd], [], [], 0)[0])


def _is_regular(stream):
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


def _regular_file(path):
    """The path to reopen for a byte span: the file itself, or the file stdin was redirected
    from."""
    return f"/proc/self/fd/{sys.stdin.fileno()}" if path == "-" else path


def regular_file_size(path):
    """Size in bytes when ``path`` (or stdin, for ``-``) is a regular file that can be read in
    parts, else None (a pipe, a terminal, a missing file)."""
    import stat

    try:
        if path == "-":
            st = os.fstat(sys.stdin.fileno())
            if os.lseek(sys.stdin.fileno(), 0, os.SEEK_CUR) != 0:
                return None  # someone read from it already: read it as a stream
        else:
            st = os.stat(path)
    except (OSError, ValueError, AttributeError):
        return None
    if not stat.S_ISREG(st.st_mode) or not os.path.exists(_regular_file(path)):
        return None
    return st.st_size


def split_offset(path, around, conll):
    """A byte offset near ``around`` where a second reader can start: just after a line end,
    or for CoNLL after a blank line (a sentence boundary). None if there is none after it."""
    with open(_regular_file(path), "rb") as stream:
        return boundary_after(stream, around, conll)


def boundary_after(stream, around, conll):
    """``split_offset`` in a seekable binary stream (a local file, or one fsspec opened)."""
    stream.seek(around)
    data = stream.read(1 << 22)
    marks = (b"\n\n", b"\n\r\n") if conll else (b"\n",)
    found = [data.find(m) for m in marks]
    found = [(at, len(m)) for at, m in zip(found, marks) if at >= 0]
    if not found:
        return None
    at, size = min(found)
    return around + at + size


def iter_conll_batches(path, span=None, encoding="utf-8", stream=None):
    """Batches of tag-less Sentences (token = first column, lines kept) from a CoNLL stream,
    each sentence yielded once its blank line (or the end) has arrived."""
    for blocks in _record_batches(path, stream, "conll", encoding, span):
        if blocks:
            yield conll_sentences(blocks)


def conll_sentences(blocks):
    """Tag-less Sentences of ``sentence_blocks``' ``(number of the first line, lines)``; the
    tokens of the whole batch are found in one pass (_first_columns), then cut a sentence."""
    tokens = _first_columns(list(chain.from_iterable(lines for _, lines in blocks)))
    sentences, at = [], 0
    for first, lines in blocks:
        sentences.append(Sentence(tokens[at:at + len(lines)], None, lines, first))
        at += len(lines)
    return sentences


_SPACE_IN_LINE = re.compile(r"[^\S\n]")  # whitespace other than a line end
_TAB_FIRST = re.compile(r"^([^\t\n]*)\t", re.MULTILINE)  # a line's text before its tab
_FIRST_FIELD = re.compile(r"^[^\S\n]*(\S+)", re.MULTILINE)  # a line's first field


def _first_columns(lines):
    """[first_column(line) for line in (non-blank) lines], by C-speed passes over the joined
    lines: each line itself when no line holds whitespace (a token a line), else the text
    before each line's tab when every line has one, else each line's first field when none
    has a tab. (A few lines with whitespace among many without are done one by one.)"""
    joined = "\n".join(lines)
    spaces = list(islice(_SPACE_IN_LINE.finditer(joined), len(lines) // 64 + 1))
    if len(spaces) <= len(lines) // 64:  # a token a line, but for a few lines
        firsts, line, at = list(lines), 0, 0
        for space in spaces:
            line += joined.count("\n", at, space.start())
            at = space.start()
            firsts[line] = first_column(lines[line])
        return firsts
    firsts = (_TAB_FIRST if "\t" in joined else _FIRST_FIELD).findall(joined)
    if len(firsts) == len(lines):  # one match a line
        return firsts
    return [first_column(line) for line in lines]  # some lines have a tab, some not


# a regular file at least this large is tagged by two processes, one a half
SPLIT_BYTES = 1 << 21


def iter_tagged(model, texts=None, path="-", input_format="text", span=None, encoding="utf-8",
                scores=True, stream=None):
    """Batches of TaggedText records: of ``texts`` if given, else of each line (or, for
    ``input_format="conll"``, each sentence) of ``path`` (or of the open ``stream``) as it
    arrives (of the byte ``span`` of a regular file, if given)."""
    if texts:
        yield tag_texts(model, list(texts), scores)
        return
    conll = input_format == "conll"
    for records in _record_batches(path, stream, input_format, encoding, span):
        if records:
            yield _tag_records(model, records, conll, scores)


def _tag_records(model, records, conll, scores):
    """TaggedText records of input records: CoNLL sentence blocks, or lines of raw text."""
    if conll:
        return tag_sentences(model, conll_sentences(records), scores)
    return tag_texts(model, records, scores)


def tag_stream(model, out, texts=None, path="-", input_format="text", output_format="inline",
               encoding="utf-8"):
    """Tag and write, flushing after every batch so a pipeline that stays open gets its answers.
    ``out`` is a binary stream; bytes of the input that were not UTF-8 are written back as they
    came. A large regular file is tagged in two halves by two processes (both cores), the
    second half's output following the first's. A format with a header and a footer (HTML)
    has the header written first and the footer last. Returns the number of records written."""
    _write_text(out, format_header(output_format, model.types))
    n = _tag_stream(model, out, texts, path, input_format, output_format, encoding)
    _write_text(out, format_footer(output_format))
    return n


def _write_text(out, text):
    if text:
        out.write(text.encode("utf-8"))
        out.flush()


def _tag_stream(model, out, texts, path, input_format, output_format, encoding):
    if not texts and hasattr(os, "fork"):
        size = regular_file_size(path)
        split = (split_offset(path, size // 2, input_format == "conll")
                 if size is not None and size >= SPLIT_BYTES else None)
        if split is not None and split < size:
            return _tag_in_two_processes(model, out, path, input_format, output_format, split,
                                         encoding)
    if texts:
        return _write_tagged(model, out, iter_tagged(model, texts, scores=_needs_scores(
            output_format)), output_format)
    return _tag_arriving(model, out, path, input_format, output_format, encoding)


def _needs_scores(output_format):
    return output_format in SCORED_FORMATS  # the others skip computing them


def _write_tagged(model, out, batches, output_format):
    n = 0
    for records in batches:
        out.write(formatted(output_format, records))
        out.flush()
        n += len(records)
    return n


def formatted(output_format, records):
    """The output bytes of TaggedText records (bytes of the input that were not UTF-8 written
    back as they came)."""
    return format_records(output_format, records).encode("utf-8", "surrogateescape")


# ------------------------------------------------------------- a stream tagged as it arrives

# a stream is tagged in jobs of about this many characters of input: a read batch (up to
# READ_CHUNK bytes) larger than one job is cut, so two processes can share it
JOB_CHARS = 1 << 17


class Job:
    """Consecutive input records (lines, or CoNLL sentence blocks) and, once tagged, their
    output bytes."""

    __slots__ = ("records", "output")

    def __init__(self, records):
        self.records = records
        self.output = None


def _tag_arriving(model, out, path, input_format, output_format, encoding):
    """Tag a stream (a pipe, a terminal, a file too small to split) in jobs, written in input
    order as soon as they and all before them are done. While input arrives faster than one
    job at a time (``cat file | nertag tag``), a forked helper process tags jobs too: it takes
    the oldest job not yet started whenever it is free, so the two share the work whatever
    else runs on the cores. Returns the number of records written."""
    stream = open_text(path)
    try:
        batches = _record_batches(path, stream, input_format, encoding)
        waiting = _more_waiting(stream)
        return _tag_jobs(model, out, batches, _ready_to_read(stream, waiting), waiting,
                         input_format, output_format)
    finally:
        close_unless_stdin(stream)


def _ready_to_read(stream, waiting):
    """A function telling whether reading the input now would return without waiting:
    ``waiting`` (``_more_waiting``'s select) for a pipe, a socket or a terminal; a regular file
    never waits; for anything else it cannot be told, and the answer is always no (so nothing
    read waits on a read)."""
    if waiting is not None:
        return waiting
    return _always if _is_regular(stream) else _never


def _always():
    return True


def _never():
    return False


def _tag_jobs(model, out, batches, ready, waiting, input_format, output_format):
    """``_tag_arriving`` of batches of records; ``ready()``: whether the next batch can be
    read without waiting; ``waiting``: the same for a pipe, a socket or a terminal, else None
    (tells input coming fast)."""
    tag_job = JobTagger(model, input_format, output_format)
    pending = []  # jobs read, in input order, not yet written
    helper = None
    n = 0
    exhausted = False
    try:
        while True:
            helper = _still_helping(helper)
            # take in what has arrived, a job ahead, so the helper never waits for the reader;
            # but never wait for input while jobs read are still to be answered (each step of
            # ``batches`` reads at most once: a partial line or sentence gives [])
            while not exhausted and _unstarted(pending, helper) < 2:
                if pending and not ready():
                    break
                records = next(batches, None)
                if records is None:
                    exhausted = True
                    break
                if not records:
                    continue
                chars = _characters(records, input_format)
                jobs = [Job(part) for part in _cut(records, chars)]
                pending += jobs
                if helper is None and _coming_fast(chars, waiting) and hasattr(os, "fork"):
                    helper = Helper(model, tag_job)  # input comes fast: both cores
                    jobs = [job for job in pending if job.output is None]
                if helper is not None:
                    helper.add(jobs)
            helper = _still_helping(helper)  # it may have died while input was awaited
            job = helper.take() if helper is not None else _first_unstarted(pending)
            if job is not None:
                job.output = tag_job(job.records)
            elif helper is not None and pending:
                helper.wait(pending[0])  # nothing left to start: the helper's turn
            elif exhausted:
                return n
            n += _write_done(out, pending)
    finally:
        if helper is not None:
            # every job written: the idle helper is let exit; else (an interruption, a closed
            # output) it is stopped at once
            helper.close(idle=exhausted and not pending)


def _still_helping(helper):
    """``helper``, or None once it has failed: then it is reaped and reported, and its jobs,
    still pending, are this process's to do."""
    if helper is not None and helper.failed:
        _carry_on_alone(helper)
        return None
    return helper


def _carry_on_alone(helper):
    """After a helper failed (killed, crashed, out of memory): reap it and say so; the caller
    tags its jobs itself, so nothing read is lost. A helper stopped by SIGINT or SIGTERM means
    nertag is being stopped: an interruption."""
    status = helper.close(idle=True)
    _raise_if_stopped(status)
    if os.WIFSIGNALED(status):
        how = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        how = f"failed (exit status {os.waitstatus_to_exitcode(status)})"
    sys.stderr.write(f"nertag: warning: the helper process {how}; tagging on in one "
                     "process\n")
    sys.stderr.flush()


def _unstarted(pending, helper):
    if helper is not None:
        return helper.unstarted()
    return sum(job.output is None for job in pending)


def _first_unstarted(pending):
    return next((job for job in pending if job.output is None), None)


def _write_done(out, pending):
    """Write the finished jobs at the head of ``pending`` (and drop them): the number of
    records written."""
    done = 0
    while done < len(pending) and pending[done].output is not None:
        done += 1
    if not done:
        return 0
    out.write(b"".join(job.output for job in pending[:done]))
    out.flush()
    n = sum(len(job.records) for job in pending[:done])
    del pending[:done]
    return n


def _record_batches(path, stream, input_format, encoding, span=None):
    """Batches of input records (of the byte ``span`` of a regular file, if given) as they
    arrive: lines, or for CoNLL sentence blocks ``(number of the first line, lines)``; one read
    a batch, so a batch may be empty (a partial line or sentence)."""
    batches = iter_line_batches(path, span, encoding, stream)
    if input_format == "conll":
        return sentence_blocks(batches, 0)
    return (lines for _, lines in batches)


def _characters(records, input_format):
    """Characters of a batch of records, line ends counted."""
    if input_format == "conll":
        return sum(len(line) + 1 for _, lines in records for line in lines)
    return sum(map(len, records)) + len(records)


def _coming_fast(chars, waiting):
    """Whether input arrives faster than one process tags it: a batch of more than one job,
    or of half a pipe buffer with more already waiting. (Not a whole buffer: a read returns at
    most one buffer, and a batch counts only its complete lines, in characters, so a full
    buffer almost never reached it and the helper started late, by chance, or not at all.)"""
    return chars >= 1.5 * JOB_CHARS or (chars >= PIPE_BUFFER // 2 and waiting is not None
                                        and waiting())


PIPE_BUFFER = 1 << 16


def _cut(records, chars):
    """A batch of records (of ``chars`` characters) in jobs of about JOB_CHARS characters
    each, records whole."""
    parts = max(1, min(len(records), round(chars / JOB_CHARS)))
    size = -(-len(records) // parts)
    return [records[at:at + size] for at in range(0, len(records), size)]


class JobTagger:
    """A job's records -> its output bytes: the same function in the reading process and in
    its helper."""

    def __init__(self, model, input_format, output_format):
        self.model = model
        self.conll = input_format == "conll"
        self.output_format = output_format
        self.scores = _needs_scores(output_format)

    def __call__(self, records):
        return formatted(self.output_format,
                         _tag_records(self.model, records, self.conll, self.scores))


class Helper:
    """A forked process tagging jobs beside this one. A courier thread here hands it the oldest
    job nobody has started as soon as it is free, and brings the output back. A job goes out
    and its output comes back through a temporary file shared by the two (one write and one
    read each way: no pipe-sized pieces, each of which would wait for the GIL); a pipe each way
    carries only their lengths."""

    def __init__(self, model, tag_job):
        import threading
        from collections import deque

        self.model = model
        self._single_threaded = model.single_threaded
        model.single_threaded = True  # two processes fill the two cores
        self._queue = deque()  # jobs not started, oldest first
        self._lock = threading.Condition()
        self._closed = False
        self._failed = False
        self._status = None  # the helper's wait status, once reaped
        self._shared = tempfile.TemporaryFile(prefix="nertag-")
        to_helper, from_parent = os.pipe()[::-1]
        from_helper, to_parent = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the helper: never returns
            os.close(to_helper)
            os.close(from_helper)
            _serve(tag_job, from_parent, to_parent, self._shared.fileno())
        os.close(from_parent)
        os.close(to_parent)
        self._to, self._from = to_helper, from_helper
        self._courier = threading.Thread(target=self._carry, name="nertag-courier",
                                         daemon=True)
        self._courier.start()

    def add(self, jobs):
        with self._lock:
            self._queue.extend(jobs)
            self._lock.notify_all()

    def unstarted(self):
        return len(self._queue)

    @property
    def failed(self):
        """Whether the helper is gone (or its answer was unreadable): the job it had is left
        untagged, for this process to do. Asked on every pass of the reader's loop, it also
        looks whether the process has ended, so that a helper killed while it had no job is
        noticed at once, not at the next job."""
        if not self._failed and self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = status
                with self._lock:
                    self._failed = True
                    self._lock.notify_all()
        return self._failed

    def take(self):
        """The oldest job nobody has started (now this process's), or None."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def wait(self, job):
        """Until the helper has done ``job``, or has failed (see ``failed``)."""
        with self._lock:
            while job.output is None and not self._failed:
                self._lock.wait()

    def _carry(self):
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
            try:
                output = _exchange(self._to, self._from, self._shared.fileno(),
                                   encode_records(job.records))
            except OSError:
                output = None
            with self._lock:
                job.output = output
                self._failed = output is None
                self._lock.notify_all()
            if output is None:
                return

    def close(self, idle=False):
        """Stop the courier and the helper, and clean up: the helper's wait status. ``idle``:
        the helper has no job (every one done, or it failed), so its job pipe is closed and it
        is given time to exit by itself (0, when well); else it is killed at once."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        try:
            if idle:
                self._courier.join()  # waiting for a job, or gone after a failure
                os.close(self._to)
                self._to = None
                return self._reap(patience=5.0)
            status = self._reap(patience=0.0)
            self._courier.join()  # a dead helper's pipes end whatever the courier was doing
            return status
        finally:
            for fd in (self._to, self._from):
                if fd is not None:
                    os.close(fd)
            self._shared.close()
            self.model.single_threaded = self._single_threaded

    def _reap(self, patience):
        """The helper's wait status once it has exited, killed after ``patience`` seconds."""
        import time

        if self._status is not None:  # reaped already (see ``failed``)
            return self._status
        deadline = time.monotonic() + patience
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            if time.monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                return os.waitpid(self.pid, 0)[1]
            time.sleep(0.005)


def encode_records(records):
    """A job's records as bytes for the helper: JSON in ASCII, so that every str (the lone
    surrogates of undecodable input bytes included) comes back exactly. Never a pickle: nertag
    runs none, not even its own."""
    import json

    return json.dumps(records).encode("ascii")


_LENGTH = 8  # bytes of a length on a pipe


def _exchange(to_helper, from_helper, shared, data):
    """Send a job's bytes to the helper and get its output's bytes back (see Helper)."""
    _pwrite_all(shared, data)
    os.write(to_helper, len(data).to_bytes(_LENGTH, "little"))
    size = _read_length(from_helper)
    if size is None:
        raise OSError("the helper ended")
    return _pread_all(shared, size)


def _serve(tag_job, jobs, results, shared):
    """The helper's life: each job's records read from the shared file, tagged, and the output
    written back in their place, until its input ends."""
    import json

    code = 1
    try:
        _helper_signals()
        while True:
            size = _read_length(jobs)
            if size is None:
                break
            output = tag_job(json.loads(_pread_all(shared, size)))
            _pwrite_all(shared, output)
            os.write(results, len(output).to_bytes(_LENGTH, "little"))
        code = 0
    except BrokenPipeError:
        code = 0  # the parent went away: nothing to report
    except NertagError as exc:
        _report(f"Error: helper process: {exc}")
    except Exception as exc:  # noqa: BLE001 - a child must report, then never return
        _report(f"Error: helper process: {type(exc).__name__}: {exc}")
    finally:
        os._exit(code)


def _report(message):
    """One line on stderr, from a forked child (no Python stream, which the parent shares)."""
    os.write(2, f"{message}\n".encode("utf-8", "replace"))


def _read_length(fd):
    data = b""
    while len(data) < _LENGTH:
        more = os.read(fd, _LENGTH - len(data))
        if not more:
            return None
        data += more
    return int.from_bytes(data, "little")


def _pwrite_all(fd, data):
    view = memoryview(data)
    at = 0
    while at < len(view):
        at += os.pwrite(fd, view[at:], at)


def _pread_all(fd, size):
    parts, at = [], 0
    while at < size:
        part = os.pread(fd, size - at, at)
        if not part:
            raise OSError("the shared file is short")
        parts.append(part)
        at += len(part)
    return b"".join(parts)


def _tag_in_two_processes(model, out, path, input_format, output_format, split, encoding):
    """The first ``split`` bytes tagged here, the rest by a forked child into a temporary file
    that is copied out afterwards (a pipe would stall the child until this half is done)."""
    # two processes already fill two cores; and a forked child must never hand work to the
    # parent's helper thread, which does not exist in the child
    model.single_threaded = True
    spill = tempfile.TemporaryFile(prefix="nertag-")
    pid = os.fork()
    if pid == 0:  # the child: never returns, never writes to the parent's stdout
        code = 1
        try:
            _helper_signals()
            batches = iter_tagged(model, path=path, input_format=input_format,
                                  span=(split, None), encoding=encoding,
                                  scores=_needs_scores(output_format))
            _write_tagged(model, spill, batches, output_format)
            spill.flush()
            code = 0
        except NertagError as exc:
            _report(f"Error: {exc}")
        finally:
            os._exit(code)
    try:
        n = _write_tagged(model, out, iter_tagged(model, path=path, input_format=input_format,
                                                  span=(0, split), encoding=encoding,
                                                  scores=_needs_scores(output_format)),
                          output_format)
        _, status = os.waitpid(pid, 0)
        pid = None
        _check_helper(status, "tagging the second half of the input failed",
                      display_name(path))
        spill.seek(0)
        shutil.copyfileobj(spill, out, 1 << 20)
        out.flush()
        return n
    finally:
        if pid is not None:  # interrupted, or the reader went away: stop the child too
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        spill.close()


def _helper_signals():
    """In a forked helper: Ctrl-C (sent to the whole process group) is the parent's to handle
    (it stops the helper); SIGTERM ends the helper at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _raise_if_stopped(status):
    """A helper stopped by SIGINT or SIGTERM means nertag is being stopped: an interruption
    (exit 130)."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGINT, signal.SIGTERM):
        raise KeyboardInterrupt


def _check_helper(status, message, where):
    """A helper's wait status: stopped by a signal, an interruption; any other failure is an
    error."""
    _raise_if_stopped(status)
    if status != 0:
        raise NertagError(message, where)


