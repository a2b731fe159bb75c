"""Reading CoNLL corpora, prediction files and word vectors: pure readers, ``-`` being stdin.

A corpus is CoNLL-style: one token per line, the token in the first column and the gold tag in
the last; columns split on tabs when the line has one (so an empty or whitespace token survives,
as in the Broad Twitter Corpus), else on runs of spaces; blank lines end sentences; ``-DOCSTART-``
and ``#`` comment lines are skipped; UTF-8 with or without a BOM, LF or CRLF line ends.
Streaming text to tag (batches as lines arrive) is in streams.py; it finds sentences with the
same ``sentence_blocks`` as these readers.
"""

import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

from .errors import BadInputError
from .tags import tag_family, to_bio

DOCSTART = "-DOCSTART-"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF16_MESSAGE = "the file is UTF-16: convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"

@dataclass
class Sentence:
    tokens: list
    tags: list = None  # normalised BIO tags, None when the corpus has no tag column
    lines: list = field(default=None, repr=False)  # the input lines, kept for CoNLL output
    line: int = 0  # line number of the first token, for messages


@dataclass
class Corpus:
    name: str
    sentences: list
    family: str = None  # 'binary' or 'bio': the tag form the corpus was written in

    @property
    def n_tokens(self):
        return sum(len(s.tokens) for s in self.sentences)


def open_text(path):
    """Binary stream of a path, ``-`` being stdin."""
    if path == "-":
        if sys.stdin is None:  # the process was started with stdin closed
            raise BadInputError("standard input is closed", display_name(path))
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise BadInputError("no such file", path) from None
    except IsADirectoryError:
        raise BadInputError("is a directory, not a corpus file", path) from None
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror}", path) from None


@contextmanager
def opened(path):
    """``open_text(path)`` as a context: closed afterwards, unless it is stdin."""
    stream = open_text(path)
    try:
        yield stream
    finally:
        close_unless_stdin(stream)


def close_unless_stdin(stream):
    """Close a stream nertag opened; stdin is the caller's and stays open."""
    if stream is not getattr(sys.stdin, "buffer", None):
        stream.close()


def display_name(path):
    return "<stdin>" if path == "-" else str(path)


def check_encoding(encoding):
    """The codec name of an encoding nertag can read line by line (one in which a line end is
    the byte 10, as in UTF-8, Latin-1 or cp1252), or a BadInputError."""
    import codecs

    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise BadInputError(f"unknown encoding {encoding!r}", "--encoding") from None
    if "\n".encode(codec) != b"\n" or "a".encode(codec) != b"a":
        raise BadInputError(f"{encoding} is not ASCII-compatible: convert the file to UTF-8 "
                            "(iconv -t UTF-8)", "--encoding")
    return codec


def iter_lines(stream, name, encoding="utf-8"):
    """(line number, text) for each line of a byte stream, decoded strictly (a BOM on the first
    line dropped, CR before LF dropped). Bytes that are not of the encoding name the line."""
    for number, raw in enumerate(stream, 1):
        if number == 1 and raw.startswith(UTF16_BOMS):
            raise BadInputError(UTF16_MESSAGE, f"{name}:1")
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            utf8 = encoding == "utf-8"
            hint = " (a Latin-1 file? try --encoding latin-1)" if utf8 else ""
            raise BadInputError(
                f"invalid {'UTF-8' if utf8 else encoding} at byte {exc.start + 1} of the line"
                f"{hint}",
                f"{name}:{number}") from None
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        text = text.rstrip("\r\n")
        if "\r" in text:
            raise BadInputError("a carriage return inside the line (old Mac line ends?); "
                                "lines must end in LF or CRLF", f"{name}:{number}")
        yield number, text


def split_columns(line):
    """Columns of a CoNLL line: tab-separated when it has a tab, else space-separated."""
    if "\t" in line:
        columns = line.split("\t")
        while len(columns) > 1 and not columns[-1].strip():
            columns.pop()  # a trailing tab
        return columns
    return line.split()


_COMMENT = re.compile(r"#\s*(?:id|sent_id|text|newdoc|newpar|doc_id)\b")


def _is_comment(line, columns, n_tags=1):
    """A ``#`` line at a sentence start is a comment (MultiCoNER's ``# id ...\tdomain=...``,
    CoNLL-U's ``# text = ...``) unless it reads as a ``#`` token with its tag(s) in the last
    ``n_tags`` columns, as in tweets or MultiCoNER's ``# _ _ O``. Without tags (n_tags=0), only
    the usual comment keys, or a first column that is more than ``#``, make a comment."""
    if not line.startswith("#"):
        return False
    if _COMMENT.match(line):
        return True
    if n_tags == 0:  # a token line if it ends in something tag-like (a tagged file to tag)
        if len(columns) >= 2 and tag_family(columns[-1].strip()) is not None:
            return False
        return columns[0] != "#"
    if len(columns) <= n_tags:
        return True
    return any(tag_family(c.strip()) is None for c in columns[-n_tags:])


def _all_lines(path, name, encoding):
    """The whole file as one batch: [(1, lines)]."""
    with opened(path) as stream:
        return [(1, [line for _, line in iter_lines(stream, name, encoding)])]


