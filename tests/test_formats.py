"""formats.py: the exact output of each format for TaggedText records built by hand."""

import json

import pytest

from nertag.formats import (
    FORMATTERS,
    TaggedText,
    _json_object,
    format_binary,
    format_conll,
    format_inline,
    format_json,
)


def record(text, tokens, tags, scores=None, **kwargs):
    """A TaggedText whose offsets are found by scanning ``text`` for each token in turn."""
    starts, ends, at = [], [], 0
    for tok in tokens:
        start = text.index(tok, at)
        starts.append(start)
        ends.append(start + len(tok))
        at = start + len(tok)
    if scores is None:
        scores = [1.0] * len(tokens)
    return TaggedText(text, list(tokens), list(tags), list(scores), starts=starts, ends=ends,
                      **kwargs)


def harry():
    text = "Harry Potter met Hermione Granger"
    return record(text, text.split(), "B-PER I-PER O B-PER I-PER".split(),
                  [0.9, 0.8, 0.99, 0.5, 0.5])


def lecture(binary_model=False):
    # the lecture's X, with its Y as gold-like BIO tags
    text = "Harry Potter and Hermione Granger invented a new spell"
    tags = "B-ENT I-ENT O B-ENT I-ENT O O O O".split()
    return record(text, text.split(), tags, binary_model=binary_model)


# ----------------------------------------------------------------------------- inline


def test_inline():
    assert format_inline(harry()) == "[PER Harry Potter] met [PER Hermione Granger]\n"


def test_inline_keeps_text_between_entities():
    text = "Yesterday,  Harry Potter met\tHermione Granger."
    r = record(text, ["Yesterday", ",", "Harry", "Potter", "met", "Hermione", "Granger", "."],
               "O O B-PER I-PER O B-PER I-PER O".split())
    assert format_inline(r) == "Yesterday,  [PER Harry Potter] met\t[PER Hermione Granger].\n"


def test_inline_adjacent_entities_and_types():
    text = "Paris London Acme Corp"
    r = record(text, text.split(), "B-LOC B-LOC B-ORG I-ORG".split())
    assert format_inline(r) == "[LOC Paris] [LOC London] [ORG Acme Corp]\n"


def test_inline_entity_at_start_and_end():
    r = record("Bob", ["Bob"], ["B-PER"])
    assert format_inline(r) == "[PER Bob]\n"


def test_inline_no_entities_and_empty_text():
    r = record("nothing here", ["nothing", "here"], ["O", "O"])
    assert format_inline(r) == "nothing here\n"
    assert format_inline(record("", [], [])) == "\n"


def test_inline_iob1_like_tags_still_make_entities():
    # an I- after O starts an entity (conlleval's rules)
    r = record("met Bob", ["met", "Bob"], ["O", "I-PER"])
    assert format_inline(r) == "met [PER Bob]\n"


# ------------------------------------------------------------------------------ conll


def test_conll():
    assert format_conll(harry()) == (
        "Harry\tB-PER\nPotter\tI-PER\nmet\tO\nHermione\tB-PER\nGranger\tI-PER\n\n"
    )


def test_conll_repeats_input_rows():
    r = record("Harry met", ["Harry", "met"], ["B-PER", "O"],
               lines=["Harry\tNNP\tx", "met\tVBD\ty"])
    assert format_conll(r) == "Harry\tNNP\tx\tB-PER\nmet\tVBD\ty\tO\n\n"


def test_conll_binary_model_speaks_0_1():
    assert format_conll(lecture(binary_model=True)) == (
        "Harry\t1\nPotter\t1\nand\t0\nHermione\t1\nGranger\t1\ninvented\t0\na\t0\nnew\t0\n"
        "spell\t0\n\n"
    )


def test_conll_empty_record():
    assert format_conll(record("", [], [])) == "\n"


# ----------------------------------------------------------------------------- binary


