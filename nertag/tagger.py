"""Applying a model: tag texts or a stream, and score a corpus. The CLI calls one function
of this module per command (besides training)."""

from .corpus import iter_conll_batches, iter_line_batches, read_predictions
from .formats import FORMATTERS, TaggedText
from .metrics import Scorer, score
from .tags import binary_to_bio, map_types, to_binary
from .text import split_tokens


def tag_texts(model, texts):
    """Raw texts (one record each) -> TaggedText records."""
    tokenized = [split_tokens(text) for text in texts]
    results = model.tag(tokenized)
    return [TaggedText(text, tokens, tags, scores, binary_model=model.binary)
            for text, tokens, (tags, scores) in zip(texts, tokenized, results)]


def tag_sentences(model, sentences):
    """CoNLL sentences (tokens given) -> TaggedText records; the text is the tokens joined by
    single spaces and the input rows are kept."""
    results = model.tag([s.tokens for s in sentences])
    return [TaggedText(" ".join(s.tokens), s.tokens, tags, scores, rows=s.rows,
                       binary_model=model.binary)
            for s, (tags, scores) in zip(sentences, results)]


def iter_tagged(model, texts=None, path="-", input_format="text"):
    """Batches of TaggedText records: of ``texts`` if given, else of each line (or, for
    ``input_format="conll"``, each sentence) of ``path`` as it arrives."""
    if texts:
        yield tag_texts(model, list(texts))
    elif input_format == "conll":
        for sentences in iter_conll_batches(path):
            yield tag_sentences(model, sentences)
    else:
        for _, lines in iter_line_batches(path):
            yield tag_texts(model, lines)


def tag_stream(model, out, texts=None, path="-", input_format="text", output_format="inline"):
    """Tag and write, flushing after every batch so a pipeline that stays open gets its answers.
    ``out`` is a binary stream; bytes of the input that were not UTF-8 are written back as they
    came. Returns the number of records written."""
    formatter = FORMATTERS[output_format]
    n = 0
    for records in iter_tagged(model, texts, path, input_format):
        out.write("".join(formatter(r) for r in records).encode("utf-8", "surrogateescape"))
        out.flush()
        n += len(records)
    return n


def _gold_for(model, tags):
    # a binary model is scored on the lecture's task: gold entities seen as runs of 1s
    return binary_to_bio([str(b) for b in to_binary(tags)]) if model.binary else tags


def evaluate_corpus(model, corpus, type_map=None):
    """Tag a gold corpus and score it (conlleval rules), its types renamed by ``type_map``
    first. Returns a Scorer."""
    scorer = Scorer()
    for start in range(0, len(corpus.sentences), 2048):
        chunk = corpus.sentences[start:start + 2048]
        results = model.tag([s.tokens for s in chunk])
        for sentence, (tags, _) in zip(chunk, results):
            scorer.add(_gold_for(model, map_types(sentence.tags, type_map)), tags)
    return scorer


def evaluate_predictions(path):
    """Score a file whose last two columns are gold and predicted tags (like conlleval)."""
    return score(read_predictions(path))

