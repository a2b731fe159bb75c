"""tags.py: tag forms, normalisation to BIO (IOB2) and entity spans by conlleval's chunk rules.

Every expected value below is worked out by hand from conlleval.pl's startOfChunk/endOfChunk
(with the BIOES extension of its Python ports: S starts and ends a chunk, E ends one).
"""

import pytest

from nertag.tags import (
    BINARY_TYPE,
    OUTSIDE,
    binary_to_bio,
    bio_tagset,
    entity_types,
    spans,
    split_tag,
    tag_family,
    to_binary,
    to_bio,
)


def T(s):
    """'B-PER I-PER O' -> ['B-PER', 'I-PER', 'O']"""
    return s.split()


# ------------------------------------------------------------------------------ spans


@pytest.mark.parametrize(
    "tags, expected",
    [
        # IOB2
        ("B-PER I-PER O B-LOC", [(0, 2, "PER"), (3, 4, "LOC")]),
        ("B-PER B-PER", [(0, 1, "PER"), (1, 2, "PER")]),
        ("O O O", []),
        ("", []),
        ("B-ORG", [(0, 1, "ORG")]),
        ("O B-ORG I-ORG I-ORG", [(1, 4, "ORG")]),
        # IOB1: I- after O starts an entity; B- separates two adjacent entities of one type
        ("I-PER I-PER B-PER", [(0, 2, "PER"), (2, 3, "PER")]),
        ("O I-LOC O I-LOC I-LOC", [(1, 2, "LOC"), (3, 5, "LOC")]),
        ("I-PER", [(0, 1, "PER")]),
        # an I-X right after B-Y / I-Y starts a new X entity
        ("B-PER I-LOC", [(0, 1, "PER"), (1, 2, "LOC")]),
        ("B-PER I-PER I-LOC I-LOC", [(0, 2, "PER"), (2, 4, "LOC")]),
        # type change inside an I- run (IOB1 without B-)
        ("I-PER I-ORG I-ORG I-PER", [(0, 1, "PER"), (1, 3, "ORG"), (3, 4, "PER")]),
        # B- after I- of the same type: a new entity
        ("B-LOC I-LOC B-LOC I-LOC", [(0, 2, "LOC"), (2, 4, "LOC")]),
        # BIOES
        ("S-PER", [(0, 1, "PER")]),
        ("B-LOC E-LOC", [(0, 2, "LOC")]),
        ("B-LOC I-LOC E-LOC O S-PER", [(0, 3, "LOC"), (4, 5, "PER")]),
        ("S-PER S-PER", [(0, 1, "PER"), (1, 2, "PER")]),
        ("B-ORG E-ORG I-ORG", [(0, 2, "ORG"), (2, 3, "ORG")]),  # I after E starts a chunk
        ("B-ORG E-ORG E-ORG", [(0, 2, "ORG"), (2, 3, "ORG")]),  # E after E starts a chunk
        ("S-LOC I-LOC", [(0, 1, "LOC"), (1, 2, "LOC")]),
        ("B-PER S-PER", [(0, 1, "PER"), (1, 2, "PER")]),
        # BILOU spelling of the same
        ("U-PER", [(0, 1, "PER")]),
        ("B-LOC L-LOC", [(0, 2, "LOC")]),
        ("B-MISC I-MISC L-MISC U-ORG", [(0, 3, "MISC"), (3, 4, "ORG")]),
        # underscore separator
        ("B_PER I_PER", [(0, 2, "PER")]),
        # GMB-style lower-case type names
        ("B-geo I-geo O B-tim", [(0, 2, "geo"), (3, 4, "tim")]),
        # entity running to the end of the sentence
        ("O O I-MISC I-MISC", [(2, 4, "MISC")]),
    ],
)
def test_spans(tags, expected):
    assert spans(T(tags)) == expected


def test_spans_accepts_any_iterable():
    assert spans(iter(T("B-PER I-PER"))) == [(0, 2, "PER")]
    assert spans(tuple(T("O I-LOC"))) == [(1, 2, "LOC")]


@pytest.mark.parametrize(
    "scheme_a, scheme_b",
    [
        ("I-PER I-PER B-PER O I-LOC", "B-PER I-PER B-PER O B-LOC"),  # IOB1 vs IOB2
        ("B-PER E-PER S-PER O S-LOC", "B-PER I-PER B-PER O B-LOC"),  # BIOES vs IOB2
        ("B-PER L-PER U-PER O U-LOC", "I-PER I-PER B-PER O I-LOC"),  # BILOU vs IOB1
    ],
)
def test_same_entities_in_different_schemes(scheme_a, scheme_b):
    expected = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC")]
    assert spans(T(scheme_a)) == expected
    assert spans(T(scheme_b)) == expected


# ------------------------------------------------------------------------------ to_bio