def test_binary_lecture_sentence():
    assert format_binary(lecture()) == "1 1 0 1 1 0 0 0 0\n"
    assert format_binary(lecture(binary_model=True)) == "1 1 0 1 1 0 0 0 0\n"


def test_binary_typed_tags():
    assert format_binary(harry()) == "1 1 0 1 1\n"


def test_binary_empty():
    assert format_binary(record("", [], [])) == "\n"


# ------------------------------------------------------------------------------- json


def test_json_harry():
    line = format_json(harry())
    assert line.endswith("\n") and line.count("\n") == 1
    obj = json.loads(line)
    text = obj["text"]
    assert text == "Harry Potter met Hermione Granger"
    assert [t["text"] for t in obj["tokens"]] == text.split()
    assert [t["tag"] for t in obj["tokens"]] == "B-PER I-PER O B-PER I-PER".split()
    assert [t["score"] for t in obj["tokens"]] == [0.9, 0.8, 0.99, 0.5, 0.5]
    for t in obj["tokens"]:
        assert text[t["start"]:t["end"]] == t["text"]
    ents = obj["entities"]
    assert [(e["text"], e["label"], e["start"], e["end"]) for e in ents] == [
        ("Harry Potter", "PER", 0, 12),
        ("Hermione Granger", "PER", 17, 33),
    ]
    for e in ents:
        assert text[e["start"]:e["end"]] == e["text"]
    # an entity's score is the product of its tokens' scores
    assert ents[0]["score"] == pytest.approx(0.72)
    assert ents[1]["score"] == pytest.approx(0.25)


def test_json_binary_model():
    obj = json.loads(format_json(lecture(binary_model=True)))
    assert [t["tag"] for t in obj["tokens"]] == list("110110000")
    assert [e["text"] for e in obj["entities"]] == ["Harry Potter", "Hermione Granger"]
    assert {e["label"] for e in obj["entities"]} == {"ENT"}


def test_json_non_ascii_kept_readable():
    text = "Zoë met Łódź"
    r = record(text, ["Zoë", "met", "Łódź"], ["B-PER", "O", "B-LOC"])
    line = format_json(r)
    assert "Zoë" in line and "Łódź" in line
    obj = json.loads(line)
    assert [text[e["start"]:e["end"]] for e in obj["entities"]] == ["Zoë", "Łódź"]
    assert [e["text"] for e in obj["entities"]] == ["Zoë", "Łódź"]


def test_json_newlines_in_text_stay_on_one_line():
    text = "Bob\nsaid"
    r = record(text, ["Bob", "said"], ["B-PER", "O"])
    line = format_json(r)
    assert line.count("\n") == 1
    assert json.loads(line)["text"] == text


def test_json_lone_surrogate():
    # bytes that were not UTF-8 arrive as lone surrogates: the line must still be valid UTF-8
    text = "caf\udce9 Bob"
    r = record(text, ["caf", "\udce9", "Bob"], ["O", "O", "B-PER"])
    line = format_json(r)
    assert line.isascii()
    line.encode("utf-8")  # no UnicodeEncodeError
    obj = json.loads(line)
    assert obj["text"] == text
    assert obj["tokens"][1]["text"] == "\udce9"
    [ent] = obj["entities"]
    assert obj["text"][ent["start"]:ent["end"]] == ent["text"] == "Bob"


def test_json_empty_record():
    obj = json.loads(format_json(record("", [], [])))
    assert obj == {"text": "", "tokens": [], "entities": []}


def test_formatters_table():
    assert set(FORMATTERS) == {"inline", "conll", "json", "binary", "html"}
    assert FORMATTERS["inline"] is format_inline
    assert FORMATTERS["json"] is format_json


# ----------------------------------------------------------------------------- record


def test_entities_char_offsets():
    r = harry()
    ents = r.entities()
    assert [(s, e, label) for s, e, label, _ in ents] == [(0, 12, "PER"), (17, 33, "PER")]
    assert ents[0][3] == pytest.approx(0.9 * 0.8)


