"""Applying a model: tag texts or a stream, and score a corpus. The CLI calls one function
of this module per command (besides training)."""

import os
import shutil
import signal
import sys
import tempfile

from .corpus import (
    display_name,
    iter_conll_batches,
    iter_line_batches,
    read_predictions,
    regular_file_size,
    sentences_of_rows,
    split_offset,
)
from .errors import NertagError
from .formats import FORMATTERS, SCORED_FORMATS, TaggedText
from .metrics import Scorer, score
from .model import set_single_threaded
from .tags import binary_to_bio, map_types, to_binary
from .text import tokenize_lazily


def tag_texts(model, texts, scores=True):
    """Raw texts (one record each) -> TaggedText records (without ``scores``, their scores
    are None)."""
    tokenized = [tokenize_lazily(text) for text in texts]  # offsets kept when computed
    results = model.tag([tokens for tokens, _, _ in tokenized], scores)
    return [TaggedText(text, tokens, tags, scores, binary_model=model.binary, starts=starts,
                       ends=ends)
            for text, (tokens, starts, ends), (tags, scores) in zip(texts, tokenized, results)]


def tag_sentences(model, sentences, scores=True):
    """CoNLL sentences (tokens given) -> TaggedText records; the text is the tokens joined by
    single spaces and the input rows are kept."""
    results = model.tag([s.tokens for s in sentences], scores)
    return [TaggedText(" ".join(s.tokens), s.tokens, tags, scores, rows=s.rows,
                       binary_model=model.binary)
            for s, (tags, scores) in zip(sentences, results)]


# a regular file at least this large is tagged by two processes, one a half
SPLIT_BYTES = 1 << 21


def iter_tagged(model, texts=None, path="-", input_format="text", span=None, encoding="utf-8",
                scores=True):
    """Batches of TaggedText records: of ``texts`` if given, else of each line (or, for
    ``input_format="conll"``, each sentence) of ``path`` as it arrives (of the byte ``span``
    of a regular file, if given)."""
    if texts:
        yield tag_texts(model, list(texts), scores)
    elif input_format == "conll":
        for sentences in iter_conll_batches(path, span=span, encoding=encoding):
            yield tag_sentences(model, sentences, scores)
    else:
        for _, lines in iter_line_batches(path, span, encoding):
            yield tag_texts(model, lines, scores)


