"""Output formats of ``nertag tag``: one record per input line (or CoNLL sentence).

A record is a TaggedText: the text, its tokens with character offsets, and the predicted BIO
tags with per-token scores.
"""

import json
import math
import re
from dataclasses import dataclass
from itertools import chain
from json.encoder import encode_basestring

import numpy as np

from .decode import entity_spans
from .tags import OUTSIDE, bio_spans, output_tags, to_binary
from .tokenize import single_spaced, token_offsets

SCORED_FORMATS = frozenset({"json", "html"})  # formats that print the model's scores


@dataclass
class TaggedText:
    text: str
    tokens: list
    tags: list
    scores: list
    lines: list = None  # CoNLL input lines, repeated in CoNLL output
    binary_model: bool = False
    starts: list = None  # character offsets of the tokens, found when first needed
    ends: list = None

    def offsets(self):
        if self.starts is None:
            self.starts, self.ends = token_offsets(self.text, self.tokens)
        return self.starts, self.ends

    def entities(self):
        """(start char, end char, label, score) of each entity."""
        spans = entity_spans(self.tags, self.scores)
        if not spans:
            return []
        starts, ends = self.offsets()
        return [(starts[s], ends[e - 1], label, score) for s, e, label, score in spans]

    def output_tags(self):
        """Tags as the model speaks them: 0/1 for a binary model, BIO otherwise."""
        return output_tags(self.tags, self.binary_model)


def format_inline(record):
    """``[PER Harry Potter] met [PER Hermione Granger]``: the text with entities bracketed."""
    if record.tags.count(OUTSIDE) == len(record.tags):
        return record.text + "\n"
    if record.starts is None and single_spaced(record.text, record.tokens):
        # the words of the text, single spaces between them (CoNLL input, or a plain line):
        # brackets go around tokens, no character offsets needed
        parts = list(record.tokens)
        for start, end, label in bio_spans(record.tags):
            parts[start] = "[" + label + " " + parts[start]
            parts[end - 1] += "]"
        return " ".join(parts) + "\n"
    out, at = [], 0
    text = record.text
    for start, end, label, _ in record.entities():
        out += [text[at:start], "[", label, " ", text[start:end], "]"]
        at = end
    out.append(text[at:])
    return "".join(out) + "\n"


def format_conll(record):
    """``token<TAB>tag`` per token (or the input's columns and the tag), a blank line after."""
    firsts = record.lines if record.lines is not None else record.tokens
    if not firsts:
        return "\n"  # an empty input line: an empty record, so the output lines up
    if (record.lines is not None and _SPACE.search("\n".join(record.lines))
            and any(_space_separated(row) for row in record.lines)):
        # a space-separated input keeps its separator, so the file stays one format
        pairs = (row + (" " if _space_separated(row) else "\t") + tag
                 for row, tag in zip(record.lines, record.output_tags()))
        return "\n".join(pairs) + "\n\n"
    return "\n".join(map("\t".join, zip(firsts, record.output_tags()))) + "\n\n"


_SPACE = re.compile(r"[^\S\t\n]")  # whitespace other than a tab or a line end


def _space_separated(row):
    return "\t" not in row and len(row.split()) > 1


def format_binary(record):
    """The lecture's Y: ``1 1 0 1 1 0 0 0 0``."""
    return " ".join(to_binary(record.tags, as_text=True)) + "\n"


# one token's JSON object, as json_lines writes it with %: text, start, end, tag, score
_TOKEN_JSON = '{"text": %s, "start": %d, "end": %d, "tag": %s, "score": %s}'
_TOKEN_FIELDS = 5
# one entity's object: text, label, start, end, score
_ENTITY_JSON = '{"text": %s, "label": %s, "start": %d, "end": %d, "score": %s}'


def format_json(record):
    """One JSON object a line; ``text[start:end]`` is each token and entity (json_lines of
    the one record)."""
    return json_lines([record])