def test_output_tags():
    assert lecture().output_tags() == "B-ENT I-ENT O B-ENT I-ENT O O O O".split()
    assert lecture(binary_model=True).output_tags() == list("110110000")


# ---------------------------------------------------------- fast writers = slow definitions

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WORDS = st.sampled_from(["Harry", "Potter", "é", "東京", '"q"', "back\\slash", "\t", "😀",
                         "\x00", "\u2028", ",", "a b", "", " "])
TAG_RUNS = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-ORG"])


def _random_record(tokens, tags, scores, joined):
    tags = (tags * len(tokens))[:len(tokens)]
    scores = (scores * len(tokens))[:len(tokens)]
    text = (" " if joined else "  ").join(tokens)
    return record(text, tokens, tags, scores)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=8), st.lists(TAG_RUNS, min_size=1, max_size=8),
       st.lists(st.floats(0, 1) | st.sampled_from([float("nan"), float("inf")]), min_size=1,
                max_size=8), st.booleans())
def test_json_writer_writes_what_json_dumps_writes(tokens, tags, scores, joined):
    from nertag.formats import _json_object

    r = _random_record(tokens, tags, scores, joined)
    assert format_json(r) == json.dumps(_json_object(r), ensure_ascii=False) + "\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=8), st.lists(TAG_RUNS, min_size=1, max_size=8),
       st.booleans())
def test_inline_fast_path_agrees_with_offsets(tokens, tags, joined):
    r = _random_record(tokens, tags, [1.0], joined)
    slow = TaggedText(r.text, r.tokens, r.tags, r.scores, starts=r.starts, ends=r.ends)
    fast = TaggedText(r.text, r.tokens, r.tags, None)  # offsets unknown: the fast path if joined
    assert format_inline(fast) == format_inline(slow)


def test_json_non_finite_scores_are_written_as_null():
    # NaN and Infinity are not JSON: a strict parser must read every line
    r = record("Harry met", ["Harry", "met"], ["B-PER", "O"], [float("nan"), float("inf")])
    line = format_json(r)
    assert "NaN" not in line and "Infinity" not in line

    def strict(name):
        raise ValueError(name)

    obj = json.loads(line, parse_constant=strict)
    assert [t["score"] for t in obj["tokens"]] == [None, None]
    assert obj["entities"][0]["score"] is None
    assert obj == _json_object(r)


RECORDS = st.lists(st.tuples(st.lists(WORDS | st.sampled_from(["\udcff", "x\udcffy"]),
                                      max_size=6),
                             st.lists(TAG_RUNS, min_size=1, max_size=6),
                             st.lists(st.floats(0, 1) | st.sampled_from(
                                 [float("nan"), float("inf"), -0.0, 0.03125, 0.00005]),
                                 min_size=1, max_size=6),
                             st.booleans(), st.booleans()), max_size=6)


@settings(max_examples=300, deadline=None)
@given(RECORDS)
def test_json_lines_of_a_batch_write_what_json_dumps_writes(specs):
    """json_lines writes a batch at once (offsets, quoting and scores found for all its
    records together): each line is still json.dumps of the record, whatever its neighbours
    (offsets known or not, single-spaced or not, bytes that were not UTF-8, no tokens)."""
    from nertag.formats import _json_object, json_lines

    records = []
    for tokens, tags, scores, joined, known in specs:
        r = _random_record(tokens, tags, scores, joined)
        if not known:  # offsets left to be found, as for a plain line of input
            r.starts = r.ends = None
        records.append(r)
    expected = []
    for r in records:
        ascii_only = "\udcff" in r.text  # what format_json escapes: the line stays UTF-8
        expected.append(json.dumps(_json_object(r), ensure_ascii=ascii_only) + "\n")
    assert json_lines(records) == "".join(expected)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 20000).map(lambda k: k / 20000) | st.floats(0, 1)
                | st.floats(-1, 2) | st.sampled_from([float("nan"), float("inf"), -0.0, 0.0,
                                                     1e305, -1e305, 5e-324]),
                max_size=20),
       st.floats(-1e-9, 1e-9))
