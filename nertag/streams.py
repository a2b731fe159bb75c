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
from .formats import FORMATTERS, SCORED_FORMATS, format_footer, format_header
from .tagger import tag_sentences, tag_texts

READ_CHUNK = 1 << 20


def iter_line_batches(path, span=None, encoding="utf-8", stream=None):
    """Batches of lines from a file or stdin as soon as they arrive: ``(number of the first
    line, [lines])``, line ends removed. ``span=(start, stop)`` reads only those bytes of a
    regular file (``stop`` None: to the end); line numbers then count from the span's start.

    Each read takes what is available (up to READ_CHUNK bytes), so a file is read in large
    batches while an interactive pipe gets each line answered when it comes. Text to tag is
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
    """A function telling whether more input can be read at once without waiting, for a pipe;
    None for anything else (a file is read in large batches anyway)."""
    import select
    import stat

    try:
        fd = stream.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return lambda: bool(select.select([fd], [], [], 0)[0])


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
    for blocks in sentence_blocks(iter_line_batches(path, span, encoding, stream), 0):
        yield [Sentence(_first_columns(lines), None, lines, first)
               for first, lines in blocks]


_TAB_FIRST = re.compile(r"^([^\t\n]*)\t", re.MULTILINE)


def _first_columns(lines):
    """[first_column(line) for line in lines], by one C-speed pass over the joined lines when
    every line has a tab, or none has a tab and each holds one field."""
    joined = "\n".join(lines)
    if "\t" in joined:
        firsts = _TAB_FIRST.findall(joined)
        if len(firsts) == len(lines):  # one match a line: each line's text before its tab
            return firsts
    else:
        fields = joined.split()
        if len(fields) == len(lines):  # one field a line
            return fields
    return [first_column(line) for line in lines]


# a regular file at least this large is tagged by two processes, one a half
SPLIT_BYTES = 1 << 21


def iter_tagged(model, texts=None, path="-", input_format="text", span=None, encoding="utf-8",
                scores=True, stream=None):
    """Batches of TaggedText records: of ``texts`` if given, else of each line (or, for
    ``input_format="conll"``, each sentence) of ``path`` (or of the open ``stream``) as it
    arrives (of the byte ``span`` of a regular file, if given)."""
    if texts:
        yield tag_texts(model, list(texts), scores)
    elif input_format == "conll":
        for sentences in iter_conll_batches(path, span=span, encoding=encoding, stream=stream):
            yield tag_sentences(model, sentences, scores)
    else:
        for _, lines in iter_line_batches(path, span, encoding, stream):
            yield tag_texts(model, lines, scores)


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
    return _write_tagged(model, out, iter_tagged(model, texts, path, input_format,
                                                 encoding=encoding,
                                                 scores=_needs_scores(output_format)),
                         output_format)


def _needs_scores(output_format):
    return output_format in SCORED_FORMATS  # the others skip computing them


def _write_tagged(model, out, batches, output_format):
    formatter = FORMATTERS[output_format]
    n = 0
    for records in batches:
        out.write("".join(formatter(r) for r in records).encode("utf-8", "surrogateescape"))
        out.flush()
        n += len(records)
    return n


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
            os.write(2, f"Error: {exc}\n".encode("utf-8", "replace"))
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


def _check_helper(status, message, where):
    """A helper's wait status: a helper stopped by a signal means nertag is being stopped
    (an interruption, exit 130); any other failure is an error."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGINT, signal.SIGTERM):
        raise KeyboardInterrupt
    if status != 0:
        raise NertagError(message, where)


