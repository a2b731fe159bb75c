"""Vocabularies and features: what the network sees of a token.

Each token becomes a fixed number of sparse features (one per template below), so the lecture's
``Wax x<t>`` is a sum of F rows of ``Wax`` instead of a product with a one-hot vector.
Templates give the word itself and its lower-cased form, and also its form (shape,
capitalisation, affixes), so that an unknown word is tagged by what it looks like. With name
lists (knowledge.NameTable) a template more says which lists the word is in (``g:LOC``).

With word vectors (knowledge.Vectors) a token also has a vector row: the cell's input gains
``Wv v<t>``, so a word never seen in training is placed by where its vector lies.
"""

import re
from itertools import repeat
from operator import itemgetter

import numpy as np

UNKNOWN = "<unk>"
TEMPLATES = ("w", "l", "s", "c", "p2", "p3", "x1", "x2", "x3", "x4")
N_TEMPLATES = len(TEMPLATES)  # without name lists; with them there is one more, NAME_TEMPLATE
NAME_TEMPLATE = "g"
NO_NAME = "-"  # the value of the name template for a word in no list


_ASCII_SHAPE = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "X" * 26 + "x" * 26 + "d" * 10,
)
_RUNS = re.compile(r"(.)(?=\1)")  # a character that the same one follows


def word_shape(token):
    """``Harry`` -> ``Xx``, ``U.S.`` -> ``X.X.``, ``1,000`` -> ``d,d``: letters and digits as
    classes, runs collapsed; other characters kept."""
    token = token[:32]
    if token.isascii() and token.isprintable() and " " not in token:  # common: at C speed
        return _RUNS.sub("", token.translate(_ASCII_SHAPE))
    out = []
    for ch in token[:32]:
        if ch.isupper():
            cls = "X"
        elif ch.isalpha():
            cls = "x"
        elif ch.isdigit():
            cls = "d"
        elif ch.isspace():
            cls = "_"
        else:
            cls = ch
        if not out or out[-1] != cls:
            out.append(cls)
    return "".join(out)


_NOT_ASCII_LETTER = re.compile(r"[^A-Za-z]+")


def case_class(token):
    """Capitalisation of the letters: none, lower, Title, UPPER or miXed."""
    if token.isascii():  # the common case, with str methods at C speed
        letters = _NOT_ASCII_LETTER.sub("", token)
        if not letters:
            return "none"
        if letters.islower():
            return "lower"
        if letters.isupper():
            return "upper" if len(letters) > 1 else "title"
        return "title" if letters[0].isupper() and letters[1:].islower() else "mixed"
    letters = [ch for ch in token if ch.isalpha()]
    if not letters:
        return "none"
    if all(ch.islower() for ch in letters):
        return "lower"
    if all(ch.isupper() for ch in letters):
        return "upper" if len(letters) > 1 else "title"
    if letters[0].isupper() and all(not ch.isupper() for ch in letters[1:]):
        return "title"
    return "mixed"


def token_features(token):
    """The feature strings of one token, one per template, in TEMPLATES order."""
    return tuple(column[0] for column in template_columns([token]))


_PREFIXES = tuple(name + ":" for name in TEMPLATES)  # "w:", "l:", ...
_PREFIX_2, _PREFIX_3 = itemgetter(slice(None, 2)), itemgetter(slice(None, 3))
_SUFFIXES = tuple(itemgetter(slice(-n, None)) for n in (1, 2, 3, 4))


def template_columns(tokens):
    """The feature strings of tokens, a list per template (TEMPLATES order) with a feature a
    token: the word, its lower-cased form, shape, case class, 2- and 3-letter prefixes and
    1- to 4-letter suffixes (of the lower-cased form). A column at a time, by maps at C speed
    (a token at a time was most of the cost of new words)."""
    lowers = list(map(str.lower, tokens))
    values = (tokens, lowers, map(word_shape, tokens), map(case_class, tokens),
              map(_PREFIX_2, lowers), map(_PREFIX_3, lowers),
              *(map(suffix, lowers) for suffix in _SUFFIXES))
    return [list(map(prefix.__add__, column)) for prefix, column in zip(_PREFIXES, values)]


def templates_for(names=None):
    """The templates of a feature vocabulary: the word's own, and the name lists' if any."""
    return TEMPLATES + ((NAME_TEMPLATE,) if names is not None else ())


def unknown_features(templates=TEMPLATES):
    """One unknown feature per template: rows 0 .. F-1 of Wax."""
    return [f"{name}:{UNKNOWN}" for name in templates]


def _name_features(names, strings):
    return [f"{NAME_TEMPLATE}:{label or NO_NAME}" for label in names.lookup(strings)]