def test_score_texts_are_the_four_place_roundings(scores, nudge):
    """Scores written from the table of 4-place roundings are what round() and repr() write,
    also at and near the ties of the 5th place (0.00005, 0.03125 ...), and for what is not a
    probability (NaN, infinity, zero, negative, above 1)."""
    from nertag.formats import _number, _score_texts

    scores = [s + nudge if 0 < s < 1 else s for s in scores]
    assert _score_texts(scores) == [_number(s) for s in scores]


def test_json_lines_entities_end_at_a_record_and_start_where_bio_spans_starts_them():
    from nertag.formats import json_lines

    records = [record("Harry", ["Harry"], ["B-PER"], [0.5]),
               record("Potter met", ["Potter", "met"], ["I-PER", "O"], [0.25, 0.125]),
               record("a b c d e", list("abcde"), ["O", "I-ORG", "I-LOC", "B-LOC", "I-LOC"],
                      [0.375, 0.5, 0.5, 0.5, 0.5]),
               record("", [], [], [])]
    lines = [json.loads(line) for line in json_lines(records).splitlines()]
    # an O token's score (0.125, 0.375) is in no entity's product
    assert [[(e["text"], e["label"], e["score"]) for e in line["entities"]]
            for line in lines] == [[("Harry", "PER", 0.5)], [("Potter", "PER", 0.25)],
                                   [("b", "ORG", 0.5), ("c", "LOC", 0.5), ("d e", "LOC", 0.25)],
                                   []]


def test_json_lines_refuses_a_record_without_a_tag_and_a_score_a_token():
    from nertag.formats import json_lines

    good = record("a b", ["a", "b"], ["O", "B-PER"], [1.0, 0.5])
    for bad in (TaggedText("c", ["c"], ["O", "B-PER"], [1.0]),  # a tag too many
                TaggedText("c", ["c"], ["O"], [])):  # no score
        with pytest.raises(ValueError, match="a tag and a score for each"):
            json_lines([bad, good])


def test_json_lines_entity_products_of_zero_and_infinity_are_written_as_math_prod_gives():
    """0 x inf is NaN and an overflow is inf, written null as Doc.to_dict() writes them,
    without NumPy's warnings."""
    from nertag.formats import _json_object, json_lines

    records = [record("a b", ["a", "b"], ["B-PER", "I-PER"], [0.0, float("inf")]),
               record("c d", ["c", "d"], ["B-LOC", "I-LOC"], [1e200, 1e200])]
    assert json_lines(records) == "".join(
        json.dumps(_json_object(r), ensure_ascii=False) + "\n" for r in records)


def test_json_lines_multiplies_float32_scores_as_entity_spans_does():
    """A library caller's float32 scores: an entity's score is their product in float32,
    as Doc.to_dict() has it (here 7e10 rounded to float32, not the float64 product)."""
    import numpy as np

    from nertag.formats import _json_object, json_lines

    r = record("Ada Lovelace", ["Ada", "Lovelace"], ["B-PER", "I-PER"],
               [np.float32(1e10), np.float32(7.0)])
    assert json_lines([r]) == json.dumps(_json_object(r), ensure_ascii=False) + "\n"


def test_format_each_cuts_a_batch_into_each_records_output():
    """format_each (Dask's bag records) gives each record's output as its formatter alone
    would, also for JSON, written a batch at a time and cut at line ends (a raw U+2028 in a
    line is not one)."""
    from nertag.formats import format_each

    records = [harry(), lecture(), record("a\u2028b Paris", ["a\u2028b", "Paris"],
                                          ["O", "B-LOC"], [0.5, 0.25]),
               record("x\udcff y", ["x\udcff", "y"], ["O", "O"], [1.0, 1.0]),
               record("", [], [], [])]
    for name, formatter in FORMATTERS.items():
        assert format_each(name, records) == [formatter(r) for r in records], name
