"""Raw text -> tokens with character offsets (``text[start:end] == token``).

Close to the CoNLL/Penn conventions the corpora use: punctuation split off, English clitics
(``'s``, ``n't``) separate, abbreviations (``U.S.``), numbers (``1,000.5``), URLs, e-mail
addresses and hyphenated or apostrophised names (``Jean-Luc``, ``O'Brien``) kept whole. ``@`` and
``#`` are split from the name after them, as in the Broad Twitter Corpus.
"""

import re
import unicodedata
from itertools import accumulate
from operator import add

# a word character: \w, or a combining mark (so decomposed accents stay inside their word)
_W = r"(?:\w|[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])"

_TOKEN = re.compile(
    r"""
    (?:https?://|www\.)[^\s<>"]+[^\s<>".,;:!?)\]}'] # URL
  | [\w.+-]+@[\w-]+(?:\.[\w-]+)+                   # e-mail address
  | (?:[^\W\d_]\.){2,}                             # U.S. U.K.
  | \d+(?:[.,:/-]\d+)*(?!\w)                        # 1,000.5  12:30  2024-01-02
  | (?i:n['’]t|['’](?:s|re|ve|ll|d|m))(?!\w)        # clitics
  | @W@+(?=(?i:n['’]t)(?!\w))                        # do|n't
  | @W@+(?:[-'’]@W@+)*?(?=(?i:['’](?:s|re|ve|ll|d|m))(?!\w))  # Harry|'s
  | @W@+(?:[-'’]@W@+)*                                  # words, Jean-Luc, O'Brien
  | \.\.\.|--                                      # ellipsis, dash
  | \S                                             # any other character
    """.replace("@W@", _W),
    re.VERBOSE,
)


def _is_mark(ch):
    return unicodedata.category(ch)[0] == "M"


_CHUNK = re.compile(r"\S+")
# a line of plain ASCII words and lone symbols between spaces: str.split() is its tokenization
_SIMPLE = re.compile(r"\s*(?:(?:[A-Za-z0-9]+|[!-/:-@\[-`{-~])(?:\s+|$))*")


def tokenize_lazily(text):
    """``tokenize(text)``, but (tokens, None, None) for an ASCII line, whose offsets are left
    to be found only if an output format needs them (quicker)."""
    if _SIMPLE.fullmatch(text):
        return text.split(), None, None
    if text.isascii():  # no combining marks to glue: each word is tokenized on its own
        tokens = []
        for word in text.split():
            if len(word) == 1 or word.isalnum():  # a token as it stands
                tokens.append(word)
            else:
                tokens += _TOKEN.findall(word)
        return tokens, None, None
    return tokenize(text)


def split_tokens(text):
    """The tokens of ``tokenize(text)`` without their offsets."""
    return tokenize_lazily(text)[0]


def single_spaced(text, tokens):
    """Whether text is exactly its tokens with one space between each two (CoNLL input, a
    plain line): then a token's offsets follow from the lengths alone."""
    return text.split() == tokens and text == " ".join(tokens)


def token_offsets(text, tokens):
    """(starts, ends) of tokens that occur in order in text."""
    if tokens and single_spaced(text, tokens):
        lengths = list(map(len, tokens))
        starts = list(accumulate(map((1).__add__, lengths[:-1]), initial=0))  # at C speed
        return starts, list(map(add, starts, lengths))
    starts, ends, at = [], [], 0
    for token in tokens:
        at = text.find(token, at)
        starts.append(at)
        at += len(token)
        ends.append(at)
    return starts, ends


def tokenize(text):
    """(tokens, starts, ends) of a line of text."""
    tokens, starts, ends = [], [], []
    for chunk in _CHUNK.finditer(text):
        word = chunk.group()
        # most chunks are a plain word or a lone punctuation mark: nothing to split
        if (word.isalnum() and word.isascii()) or (len(word) == 1 and not _is_mark(word)):
            tokens.append(word)
            starts.append(chunk.start())
            ends.append(chunk.end())
        else:
            _tokenize_chunk(text, chunk.start(), chunk.end(), tokens, starts, ends)
    return tokens, starts, ends


def _tokenize_chunk(text, begin, stop, tokens, starts, ends):
    for match in _TOKEN.finditer(text, begin, stop):
        start, end = match.span()
        # a combining mark of any script (Devanagari vowel signs, Arabic harakat...) glues the
        # pieces on either side of it into one word, as it does in writing
        if ends and ends[-1] == start and (_is_mark(text[start]) or _is_mark(text[start - 1])):
            ends[-1] = end
            tokens[-1] = text[starts[-1]:end]
            continue
        tokens.append(match.group())
        starts.append(start)
        ends.append(end)