def json_lines(records):
    """The JSON lines of records: what json.dumps writes for each _json_object(record), written
    as text several times faster. What every record needs (offsets, quoted tokens and tags,
    scores as text) is found for the whole batch at C speed; then each line is one % over
    its tokens' values. A line with bytes that were not UTF-8 goes through json.dumps,
    escaped, so it stays valid UTF-8."""
    plain = [r for r in records if not _has_surrogates(r.text)]
    counts = [len(r.tokens) for r in plain]
    if [len(r.tags) for r in plain] != counts or [len(r.scores) for r in plain] != counts:
        raise ValueError("a record needs a tag and a score for each of its tokens")
    tokens = list(chain.from_iterable([r.tokens for r in plain]))
    sizes = np.array(counts, dtype=np.int64)
    firsts = np.cumsum(sizes) - sizes  # each record's first token among all the batch's
    starts, ends = _all_offsets(plain, counts, firsts, tokens)
    tags = list(chain.from_iterable([r.output_tags() for r in plain]))
    quoted_tags = {tag: encode_basestring(tag) for tag in set(tags)}
    scores = list(chain.from_iterable([r.scores for r in plain]))
    values = tuple(chain.from_iterable(zip(
        map(encode_basestring, tokens), starts, ends, map(quoted_tags.__getitem__, tags),
        _score_texts(scores))))
    entities = _entities_json(plain, sizes, firsts, starts, ends, scores)
    lines, at, i = [], 0, 0
    for record in records:
        if i == len(plain) or plain[i] is not record:  # has surrogates
            lines.append(json.dumps(_json_object(record), ensure_ascii=True) + "\n")
            continue
        n = counts[i]
        token_values = values[_TOKEN_FIELDS * at:_TOKEN_FIELDS * (at + n)]
        lines.append(f'{{"text": {encode_basestring(record.text)}, "tokens": ['
                     f'{_tokens_template(n) % token_values}], "entities": [{entities[i]}]}}\n')
        at += n
        i += 1
    return "".join(lines)


_TEMPLATES = {}


def _tokens_template(n):
    """n tokens' objects, comma-separated, with %-fields for their values."""
    template = _TEMPLATES.get(n)
    if template is None:
        template = ", ".join([_TOKEN_JSON] * n)
        if n <= 256:  # lengths that recur; a rare long line's template is not kept
            _TEMPLATES[n] = template
    return template


def _all_offsets(records, counts, firsts, tokens):
    """Character offsets of the tokens of records (starts, ends: a list each, all records'
    tokens in order; ``firsts`` (R,) each record's first token). Those of a record that is its
    tokens single-spaced (CoNLL input, a plain line) follow from the tokens' lengths, found for
    the whole batch at once."""
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    steps = lengths + 1
    joined_at = np.cumsum(steps) - steps  # a token's offset in all the tokens single-spaced
    sizes = np.array(counts, dtype=np.int64)
    starts = joined_at - np.repeat(joined_at[firsts[sizes > 0]], sizes[sizes > 0])
    starts, ends = starts.tolist(), (starts + lengths).tolist()
    at = 0
    for record, n in zip(records, counts):
        if record.starts is not None or (n and not single_spaced(record.text, record.tokens)):
            starts[at:at + n], ends[at:at + n] = record.offsets()
        at += n
    return starts, ends


def _entities_json(records, sizes, firsts, starts, ends, scores):
    """Each record's entity objects, comma-separated ("" for none), given all tokens' offsets
    and scores (``sizes`` and ``firsts`` (R,): each record's token count and first token): the
    spans of bio_spans (an entity starts at a tag that is not O after an O, at a B-, at a
    change of type or at a record's start, and runs while its I- tags go on), found for the
    whole batch at once, and their scores, each the product of its tokens' (entity_spans')."""
    tags = list(chain.from_iterable([r.tags for r in records]))
    if not tags or tags.count(OUTSIDE) == len(tags):
        return [""] * len(records)
    kinds = list(set(tags))
    kind = np.fromiter(map({t: k for k, t in enumerate(kinds)}.__getitem__, tags),
                       dtype=np.intp, count=len(tags))
    labels = sorted({t[2:] for t in kinds})
    inside = np.array([t != OUTSIDE for t in kinds])[kind]
    begins = np.array([t[:1] == "B" for t in kinds])[kind]
    label = np.array([labels.index(t[2:]) for t in kinds])[kind]
    first = np.zeros(len(tags) + 1, dtype=bool)
    first[firsts] = True  # a record's first token (or, for an empty one, the next's)
    first = first[:-1]
    after = np.ones(len(tags), dtype=bool)  # no open entity before this token
    after[1:] = ~inside[:-1] | (label[1:] != label[:-1])
    opens = inside & (first | after | begins)
    closes = inside.copy()  # an entity's last token
    closes[:-1] &= first[1:] | ~inside[1:] | opens[1:]
    span_starts, span_ends = np.flatnonzero(opens), np.flatnonzero(closes) + 1
    span_scores = _score_texts(_products(scores, inside, span_starts, span_ends))
    first_span = np.searchsorted(span_starts, firsts).tolist() + [len(span_starts)]
    span_starts, span_ends = span_starts.tolist(), span_ends.tolist()
    span_labels = [encode_basestring(labels[i]) for i in label[span_starts].tolist()]
    out = []
    for i, record in enumerate(records):
        out.append(", ".join([
            _ENTITY_JSON % (encode_basestring(record.text[starts[a]:ends[e - 1]]),
                            span_labels[j], starts[a], ends[e - 1], span_scores[j])
            for j, a, e in zip(range(first_span[i], first_span[i + 1]),
                               span_starts[first_span[i]:first_span[i + 1]],
                               span_ends[first_span[i]:first_span[i + 1]])]))
    return out


