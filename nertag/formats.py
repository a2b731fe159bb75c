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


# one token's JSON object, as format_json writes it with %: text, start, end, tag, score
_TOKEN_JSON = '{"text": %s, "start": %d, "end": %d, "tag": %s, "score": %s}'


def format_json(record):
    """One JSON object a line; ``text[start:end]`` is each token and entity. Written as text
    (what json.dumps would write for _json_object(record), several times faster: the tokens'
    objects with one % over their values, gathered at C speed); a line with bytes that were
    not UTF-8 goes through json.dumps, escaped."""
    if _has_surrogates(record.text):  # escaped, so the line stays valid UTF-8
        return json.dumps(_json_object(record), ensure_ascii=True) + "\n"
    quote = encode_basestring
    starts, ends = record.offsets()
    tags = record.output_tags()
    quoted_tags = {tag: quote(tag) for tag in set(tags)}
    values = chain.from_iterable(zip(map(quote, record.tokens), starts, ends,
                                     map(quoted_tags.__getitem__, tags),
                                     _numbers(record.scores)))
    tokens = ", ".join([_TOKEN_JSON] * len(tags)) % tuple(values)
    entities = ", ".join([
        f'{{"text": {quote(record.text[s:e])}, "label": {quote(label)}, "start": {s}, '
        f'"end": {e}, "score": {_number(score)}}}'
        for s, e, label, score in record.entities()])
    return f'{{"text": {quote(record.text)}, "tokens": [{tokens}], "entities": [{entities}]}}\n'


def _number(score):
    """A score rounded to 4 places, written as json.dumps writes a float; ``null`` for a NaN
    (which is not JSON), as in Doc.to_dict()."""
    value = round(float(score), 4)
    return repr(value) if math.isfinite(value) else "null"


_TRAILING_ZEROS = re.compile(r"(?<!\.)0+(?=\n)")  # of %.4f: "1.0000" -> "1.0"


def _numbers(scores):
    """[_number(score) for score in scores], by one %.4f over them all when each is in
    [0, 10) (probabilities are): the same digits (both round the exact binary value correctly
    to 4 places), trailing zeros then dropped as repr drops them."""
    text = ("%.4f\n" * len(scores)) % tuple(scores)
    if len(text) != 7 * len(scores):  # a NaN, a negative or a large number: one at a time
        return [_number(score) for score in scores]
    return _TRAILING_ZEROS.sub("", text).split("\n")[:-1]


def _json_object(record):
    """The record as the JSON object that format_json writes: Doc.to_dict(), the one
    definition of it (format_json's fast path is tested against it)."""
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
