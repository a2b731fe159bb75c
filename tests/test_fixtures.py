"""The readers on small real-format files written for these tests (tests/fixtures/), one per
corpus format the README lists, so a fresh clone without /work/shared exercises them."""

import json

import pytest
from click.testing import CliRunner

from nertag.cli import cli
from nertag.conll import read_conll
from nertag.tags import spans

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"

# file -> (sentences, tokens, the entities of the first sentence as (start, end, type))
EXPECTED = {
    "iob1-spaces-docstart.txt": (3, 16, [(0, 2, "MISC"), (5, 6, "LOC")]),  # IOB1, -DOCSTART-
    "iob2-tabs-tweets.tsv": (2, 14, [(2, 3, "PER"), (5, 6, "LOC")]),  # tabs, IOB2, a lone # token
    "four-columns-docstart.txt": (2, 14, [(5, 7, "ORG")]),  # 4 columns, CoNLL-2003 layout
    "lowercase-id-comments.conll": (2, 9, [(1, 2, "GRP"), (3, 4, "CW"), (5, 6, "LOC")]),  # _ _
    "iob2-hyphenated-types.conll": (2, 12, [(4, 7, "location")]),  # hyphenated types
    "iob2-news-types.conll": (2, 15, [(5, 6, "geo"), (7, 8, "tim")]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reader_on_real_format_fixture(name):
    n_sentences, n_tokens, first_entities = EXPECTED[name]
    corpus = read_conll(str(FIXTURES / name))
    assert len(corpus.sentences) == n_sentences
    assert corpus.n_tokens == n_tokens
    assert spans(corpus.sentences[0].tags) == first_entities
    assert corpus.family == "bio"
    for sentence in corpus.sentences:  # every tag is valid IOB2 after reading
        for prev, tag in zip(["O"] + sentence.tags, sentence.tags):
            assert not tag.startswith("I-") or prev[2:] == tag[2:]


def test_multiconer_keeps_a_hash_token_and_drops_the_id_comment():
    corpus = read_conll(str(FIXTURES / "lowercase-id-comments.conll"))
    assert corpus.sentences[1].tokens == ["#", "acme", "widget"]
    assert corpus.sentences[0].line == 2


def test_the_conll_round_trip_of_a_fixture_through_tag_and_eval(tmp_path):
    runner = CliRunner()
    tagged = runner.invoke(cli, ["tag", "--input-format", "conll", "--format", "conll", "-i",
                                 str(FIXTURES / "four-columns-docstart.txt")])
    assert tagged.exit_code == 0
    pred = tmp_path / "pred.txt"
    pred.write_text(tagged.stdout)
    scores = runner.invoke(cli, ["eval", "--predictions", str(pred), "--json"])
    assert scores.exit_code == 0
    assert json.loads(scores.stdout)["sentences"] == 2