def _products(scores, inside, span_starts, span_ends):
    """Each entity's score: the product of its tokens' scores, multiplied in token order as
    math.prod multiplies them (entity_spans), at C speed for float scores; scores of another
    type (a library caller's float32) are multiplied in their own type, by math.prod."""
    if not set(map(type, scores)) <= {float}:
        return [math.prod(scores[a:e]) for a, e in zip(span_starts.tolist(),
                                                       span_ends.tolist())]
    token_scores = np.array(scores, dtype=np.float64)
    token_scores[~inside] = 1.0  # so that a product from an entity's start to the next one's
    with np.errstate(all="ignore"):  # 0 * inf, overflow: NaN and inf, as math.prod gives them
        return np.multiply.reduceat(token_scores, span_starts).tolist()  # stops at its end


def _number(score):
    """A score rounded to 4 places, written as json.dumps writes a float; ``null`` for a NaN
    (which is not JSON), as in Doc.to_dict()."""
    value = round(float(score), 4)
    return repr(value) if math.isfinite(value) else "null"


def _score_texts(scores):
    """[_number(score) for score in scores], by NumPy for probabilities: rint(10^4 score) is a
    score's 4-place rounding (the product's error, about 1e-12, cannot cross a tie unless it
    lies within 1e-6 of one: those are done one at a time, as are 0, -0.0 and any score
    outside (0, 1]), written from a table of the 10,001 answers."""
    if not scores:
        return []
    score = np.array(scores, dtype=np.float64)
    with np.errstate(all="ignore"):  # inf - inf, overflow: not in the table either way
        scaled = score * 10000.0
        near_tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    table = (score > 0.0) & (score <= 1.0) & ~near_tie  # a NaN fails every comparison
    texts = _four_places()[np.where(table, np.rint(scaled), 0).astype(np.intp)].tolist()
    for i in np.flatnonzero(~table).tolist():
        texts[i] = _number(scores[i])
    return texts


_FOUR_PLACES = []


def _four_places():
    """_number(k / 10^4) for k = 0 .. 10^4 (an object array, made when first needed)."""
    if not _FOUR_PLACES:
        _FOUR_PLACES.append(np.array([repr(k / 10000) for k in range(10001)], dtype=object))
    return _FOUR_PLACES[0]


def _json_object(record):
    """The record as the JSON object that format_json writes: Doc.to_dict(), the one
    definition of it (json_lines is tested against it)."""
    from .tagger import Doc

    return Doc.from_record(record).to_dict()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogates(text):
    return _SURROGATE.search(text) is not None


def format_html(record):
    """A paragraph of the HTML page: entities marked in their type's colour (htmlview.py)."""
    from .htmlview import paragraph

    return paragraph(record.text, record.entities())


FORMATTERS = {"inline": format_inline, "conll": format_conll, "json": format_json,
              "binary": format_binary, "html": format_html}


def format_records(output_format, records):
    """The output text of a batch of records in one of FORMATTERS' formats (JSON a batch at a
    time: json_lines)."""
    if output_format == "json":
        return json_lines(records)
    return "".join(map(FORMATTERS[output_format], records))


def format_each(output_format, records):
    """The output of each record of a batch, a string each (format_records, cut at the line
    ends of JSON, which escapes every line break inside a record's line)."""
    if output_format == "json":
        return [line + "\n" for line in json_lines(records).split("\n")[:-1]]
    return list(map(FORMATTERS[output_format], records))


# the file name suffix of each format (``nertag tag --output-dir``)
SUFFIXES = {"inline": ".txt", "conll": ".conll", "json": ".jsonl", "binary": ".txt",
            "html": ".html"}


def format_header(output_format, labels):
    """What a whole output starts with, before its first record: the page header for HTML
    (its legend lists ``labels``, the model's types), nothing for the line formats."""
    if output_format != "html":
        return ""
    from .htmlview import page_header

    return page_header(labels)


def format_footer(output_format):
    """What a whole output ends with, after its last record."""
    if output_format != "html":
        return ""
    from .htmlview import PAGE_FOOTER

    return PAGE_FOOTER
