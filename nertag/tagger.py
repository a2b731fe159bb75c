"""The Python API: a ``Tagger`` (a loaded or trained model) that turns text into ``Doc``s of
``Token``s and ``Entity``s, and scores a gold corpus. The CLI runs on the same functions, so the
JSON of ``Doc.to_dict()`` and of ``nertag tag --format json`` cannot drift apart.

    >>> import nertag
    >>> tagger = nertag.load()
    >>> [(e.text, e.label) for e in tagger("Angela Merkel visited Paris.").entities]
    [('Angela Merkel', 'PER'), ('Paris', 'LOC')]

Nothing here prints; training reports progress through an optional callback.
"""

import math
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

from .formats import TaggedText
from .tags import OUTSIDE, entity_types, map_types, output_tags, to_binary, untyped
from .tokenize import tokenize_lazily

# --------------------------------------------------------------------- records of tagging


# a UTF-16 surrogate pair inside a str (only a Python caller can pass one: input is decoded)
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def _join_surrogate_pairs(text):
    """text with each surrogate pair replaced by the one character it encodes. JSON cannot
    write such a pair apart (its two escapes read back as that character), so every output
    must see the character; lone surrogates are left alone (JSON escapes them one by one)."""
    if text.isascii() or not _SURROGATE_PAIR.search(text):
        return text
    return _SURROGATE_PAIR.sub(
        lambda pair: pair.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le"), text)


def tag_texts(model, texts, scores=True):
    """Raw texts (one record each) -> TaggedText records (without ``scores``, their scores
    are None)."""
    texts = [_join_surrogate_pairs(text) for text in texts]
    tokenized = [tokenize_lazily(text) for text in texts]  # offsets kept when computed
    results = model.tag([tokens for tokens, _, _ in tokenized], scores)
    return [TaggedText(text, tokens, tags, scores, binary_model=model.binary, starts=starts,
                       ends=ends)
            for text, (tokens, starts, ends), (tags, scores) in zip(texts, tokenized, results)]


def tag_sentences(model, sentences, scores=True):
    """CoNLL sentences (tokens given) -> TaggedText records; the text is the tokens joined by
    single spaces and the input lines are kept."""
    results = model.tag([s.tokens for s in sentences], scores)
    return [TaggedText(" ".join(s.tokens), s.tokens, tags, scores, lines=s.lines,
                       binary_model=model.binary)
            for s, (tags, scores) in zip(sentences, results)]


# ------------------------------------------------------------------------ Doc, Token, Entity


def _rounded(score):
    """A score as the JSON output writes it: 4 places, and null for a missing or NaN one."""
    if score is None:
        return None
    value = round(float(score), 4)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Token:
    """One token of a Doc: ``doc.text[start:end] == text``; ``tag`` is the predicted tag (BIO,
    or ``0``/``1`` for a binary model) and ``score`` the model's probability of it."""

    text: str
    start: int
    end: int
    tag: str
    score: float

    def to_dict(self):
        return {"text": self.text, "start": self.start, "end": self.end, "tag": self.tag,
                "score": _rounded(self.score)}


@dataclass(frozen=True)
class Entity:
    """One entity of a Doc: ``doc.text[start:end] == text``; ``score`` is the product of its
    tokens' scores, the model's probability of exactly that labelling of those tokens."""

    text: str
    label: str
    start: int
    end: int
    score: float

    def to_dict(self):
        return {"text": self.text, "label": self.label, "start": self.start, "end": self.end,
                "score": _rounded(self.score)}


@dataclass(frozen=True)
class Doc:
    """A tagged text: its tokens (with character offsets) and the entities found in it."""

    text: str
    tokens: list
    entities: list

    @property
    def tags(self):
        """The predicted tag of each token."""
        return [token.tag for token in self.tokens]

    @property
    def binary(self):
        """The lecture's Y: 1 for a token inside an entity, else 0."""
        return to_binary(self.tags)

    def to_dict(self):
        """The JSON object ``nertag tag --format json`` writes for this text."""
        return {"text": self.text, "tokens": [t.to_dict() for t in self.tokens],
                "entities": [e.to_dict() for e in self.entities]}

    def to_html(self):
        """This text as an HTML fragment (one ``<p>``): each entity marked in the colour of its
        type, its label beside it and its score in a tooltip; the text is escaped. A paragraph
        of ``nertag tag --format html``; ``nertag.render_html`` makes a page of several."""
        from .htmlview import paragraph

        return paragraph(self.text, [(e.start, e.end, e.label, e.score)
                                     for e in self.entities])

    @classmethod
    def from_record(cls, record):
        """The Doc of a TaggedText record (scores must have been computed)."""
        starts, ends = record.offsets()
        scores = record.scores if record.scores is not None else [None] * len(record.tokens)
        tokens = [Token(text, s, e, tag, None if score is None else float(score))
                  for text, s, e, tag, score in zip(record.tokens, starts, ends,
                                                    record.output_tags(), scores)]
        entities = [Entity(record.text[s:e], label, s, e,
                           None if score is None else float(score))
                    for s, e, label, score in record.entities()]
        return cls(record.text, tokens, entities)


# ------------------------------------------------------------------------ one BLAS thread

# nertag's matrices are small: one BLAS thread is fastest, and two collapse when the other core
# is busy (training beside Numba's threads ran 8x slower). The ``nertag`` command sets
# OPENBLAS_NUM_THREADS=1 before NumPy starts; a program using the library gets one BLAS thread
# during the Tagger's own calls and training only, through threadpoolctl, and its settings back
# afterwards.
_blas = {"controller": None, "users": 0, "limiter": None}
_blas_lock = threading.Lock()


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, made once; False without
    threadpoolctl. An OPENBLAS_NUM_THREADS in the environment is no sign of the loaded BLAS's
    thread count (Dask's LocalCluster sets it in its parent process after NumPy has started):
    the limit is applied whatever it says, and the count before it restored after."""
    if _blas["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas["controller"] = False
        else:
            _blas["controller"] = ThreadpoolController()
    return _blas["controller"]


@contextmanager
def one_blas_thread():
    """BLAS limited to one thread inside (see above); threads tagging at once share one limit,
    lifted when the last of them leaves, so the user's own setting always comes back."""
    controller = _blas_controller()
    if not controller:
        yield
        return
    with _blas_lock:
        if _blas["users"] == 0:
            _blas["limiter"] = controller.limit(limits=1, user_api="blas")
        _blas["users"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas["users"] -= 1
            if _blas["users"] == 0:
                _blas["limiter"].restore_original_limits()
                _blas["limiter"] = None


# ------------------------------------------------------------------------------- the Tagger


def _check_text(text, what="text"):
    if not isinstance(text, str):
        hint = (" (for tokens already split, use tagger.tag_tokens)"
                if isinstance(text, (list, tuple)) else "")
        raise TypeError(f"{what} must be a str, not {type(text).__name__}{hint}")


class Tagger:
    """A named-entity tagger: ``tagger(text)`` gives a Doc. Made by ``nertag.load`` or
    ``nertag.train``; ``model`` is the network, weights and vocabularies behind it."""

    def __init__(self, model):
        self.model = model

    @classmethod
    def load(cls, path=None):
        """The model at ``path`` (default: the shipped one, or ``$NERTAG_MODEL``). A missing
        file raises FileNotFoundError; a corrupt or foreign one BadModelError (a ValueError)."""
        from .modelfile import default_model_path, load_model

        return cls(load_model(default_model_path() if path is None else path))

    def __repr__(self):
        return f"<nertag.Tagger labels={self.labels} hidden={self.model.hidden}>"

    @property
    def labels(self):
        """The entity types the model tags, sorted (``["ENT"]`` for a binary model)."""
        return self.model.types

    @property
    def meta(self):
        """What the model file records of its training: corpora, dev scores, settings."""
        return self.model.meta

    def __call__(self, text):
        """Tokenize and tag one text (one record, as one line of ``nertag tag``)."""
        _check_text(text)
        with one_blas_thread():
            return Doc.from_record(tag_texts(self.model, [text])[0])

    def pipe(self, texts, batch_size=1000):
        """Docs of an iterable of texts, lazily, tagged ``batch_size`` at a time."""
        if isinstance(texts, str):
            raise TypeError("pipe() takes an iterable of texts, not a str "
                            "(for one text, call the tagger)")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
        items = iter(texts)
        while True:
            batch = list(islice(items, batch_size))
            if not batch:
                return
            for text in batch:
                _check_text(text, "each item of pipe()")
            with one_blas_thread():  # not held while the caller works on the Docs
                docs = [Doc.from_record(record) for record in tag_texts(self.model, batch)]
            yield from docs

    def tag_tokens(self, tokens):
        """Tags of a sentence already split into tokens."""
        if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
            raise TypeError(f"tag_tokens() takes a list of str tokens, not "
                            f"{type(tokens).__name__} (for raw text, call the tagger)")
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"each token must be a str, not {type(token).__name__}")
        with one_blas_thread():
            tags, _ = self.model.tag([list(tokens)], scores=False)[0]
        return output_tags(tags, self.model.binary)

    def save(self, path):
        """Write the model file (atomically: a temporary file, then a rename)."""
        from .modelfile import save_model

        save_model(self.model, path)

    def evaluate(self, corpus, map=None, encoding="utf-8"):  # noqa: A002 - the CLI's --map
        """Score the model on a gold CoNLL file: the dict that ``nertag eval --json`` prints."""
        from .conll import read_conll
        from .report import eval_report

        gold = read_conll(os.fspath(corpus), encoding=encoding)
        with one_blas_thread():
            return eval_report(predict_gold(self.model, gold.sentences, map))


def render_html(docs, title="nertag", labels=None):
    """A self-contained HTML page (a str) of Docs, a paragraph each, with a legend of
    ``labels`` (default: the entity types found in the docs). It needs no network and runs no
    script: CSS inline, the text escaped."""
    from .htmlview import render_page

    docs = list(docs)
    if labels is None:
        labels = sorted({e.label for doc in docs for e in doc.entities})
    return render_page([doc.to_html() for doc in docs], labels, title)


def load(path=None):
    """The Tagger of a model file; without a path, the shipped model (or ``$NERTAG_MODEL``)."""
    return Tagger.load(path)


# -------------------------------------------------------------------------------- scoring


def gold_tags(binary, tags, type_map=None):
    """Gold BIO tags as a model is trained and scored on them: types renamed by ``type_map``
    (a type mapped to O dropped), and for a ``binary`` model the lecture's task (entities as
    runs of 1s)."""
    tags = map_types(tags, type_map)
    return untyped(tags) if binary else tags


def evaluate(model, pairs, type_map=None):
    """The one scoring of a model on gold data (``nertag eval``, ``Tagger.evaluate`` and the
    trainer's dev set): tag the tokens of each ``(tokens, gold tags)`` pair (or Sentence) and
    score them by conlleval's rules, the gold types renamed by ``type_map`` first. Returns a
    Scorer."""
    from .metrics import Scorer  # not on the path of tagging: a cold start skips it

    scorer = Scorer()
    for _, gold, predicted, _ in predict_gold(model, pairs, type_map):
        scorer.add(gold, predicted)
    return scorer


def predict_gold(model, pairs, type_map=None):
    """``(tokens, gold tags, predicted tags, line)`` of each ``(tokens, gold tags)`` pair (or
    Sentence, whose ``line`` is kept; else 0), both tag lists as they are scored: types renamed
    by ``type_map`` in the gold and the predictions alike (so a model of four types can be
    scored on a corpus of three with ``{"MISC": "O"}``)."""
    pairs = [(p.tokens, p.tags, p.line) if hasattr(p, "tokens") else (*p, 0) for p in pairs]
    results = model.tag([tokens for tokens, _, _ in pairs], scores=False)
    return [(tokens, gold_tags(model.binary, gold, type_map), map_types(predicted, type_map),
             line)
            for (tokens, gold, line), (predicted, _) in zip(pairs, results)]


def missing_types(model, sentences, type_map=None):
    """Entity types of a gold corpus (after ``type_map``) that the model cannot predict: each
    scores 0 (``nertag eval`` warns about them)."""
    if model.binary:
        return []
    gold = {t for s in sentences for t in entity_types(map_types(s.tags, type_map))}
    predicted = {(type_map or {}).get(t, t) for t in model.types}
    return sorted(gold - predicted - {OUTSIDE})


def evaluate_predictions(path, type_map=None, encoding="utf-8"):
    """Score a file whose last two columns are gold and predicted tags (like conlleval), the
    types of both renamed by ``type_map`` first."""
    from .metrics import score

    return score((gold, pred) for _, gold, pred, _ in read_gold_predictions(path, type_map,
                                                                           encoding))


def read_gold_predictions(path, type_map=None, encoding="utf-8"):
    """``(tokens, gold tags, predicted tags, line)`` of each sentence of a file whose last two
    columns are gold and predicted tags, the types of both renamed by ``type_map``."""
    from .conll import read_predictions

    return [(tokens, map_types(gold, type_map), map_types(pred, type_map), line)
            for tokens, gold, pred, line in read_predictions(path, encoding, with_tokens=True)]