def build_features(token_lists, min_count=2, max_features=None, names=None):
    """The feature vocabulary of a training corpus (sentences as lists of tokens): the unknown
    features, then every feature seen at least ``min_count`` times, most frequent first (ties
    in string order), at most ``max_features`` in all. With ``names`` (a NameTable), the
    name-list template's values count too."""
    templates = templates_for(names)
    string_counts = {}
    for tokens in token_lists:
        for token in tokens:
            string_counts[token] = string_counts.get(token, 0) + 1
    strings = list(string_counts)
    columns = template_columns(strings)
    if names is not None:
        columns.append(_name_features(names, strings))
    counts = {}
    for column in columns:
        for feature, n in zip(column, string_counts.values()):
            counts[feature] = counts.get(feature, 0) + n
    kept = sorted((f for f, n in counts.items() if n >= min_count), key=lambda f: (-counts[f], f))
    if max_features is not None:
        kept = kept[: max(0, max_features - len(templates))]
    return unknown_features(templates) + kept


class Featurizer:
    """Maps tokens to rows of feature ids (and, with word vectors, to vector rows), with a
    cache per distinct token string (text is Zipfian: most tokens are repeats, so the cost is a
    dict lookup)."""

    CACHE_LIMIT = 100_000

    def __init__(self, features, vectors=None, names=None):
        self.features = list(features)
        self.vectors = vectors  # knowledge.Vectors, or None
        self.names = names  # knowledge.NameTable, or None
        self.templates = templates_for(names)
        self.index = dict(zip(self.features, range(len(self.features))))  # 2x a comprehension
        self._cache = {}
        self._feature_ids = np.zeros((1024, len(self.templates)), dtype=np.int32)
        self._vector_rows = np.full(1024, -1, dtype=np.int64)
        self._n_strings = 0
        self.generation = 0  # bumped when the cache is cleared and string ids are reused

    def __len__(self):
        return len(self.features)

    def encode_strings(self, tokens):
        """(N,) tokens -> (N,) ids of their distinct strings, indexing ``string_features()``
        and ``string_vector_rows()``."""
        cache = self._cache
        ids = np.fromiter(map(cache.get, tokens, repeat(-1)), dtype=np.int64,
                          count=len(tokens))
        missing = np.flatnonzero(ids < 0).tolist()
        if missing:  # strings not seen before: featurized once each, as one block
            new_tokens = list(dict.fromkeys([tokens[i] for i in missing]))
            if self._n_strings and self._n_strings + len(new_tokens) > self.CACHE_LIMIT:
                # memory stays bounded on a stream: start again from these tokens' strings
                cache.clear()
                self._n_strings = 0
                self.generation += 1
                return self.encode_strings(tokens)
            self._add_strings(new_tokens)
            ids[missing] = [cache[tokens[i]] for i in missing]
        return ids

    def _add_strings(self, new_tokens):
        columns = template_columns(new_tokens)
        if self.names is not None:
            columns.append(_name_features(self.names, new_tokens))
        get = self.index.get
        n, m = self._n_strings, len(new_tokens)
        n_templates = len(self.templates)
        ids = np.empty((n_templates, m), dtype=np.int32)
        for k, column in enumerate(columns):  # an unknown value of template k is row k
            ids[k] = np.fromiter(map(get, column, repeat(k)), dtype=np.int32, count=m)
        if n + m > len(self._feature_ids):
            size = max(n + m, 2 * len(self._feature_ids))
            grown = np.zeros((size, n_templates), dtype=np.int32)
            grown[:n] = self._feature_ids[:n]
            self._feature_ids = grown
            rows = np.full(size, -1, dtype=np.int64)
            rows[:n] = self._vector_rows[:n]
            self._vector_rows = rows
        self._feature_ids[n:n + m] = ids.T
        if self.vectors is not None:
            self._vector_rows[n:n + m] = self.vectors.lookup(new_tokens)
        self._cache.update(zip(new_tokens, range(n, n + m)))
        self._n_strings = n + m

    def string_features(self):
        """(n_strings, F) feature ids of every distinct token string seen so far."""
        return self._feature_ids[: self._n_strings]

    def string_vector_rows(self):
        """(n_strings,) row of each distinct string's word vector, -1 for none (or no
        vectors)."""
        return self._vector_rows[: self._n_strings]

    def encode(self, tokens):
        """(N,) tokens -> (N, F) int32 feature ids."""
        ids = self.encode_strings(tokens)  # may grow self._feature_ids: index it afterwards
        return self._feature_ids[ids]


def encode_tags(tag_lists, tagset):
    """Sentences of tags -> one (N,) int32 array of tag indices."""
    index = {t: i for i, t in enumerate(tagset)}
    return np.fromiter((index[t] for tags in tag_lists for t in tags), dtype=np.int32)
