"""Applying a model: tag texts or a stream, and score a corpus. The CLI calls one function
of this module per command (besides training)."""

import os
import shutil
import signal
import tempfile

from .corpus import (
    display_name,
    iter_conll_batches,
    iter_line_batches,
    read_predictions,
    regular_file_size,
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

