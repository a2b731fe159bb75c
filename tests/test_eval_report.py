"""`nertag eval` explaining its errors: the confusion table (--json and the rich table),
--map on both gold and predictions, the warning on predicted types gold lacks, --errors N."""

import json

from click.testing import CliRunner

from nertag.cli import cli
from nertag.report import bracketed

from .conftest import SAMPLE_TEST

# token POS gold predicted. Sentence 1 (lines 1-6): PER correct, LOC boundary (gold 3 tokens,
# predicted 2), ORG predicted MISC. Sentence 2 (lines 8-10): gold LOC missed, a spurious PER.
PREDICTIONS = """\
Harry NNP B-PER B-PER
Potter NNP I-PER I-PER
visited VBD O O
New NNP B-LOC B-LOC
York NNP I-LOC I-LOC
City NNP I-LOC O

for IN O O
Paris NNP B-LOC O
Hilton NNP O B-PER
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(tmp_path, text=PREDICTIONS):
    path = tmp_path / "pred.txt"
    path.write_text(text)
    return path


def test_json_has_the_confusion_table(tmp_path):
    result = invoke("eval", "--predictions", write(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["confusion"] == {
        "types": ["LOC", "PER"],
        "table": {"LOC": {"LOC": 0, "PER": 0, "missed": 1},
                  "PER": {"LOC": 0, "PER": 1, "missed": 0},
                  "spurious": {"LOC": 0, "PER": 1}},
        "boundary": {"LOC": 1, "PER": 0},
        "correct": 1, "type_errors": 0, "boundary_errors": 1, "missed": 1, "spurious": 1,
    }
    assert result.stderr == ""


def test_map_applies_to_the_predictions_too(tmp_path):
    text = PREDICTIONS.replace("Potter NNP I-PER I-PER", "Potter NNP I-PER B-MISC")
    path = write(tmp_path, text)
    plain = invoke("eval", "--predictions", path, "--json")
    assert plain.stderr == ("warning: MISC predicted but never in the gold data: each such "
                            "entity is a false positive; drop them with --map MISC=O\n")
    assert json.loads(plain.stdout)["per_type"]["MISC"]["predicted"] == 1
    mapped = invoke("eval", "--predictions", path, "--json", "--map", "MISC=O")
    assert mapped.stderr == ""
    scores = json.loads(mapped.stdout)
    assert sorted(scores["per_type"]) == ["LOC", "PER"]
    # Harry alone is PER(0,1) against gold PER(0,2): a boundary error now, not a type error
    assert scores["confusion"]["boundary"] == {"LOC": 1, "PER": 1}


def test_a_four_type_model_on_a_three_type_corpus(sample_model_path, tmp_path):
    gold = tmp_path / "gold.conll"
    gold.write_text("".join(line.replace("B-MISC", "O").replace("I-MISC", "O") + "\n"
                            for line in (SAMPLE_TEST).read_text().splitlines()))
    plain = invoke("eval", gold, "-m", sample_model_path, "--json")
    assert "warning: MISC predicted but never in the gold data" in plain.stderr
    mapped = invoke("eval", gold, "-m", sample_model_path, "--json", "--map", "MISC=O")
    assert mapped.exit_code == 0 and mapped.stderr == ""
    after = json.loads(mapped.stdout)
    assert "MISC" not in after["per_type"] and "MISC" not in after["confusion"]["types"]
    assert after["precision"] > json.loads(plain.stdout)["precision"]


def test_errors_shows_wrong_spans_in_context(tmp_path):
    path = write(tmp_path)
    result = invoke("eval", "--predictions", path, "--errors", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        "\nthe first 2 wrong spans:\n"
        f"{path}:4: boundary error: gold LOC \"New York City\", predicted LOC \"New York\"\n"
        "  gold       [PER Harry Potter] visited [LOC New York City]\n"
        "  predicted  [PER Harry Potter] visited [LOC New York] City\n"
        f"{path}:9: missed: gold LOC \"Paris\", predicted nothing\n"
        "  gold       for [LOC Paris] Hilton\n"
        "  predicted  for Paris [PER Hilton]\n")
    everything = invoke("eval", "--predictions", path, "--errors", "10").stdout
    assert "\nall 3 wrong spans:\n" in everything
    assert (f"{path}:10: spurious: gold nothing, predicted PER \"Hilton\"\n") in everything


def test_errors_in_json(tmp_path):
    result = invoke("eval", "--predictions", write(tmp_path), "--json", "--errors", "1")
    assert json.loads(result.stdout)["errors"] == [{
        "where": f"{tmp_path / 'pred.txt'}:4", "kind": "boundary",
        "gold": {"text": "New York City", "label": "LOC", "start": 3, "end": 6},
        "predicted": {"text": "New York", "label": "LOC", "start": 3, "end": 5},
        "context": {"gold": "[PER Harry Potter] visited [LOC New York City]",
                    "predicted": "[PER Harry Potter] visited [LOC New York] City"},
    }]


def test_rich_output_has_the_confusion_table(tmp_path):
    result = invoke("eval", "--predictions", write(tmp_path))
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    cells = [[c.strip() for c in row.strip("│").split("│")] for row in rows]
    assert ["gold \\ predicted", "LOC", "PER", "missed", "boundary"] in [
        [c.strip() for c in line.strip("┃").split("┃")]
        for line in result.stdout.splitlines() if line.startswith("┃")]
    assert ["LOC", "0", "0", "1", "1"] in cells
    assert ["PER", "0", "1", "0", "0"] in cells
    assert ["spurious", "0", "1", "", ""] in cells
    assert "1 exact, 0 type errors, 1 boundary errors" in " ".join(result.stdout.split())


def test_bracketed_windows():
    tokens = "a b c d e".split()
    tags = "B-X I-X O B-Y O".split()
    assert bracketed(tokens, tags) == "[X a b] c [Y d] e"
    assert bracketed(tokens, tags, 1, 4) == "... [X b] c [Y d] ..."