@pytest.mark.parametrize(
    "tags, expected",
    [
        ("B-PER I-PER O B-LOC", "B-PER I-PER O B-LOC"),  # already IOB2
        ("I-PER I-PER B-PER", "B-PER I-PER B-PER"),  # IOB1
        ("O I-LOC I-LOC O I-ORG", "O B-LOC I-LOC O B-ORG"),  # IOB1
        ("I-PER I-ORG", "B-PER B-ORG"),  # type change in an I- run
        ("B-PER I-LOC", "B-PER B-LOC"),
        ("S-PER O B-LOC I-LOC E-LOC", "B-PER O B-LOC I-LOC I-LOC"),  # BIOES
        ("U-PER B-LOC L-LOC", "B-PER B-LOC I-LOC"),  # BILOU
        ("B-ORG E-ORG E-ORG", "B-ORG I-ORG B-ORG"),
        ("S-PER S-PER", "B-PER B-PER"),
        ("B_PER I_PER", "B-PER I-PER"),
        ("O O", "O O"),
        ("", ""),
    ],
)
def test_to_bio(tags, expected):
    assert to_bio(T(tags)) == T(expected)


@pytest.mark.parametrize(
    "tags, expected",
    [
        ("1 1 0 1 1 0 0 0 0", "B-ENT I-ENT O B-ENT I-ENT O O O O"),  # the lecture's sentence
        ("0 0", "O O"),
        ("1", "B-ENT"),
        ("0 1 1 1", "O B-ENT I-ENT I-ENT"),
        ("1 0 1", "B-ENT O B-ENT"),
    ],
)
def test_to_bio_binary(tags, expected):
    assert to_bio(T(tags)) == T(expected)
    assert binary_to_bio(T(tags)) == T(expected)


def test_to_bio_output_gives_same_spans():
    for tags in ("I-PER I-PER B-PER O I-LOC I-ORG", "S-PER B-LOC E-LOC E-LOC U-MISC"):
        assert spans(to_bio(T(tags))) == spans(T(tags))


def test_to_bio_result_is_valid_iob2():
    out = to_bio(T("I-PER I-LOC I-LOC O I-PER E-PER S-ORG I-ORG"))
    assert out == T("B-PER B-LOC I-LOC O B-PER I-PER B-ORG B-ORG")


def test_binary_to_bio_type_name():
    assert BINARY_TYPE == "ENT"
    assert binary_to_bio([]) == []
    assert spans(binary_to_bio(T("1 1 0 1"))) == [(0, 2, "ENT"), (3, 4, "ENT")]


# --------------------------------------------------------------------- forms and families


@pytest.mark.parametrize(
    "tag, family",
    [
        ("0", "binary"),
        ("1", "binary"),
        ("O", "bio"),
        ("B-PER", "bio"),
        ("I-geo", "bio"),
        ("E-LOC", "bio"),
        ("S-ORG", "bio"),
        ("L-LOC", "bio"),
        ("U-MISC", "bio"),
        ("B-creative-work", "bio"),
        ("B_PER", "bio"),
        ("PER", None),
        ("X-FOO", None),
        ("B-", None),
        ("B", None),
        ("I", None),
        ("", None),
        ("2", None),
        ("o", None),
        ("b-per", None),
        ("domain=train", None),
        ("BPER", None),
    ],
)
def test_tag_family(tag, family):
    assert tag_family(tag) == family


@pytest.mark.parametrize(
    "tag, parts",
    [
        ("O", ("O", "")),
        ("B-PER", ("B", "PER")),
        ("I-creative-work", ("I", "creative-work")),
        ("L-LOC", ("E", "LOC")),
        ("U-LOC", ("S", "LOC")),
        ("E-LOC", ("E", "LOC")),
        ("S-LOC", ("S", "LOC")),
        ("PER", None),
    ],
)
def test_split_tag(tag, parts):
    assert split_tag(tag) == parts


def test_tagset_helpers():
    assert OUTSIDE == "O"
    assert entity_types(T("B-PER I-PER O B-LOC B-PER")) == ["LOC", "PER"]
    assert entity_types(T("O O")) == []
    assert bio_tagset(["LOC", "PER"]) == T("O B-LOC I-LOC B-PER I-PER")
    assert to_binary(T("B-PER I-PER O B-LOC")) == [1, 1, 0, 1]


def test_map_types_renames_drops_and_repairs():
    from nertag.tags import map_types

    tags = ["B-geo", "I-geo", "B-tim", "I-tim", "O", "B-per", "I-per"]
    assert map_types(tags, {"geo": "LOC", "tim": "O", "per": "PER"}) == [
        "B-LOC", "I-LOC", "O", "O", "O", "B-PER", "I-PER"]
    # two adjacent types merged into one stay two entities; an I- after a dropped one is a B-
    assert map_types(["B-a", "B-b", "I-b"], {"a": "X", "b": "X"}) == ["B-X", "B-X", "I-X"]
    assert map_types(["B-a", "I-b"], {"a": "O"}) == ["O", "B-b"]
    assert map_types(tags, {}) is tags
