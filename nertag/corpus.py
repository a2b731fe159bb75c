"""Reading corpora: the only module that parses files. ``-`` means standard input.

A corpus is CoNLL-style: one token per line, the token in the first column and the gold tag in
the last; columns split on tabs when the line has one (so an empty or whitespace token survives,
as in the Broad Twitter Corpus), else on runs of spaces; blank lines end sentences; ``-DOCSTART-``
and ``#`` comment lines are skipped; UTF-8 with or without a BOM, LF or CRLF line ends.
"""

import os
import re
import sys
from dataclasses import dataclass, field

from .errors import BadInputError
from .tags import tag_family, to_bio

DOCSTART = "-DOCSTART-"


@dataclass
class Sentence:
    tokens: list
    tags: list = None  # normalised BIO tags, None when the corpus has no tag column
    rows: list = field(default=None, repr=False)  # the input lines, kept for CoNLL output
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
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise BadInputError("no such file", path) from None
    except IsADirectoryError:
        raise BadInputError("is a directory, not a corpus file", path) from None
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror}", path) from None


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
        if number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise BadInputError("the file is UTF-16: convert it to UTF-8 "
                                "(iconv -f UTF-16 -t UTF-8)", f"{name}:1")
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
    stream = open_text(path)
    try:
        return [(1, [line for _, line in iter_lines(stream, name, encoding)])]
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _first_column(line):
    """The token of a CoNLL line, as split_columns would give it, without splitting the rest."""
    return line[: line.index("\t")] if "\t" in line else line.split(None, 1)[0]


def _sentence_blocks(batches, n_tags):
    """The one place that finds sentences in CoNLL lines. For each batch of lines,
    ``(number of its first line, lines)``, the sentences it completes, each ``(number of its
    first line, its lines)``: a blank line ends a sentence, a ``-DOCSTART-`` line ends one and
    is dropped, a comment line at a sentence start is dropped (see _is_comment; ``n_tags`` is
    how many tag columns a line ends with). The last sentence comes when the batches end."""
    block_first, block = 0, []  # the sentence still open
    for first, lines in batches:
        done = []
        ends = [i for i, line in enumerate(lines)  # blank or -DOCSTART- lines
                if not line or line.isspace()
                or (DOCSTART in line and _first_column(line) == DOCSTART)]
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
        if done:
            yield done
    if block:
        yield [(block_first, block)]


def _pieces(block, max_tokens):
    """A sentence ``(first line number, lines)`` in pieces of at most ``max_tokens`` lines."""
    first, rows = block
    if not max_tokens or len(rows) <= max_tokens:
        return [block]
    return [(first + i, rows[i:i + max_tokens]) for i in range(0, len(rows), max_tokens)]


def read_conll(path, with_tags=True, max_tokens=None, encoding="utf-8"):
    """Read a CoNLL file into a Corpus of BIO-normalised sentences.

    with_tags=False reads tokens only (text to tag in CoNLL layout); the input rows are kept so
    output can repeat them. A line that is only a tag-less token in a tagged corpus, a tag of no
    known form, or a mix of binary and BIO tags is an error naming the file and line.
    """
    name = display_name(path)
    lines = _all_lines(path, name, encoding)
    sentences, family = [], None
    for blocks in _sentence_blocks(lines, 1 if with_tags else 0):
        for block in blocks:
            for first, rows in _pieces(block, max_tokens):
                tokens, tags = [], []
                for number, line in enumerate(rows, first):
                    columns = split_columns(line)
                    tokens.append(columns[0])
                    if with_tags:
                        tags.append(_checked_tag(columns, name, number))
                        kind = tag_family(tags[-1])
                        if family is None:
                            family = kind
                        elif kind != family:
                            raise BadInputError(f"tag {tags[-1]!r} mixes {kind} tags into a "
                                                f"corpus of {family} tags", f"{name}:{number}")
                sentences.append(Sentence(tokens, to_bio(tags) if with_tags else None,
                                          rows, first))
    if with_tags and not sentences:
        raise BadInputError("no sentences found (is the file empty?)", name)
    return Corpus(name, sentences, family)