def tag_stream(model, out, texts=None, path="-", input_format="text", output_format="inline",
               encoding="utf-8"):
    """Tag and write, flushing after every batch so a pipeline that stays open gets its answers.
    ``out`` is a binary stream; bytes of the input that were not UTF-8 are written back as they
    came. A large regular file is tagged in two halves by two processes (both cores), the
    second half's output following the first's. Returns the number of records written."""
    if not texts and hasattr(os, "fork"):
        size = regular_file_size(path)
        split = (split_offset(path, size // 2, input_format == "conll")
                 if size is not None and size >= SPLIT_BYTES else None)
        if split is not None and split < size:
            return _tag_in_two_processes(model, out, path, input_format, output_format, split,
                                         encoding)
        if size is None and path == "-" and _stdin_is_pipe():
            return _PipeTagger(model, out, input_format, output_format, encoding).run()
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
    set_single_threaded()
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


def _stdin_is_pipe():
    import stat

    try:
        return stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


# a batch of at least this many characters, with more input already waiting behind it, is
# handed to the helper process (smaller ones are not worth the trip)
HAND_OVER_CHARS = 1 << 14


class _PipeTagger:
    """Standard input from a pipe, tagged by two processes. A batch that has more input
    waiting right behind it goes to a forked helper; this process tags the next batch
    meanwhile, then writes the helper's output and its own, so the output keeps the input's
    order. When no more input is waiting (an interactive pipeline), this process tags the
    batch itself at once. The helper is forked when first needed, after the model is loaded,
    and gets and returns batches as length-prefixed frames over two pipes."""

    def __init__(self, model, out, input_format, output_format, encoding):
        self.model, self.out = model, out
        self.conll = input_format == "conll"
        self.formatter = FORMATTERS[output_format]
        self.scores = _needs_scores(output_format)
        self.encoding = encoding
        self.pid = None
        self.busy = False  # a batch is with the helper

    def run(self):
        batches = (iter_conll_batches("-", encoding=self.encoding) if self.conll else
                   (lines for _, lines in iter_line_batches("-", None, self.encoding)))
        n = 0
        try:
            for batch in batches:
                n += len(batch)
                if not self.busy and self._worth_handing_over(batch):
                    self._send(self._items(batch))
                    continue
                mine = self._tag(batch)
                if self.busy:
                    self._write(self._receive())
                self._write(mine)
            if self.busy:
                self._write(self._receive())
            self._stop_helper()
            return n
        finally:
            if self.pid is not None:  # interrupted, or the reader went away
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)

    # ------------------------------------------------------------------ this process

    def _worth_handing_over(self, batch):
        rows = (row for s in batch for row in s.rows) if self.conll else batch
        if sum(map(len, rows)) < HAND_OVER_CHARS:
            return False
        import select

        try:
            return bool(select.select([sys.stdin.fileno()], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _tag(self, batch):
        records = (tag_sentences(self.model, batch, self.scores) if self.conll
                   else tag_texts(self.model, batch, self.scores))
        return "".join(map(self.formatter, records)).encode("utf-8", "surrogateescape")

    def _write(self, data):
        self.out.write(data)
        self.out.flush()

    def _items(self, batch):
        return ["\n".join(s.rows) for s in batch] if self.conll else batch

    @property
    def _separator(self):
        # between items: a line never holds a line break; a sentence's rows are never empty,
        # so a sentence never holds a blank line
        return "\n\n" if self.conll else "\n"

    def _send(self, items):
        if self.pid is None:
            self._start_helper()
        _write_frame(self.to_helper, _pack(items, self._separator))
        self.busy = True

    def _receive(self):
        data = _read_frame(self.from_helper)
        if data is None:  # the helper is gone
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
            _check_helper(status or 1, "tagging in the helper process failed", "<stdin>")
        self.busy = False
        return data

    def _stop_helper(self):
        if self.pid is None:
            return
        os.close(self.to_helper)  # end of work: the helper exits
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        os.close(self.from_helper)
        _check_helper(status, "tagging in the helper process failed", "<stdin>")

    # ------------------------------------------------------------------ the helper

    def _start_helper(self):
        # two processes fill two cores; and the forked helper must never hand work to this
        # process's helper thread, which does not exist in it
        set_single_threaded()
        work_r, work_w = os.pipe()
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper: never returns, never writes to stdout
            code = 1
            try:
                _helper_signals()
                os.close(work_w)
                os.close(done_r)
                while True:
                    data = _read_frame(work_r)
                    if data is None:
                        break
                    items = _unpack(data, self._separator)
                    batch = (sentences_of_rows([item.split("\n") for item in items])
                             if self.conll else items)
                    _write_frame(done_w, self._tag(batch))
                code = 0
            except BaseException:  # noqa: BLE001 - reported by the parent as a failure
                pass
            finally:
                os._exit(code)
        os.close(work_r)
        os.close(done_w)
        self.pid, self.to_helper, self.from_helper = pid, work_w, done_r


def _pack(items, separator):
    return (f"{len(items)}\n" + separator.join(items)).encode("utf-8", "surrogateescape")


def _unpack(data, separator):
    head, _, body = data.decode("utf-8", "surrogateescape").partition("\n")
    return body.split(separator) if int(head) else []


def _write_frame(fd, data):
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd, n):
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _read_frame(fd):
    """The next frame's bytes, or None at the end of the stream."""
    head = _read_exactly(fd, 8)
    if head is None:
        return None
    return _read_exactly(fd, int.from_bytes(head, "little")) if head != bytes(8) else b""


def _gold_for(model, tags):
    # a binary model is scored on the lecture's task: gold entities seen as runs of 1s
    return binary_to_bio([str(b) for b in to_binary(tags)]) if model.binary else tags


def evaluate_corpus(model, corpus, type_map=None):
    """Tag a gold corpus and score it (conlleval rules), its types renamed by ``type_map``
    first. Returns a Scorer."""
    scorer = Scorer()
    for start in range(0, len(corpus.sentences), 2048):
        chunk = corpus.sentences[start:start + 2048]
        results = model.tag([s.tokens for s in chunk], scores=False)
        for sentence, (tags, _) in zip(chunk, results):
            scorer.add(_gold_for(model, map_types(sentence.tags, type_map)), tags)
    return scorer


def evaluate_predictions(path, type_map=None, encoding="utf-8"):
    """Score a file whose last two columns are gold and predicted tags (like conlleval), the
    gold types renamed by ``type_map`` first."""
    return score((map_types(gold, type_map), pred)
                 for gold, pred in read_predictions(path, encoding))

