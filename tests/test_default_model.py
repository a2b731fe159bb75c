"""What the shipped model must do, whatever it is retrained on: the lecture's sentence, plain
prose left alone in any casing, and names it never saw in training placed by their knowledge."""

import pytest

import nertag


@pytest.fixture(scope="module")
def tagger():
    return nertag.load()


def test_the_lecture_sentence(tagger):
    doc = tagger("Harry Potter and Hermione Granger invented a new spell")
    assert doc.binary == [1, 1, 0, 1, 1, 0, 0, 0, 0]
    assert [(e.text, e.label) for e in doc.entities] == [("Harry Potter", "PER"),
                                                          ("Hermione Granger", "PER")]


@pytest.mark.parametrize("text", [
    "the quick brown fox jumps over the lazy dog",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
])
def test_plain_prose_has_no_entity(tagger, text):
    assert tagger(text).entities == []


@pytest.mark.parametrize("text, entity", [
    ("Tiraspol and Chisinau signed the agreement.", ("Chisinau", "LOC")),
    ("Chisinau", ("Chisinau", "LOC")),
    ("We met Nwosu yesterday.", ("Nwosu", "PER")),
])
def test_names_absent_from_the_training_corpora(tagger, text, entity):
    """Chisinau, Tiraspol and Nwosu are in no training file of the default model: their word
    vectors and name lists type them."""
    assert entity in [(e.text, e.label) for e in tagger(text).entities]


def test_the_model_says_what_it_was_trained_with(tagger):
    config = tagger.model.config
    assert config["vectors"]["source"] == "shipped" and config["vectors"]["dim"] == 50
    assert config["names"]["words"] > 100_000