def _checked_tag(columns, name, number):
    if len(columns) < 2:
        raise BadInputError(f"token {columns[0]!r} has no tag column", f"{name}:{number}")
    tag = columns[-1].strip()
    if tag_family(tag) is None:
        raise BadInputError(f"unknown tag {tag!r} (expected O, B-X/I-X, E-X/S-X, or 0/1)",
                            f"{name}:{number}")
    return tag


# ------------------------------------------------------------------------ text to tag

READ_CHUNK = 1 << 20


def iter_line_batches(path, span=None, encoding="utf-8"):
    """Batches of lines from a file or stdin as soon as they arrive: ``(number of the first
    line, [lines])``, line ends removed. ``span=(start, stop)`` reads only those bytes of a
    regular file (``stop`` None: to the end); line numbers then count from the span's start.

    Each read takes what is available (up to READ_CHUNK bytes), so a file is read in large
    batches while an interactive pipe gets each line answered when it comes. Text to tag is
    decoded leniently: bytes that are not UTF-8 become lone surrogates, written back unchanged.
    """
    name = display_name(path)
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
            text = complete.decode(encoding, "surrogateescape")
            if number == 1 and text.startswith("\ufeff"):
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
        if stream is not sys.stdin.buffer:
            stream.close()


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
        stream.seek(around)
        data = stream.read(1 << 22)
    marks = (b"\n\n", b"\n\r\n") if conll else (b"\n",)
    found = [data.find(m) for m in marks]
    found = [(at, len(m)) for at, m in zip(found, marks) if at >= 0]
    if not found:
        return None
    at, size = min(found)
    return around + at + size


def iter_conll_batches(path, max_tokens=None, span=None, encoding="utf-8"):
    """Batches of tag-less Sentences (token = first column, rows kept) from a CoNLL stream,
    each sentence yielded once its blank line (or the end) has arrived."""
    for blocks in _sentence_blocks(iter_line_batches(path, span, encoding), 0):
        yield [Sentence(_first_columns(rows), None, rows, first)
               for block in blocks for first, rows in _pieces(block, max_tokens)]


_TAB_FIRST = re.compile(r"^([^\t\n]*)\t", re.MULTILINE)


def _first_columns(rows):
    """[_first_column(row) for row in rows], by one C-speed pass over the joined rows when
    every row has a tab, or none has a tab and each holds one field."""
    joined = "\n".join(rows)
    if "\t" in joined:
        firsts = _TAB_FIRST.findall(joined)
        if len(firsts) == len(rows):  # one match a row: each row's text before its tab
            return firsts
    else:
        fields = joined.split()
        if len(fields) == len(rows):  # one field a row
            return fields
    return [_first_column(row) for row in rows]


def read_predictions(path, encoding="utf-8"):
    """A conlleval input: per sentence, (gold tags, predicted tags) from the last two columns,
    each normalised to BIO."""
    name = display_name(path)
    lines = _all_lines(path, name, encoding)
    pairs, families = [], {}
    for blocks in _sentence_blocks(lines, 2):
        for first, rows in blocks:
            gold, pred = [], []
            for number, line in enumerate(rows, first):
                columns = split_columns(line)
                if len(columns) < 3:
                    raise BadInputError("expected at least 3 columns: token ... gold predicted",
                                        f"{name}:{number}")
                for which, tag, out in (("gold", columns[-2].strip(), gold),
                                        ("predicted", columns[-1].strip(), pred)):
                    kind = tag_family(tag)
                    if kind is None:
                        raise BadInputError(f"unknown {which} tag {tag!r}", f"{name}:{number}")
                    if families.setdefault(which, kind) != kind:
                        raise BadInputError(f"{which} tag {tag!r} mixes {kind} tags into "
                                            f"{families[which]} tags", f"{name}:{number}")
                    out.append(tag)
            pairs.append((to_bio(gold), to_bio(pred)))
    if not pairs:
        raise BadInputError("no sentences found (is the file empty?)", name)
    return pairs


def read_embeddings(path, limit=None):
    """Word vectors in word2vec's text format: an optional ``count dim`` header, then
    ``word v1 ... vd`` a line. Returns (words, (n, d) float32), at most ``limit`` words (the
    first ones: such files are sorted by frequency). The parsing is knowledge.read_vectors_text's.
    """
    from .knowledge import read_vectors_text

    vectors = read_vectors_text(path, limit)
    return vectors.words, vectors.matrix()