def first_column(line):
    """The token of a CoNLL line, as split_columns would give it, without splitting the rest."""
    return line[: line.index("\t")] if "\t" in line else line.split(None, 1)[0]


def sentence_blocks(batches, n_tags):
    """The one place that finds sentences in CoNLL lines. For each batch of lines,
    ``(number of its first line, lines)``, the sentences it completes, each ``(number of its
    first line, its lines)``: a blank line ends a sentence, a ``-DOCSTART-`` line ends one and
    is dropped, a comment line at a sentence start is dropped (see _is_comment; ``n_tags`` is
    how many tag columns a line ends with). The last sentence comes when the batches end.
    A batch that completes no sentence yields ``[]``: one step never takes two batches, so a
    stream's reader is never kept waiting for the rest of a sentence that may come late."""
    block_first, block = 0, []  # the sentence still open
    for first, lines in batches:
        done = []
        ends = _sentence_ends(lines)
        at = 0
        for stop in ends + [len(lines)]:
            if not block:  # a sentence start: comment lines there are dropped
                while (at < stop and lines[at][0] == "#"
                       and _is_comment(lines[at], split_columns(lines[at]), n_tags)):
                    at += 1
                block_first = first + at
            block += lines[at:stop]
            if stop < len(lines):  # the sentence ends at this line
                if block:
                    done.append((block_first, block))
                    block = []
                at = stop + 1
        yield done
    if block:
        yield [(block_first, block)]


_BLANK_WITH_SPACES = re.compile(r"^[^\S\n]+$", re.MULTILINE)  # a line of whitespace only


def _sentence_ends(lines):
    """Indices of the lines that end a sentence: blank (or whitespace only) and -DOCSTART-
    lines. When every such line is empty (most files), they are found by list.index, at C
    speed."""
    joined = "\n".join(lines)
    if DOCSTART in joined or _BLANK_WITH_SPACES.search(joined):
        return [i for i, line in enumerate(lines)
                if not line or line.isspace()
                or (DOCSTART in line and first_column(line) == DOCSTART)]
    ends, at = [], -1
    try:
        while True:
            at = lines.index("", at + 1)
            ends.append(at)
    except ValueError:  # no more empty lines
        return ends


def read_conll(path, with_tags=True, encoding="utf-8"):
    """Read a CoNLL file into a Corpus of BIO-normalised sentences.

    with_tags=False reads tokens only (text to tag in CoNLL layout); the input lines are kept so
    output can repeat them. A line that is only a tag-less token in a tagged corpus, a tag of no
    known form, or a mix of binary and BIO tags is an error naming the file and line.
    """
    name = display_name(path)
    lines = _all_lines(path, name, encoding)
    sentences, forms = [], {}
    for blocks in sentence_blocks(lines, 1 if with_tags else 0):
        for first, lines in blocks:
            tokens, tags = [], []
            for number, line in enumerate(lines, first):
                columns = split_columns(line)
                tokens.append(columns[0])
                if with_tags:
                    if len(columns) < 2:
                        raise BadInputError(f"token {columns[0]!r} has no tag column",
                                            f"{name}:{number}")
                    tags.append(_checked_tag(forms, "tag", columns[-1], f"{name}:{number}"))
            sentences.append(Sentence(tokens, to_bio(tags) if with_tags else None, lines, first))
    if with_tags and not sentences:
        raise BadInputError("no sentences found (is the file empty?)", name)
    return Corpus(name, sentences, forms.get("tag"))


def _checked_tag(forms, which, column, where):
    """The tag of a column, checked: of a known form, and the form first seen in the file for
    this kind of tag (``which``: "tag", "gold" or "predicted"; ``forms`` holds those first
    forms), so no file mixes 0/1 tags with prefixed ones."""
    tag = column.strip()
    kind = tag_family(tag)
    if kind is None:
        what = "" if which == "tag" else which + " "
        raise BadInputError(f"unknown {what}tag {tag!r} (expected O, B-X/I-X, E-X/S-X, or 0/1)",
                            where)
    if forms.setdefault(which, kind) != kind:
        raise BadInputError(f"{which} {tag!r} mixes {kind} tags into a file of {forms[which]} "
                            "tags", where)
    return tag


def read_predictions(path, encoding="utf-8", with_tokens=False):
    """A conlleval input: per sentence, (gold tags, predicted tags) from the last two columns,
    each normalised to BIO; with ``with_tokens``, (tokens, gold tags, predicted tags, number
    of the first line)."""
    name = display_name(path)
    lines = _all_lines(path, name, encoding)
    pairs, forms = [], {}
    for blocks in sentence_blocks(lines, 2):
        for first, lines in blocks:
            gold, pred, tokens = [], [], []
            for number, line in enumerate(lines, first):
                columns = split_columns(line)
                tokens.append(columns[0])
                if len(columns) < 3:
                    raise BadInputError("expected at least 3 columns: token ... gold predicted",
                                        f"{name}:{number}")
                gold.append(_checked_tag(forms, "gold", columns[-2], f"{name}:{number}"))
                pred.append(_checked_tag(forms, "predicted", columns[-1], f"{name}:{number}"))
            pairs.append((tokens, to_bio(gold), to_bio(pred), first) if with_tokens
                         else (to_bio(gold), to_bio(pred)))
    if not pairs:
        raise BadInputError("no sentences found (is the file empty?)", name)
    return pairs
