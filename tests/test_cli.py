"""The CLI through Click's CliRunner: each subcommand, each format, each error path."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from nertag.cli import cli
from nertag.modelfile import load_model
from nertag.tagger import Tagger

from .conftest import SAMPLE_TEST, SAMPLE_TRAIN, SAMPLES

LECTURE = "Harry Potter and Hermione Granger invented a new spell"


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def assert_one_line_error(result, *fragments, code=1):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ------------------------------------------------------------------------------ tag


def test_tag_inline_brackets_entities(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, LECTURE)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "[PER Harry Potter] and [PER Hermione Granger] invented a new spell\n")


def test_tag_binary_is_the_lectures_y(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-f", "binary", LECTURE)
    assert result.output == "1 1 0 1 1 0 0 0 0\n"


def test_tag_each_text_argument_is_a_record(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-f", "binary", "Harry Potter", "a spell")
    assert result.output == "1 1\n0 0\n"


def test_tag_conll_output(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-f", "conll", "Harry Potter met Ada Lovelace")
    assert result.output == (
        "Harry\tB-PER\nPotter\tI-PER\nmet\tO\nAda\tB-PER\nLovelace\tI-PER\n\n")


def test_tag_json_offsets_and_scores(sample_model_path):
    text = "  Harry Potter met Hermione Granger in London ."
    result = invoke("tag", "-m", sample_model_path, "-f", "json", text)
    record = json.loads(result.output)
    assert record["text"] == text
    for token in record["tokens"]:
        assert text[token["start"]:token["end"]] == token["text"]
        assert 0.0 <= token["score"] <= 1.0
    assert [e["text"] for e in record["entities"]] == ["Harry Potter", "Hermione Granger",
                                                       "London"]
    for entity in record["entities"]:
        assert text[entity["start"]:entity["end"]] == entity["text"]
        assert 0.0 < entity["score"] <= 1.0
    assert [e["label"] for e in record["entities"]] == ["PER", "PER", "LOC"]


def test_tag_stdin_keeps_one_record_per_line(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-f", "binary",
                    input="Harry Potter\n\n\r\nmet Ada Lovelace\r\nthe weather was")
    assert result.output.split("\n") == ["1 1", "", "", "0 1 1", "0 0 0", ""]


def test_tag_input_file(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-i", SAMPLES / "text.txt", "-f", "binary")
    lines = result.output.split("\n")
    assert lines[0] == "1 1 0 1 1 0 0 0 0"
    assert lines[2] == ""  # the empty input line stays an empty record
    assert len(lines) == 5


def test_tag_conll_input_keeps_columns_and_feeds_eval(sample_model_path, tmp_path):
    result = invoke("tag", "-m", sample_model_path, "--input-format", "conll", "-f", "conll",
                    "-i", SAMPLE_TEST)
    assert result.exit_code == 0
    first = result.output.splitlines()[0].split("\t")
    assert first[:2] == ["Ron", "B-PER"] and first[2] in ("B-PER", "I-PER", "O")
    predictions = tmp_path / "pred.conll"
    predictions.write_text(result.output)
    scored = invoke("eval", "--predictions", predictions, "--json")
    direct = invoke("eval", SAMPLE_TEST, "-m", sample_model_path, "--json")
    assert json.loads(scored.output)["f1"] == pytest.approx(json.loads(direct.output)["f1"])


def test_tag_unicode_and_control_characters(sample_model_path):
    text = "Zoë met 東京 😀 שלום e\u0301 x\x00y"
    result = invoke("tag", "-m", sample_model_path, "-f", "json", text)
    assert result.exit_code == 0
    record = json.loads(result.output)
    assert record["text"] == text
    assert all(text[t["start"]:t["end"]] == t["text"] for t in record["tokens"])


def test_tag_missing_input_file(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-i", "/nonexistent/input.txt")
    assert_one_line_error(result, "/nonexistent/input.txt", "no such file")


def test_tag_missing_model():
    result = invoke("tag", "-m", "/nonexistent/model.npz", "Harry")
    assert_one_line_error(result, "/nonexistent/model.npz", "no such model file", code=3)


def test_tag_corrupt_model(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    result = invoke("tag", "-m", bad, "Harry")
    assert_one_line_error(result, str(bad), "corrupt or foreign", code=3)


def test_tag_unknown_format_is_a_usage_error(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-f", "xml", "Harry")
    assert result.exit_code == 2


# ----------------------------------------------------------------------------- eval


def test_eval_json_fields(sample_model_path):
    result = invoke("eval", SAMPLE_TEST, "-m", sample_model_path, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    for key in ("precision", "recall", "f1", "token_accuracy"):
        assert 0.0 <= scores[key] <= 1.0
    assert set(scores["per_type"]) <= {"PER", "LOC", "ORG", "MISC"}
    assert set(scores["untyped"]) >= {"precision", "recall", "f1"}
    assert scores["f1"] > 0.5  # the sample model learnt the sample corpus


def test_eval_table(sample_model_path):
    result = invoke("eval", SAMPLE_TEST, "-m", sample_model_path)
    assert result.exit_code == 0
    assert "all (micro)" in result.output and "untyped spans" in result.output
    assert "token accuracy" in result.output


def test_eval_predictions_like_conlleval(tmp_path):
    # gold IOB1, predictions IOB2: conlleval scores entities, so 2 of 3 right
    path = tmp_path / "pred.txt"
    path.write_text("Harry NNP I-PER B-PER\nPotter NNP I-PER I-PER\nmet VBD O O\n"
                    "Luna NNP I-PER B-LOC\n\nin IN O O\nLondon NNP I-LOC B-LOC\n")
    result = invoke("eval", "--predictions", path, "--json")
    scores = json.loads(result.output)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["untyped"]["f1"] == pytest.approx(1.0)
    assert scores["per_type"]["PER"]["recall"] == pytest.approx(0.5)


def test_eval_needs_corpus_or_predictions():
    assert invoke("eval").exit_code == 2
    assert invoke("eval", "a.txt", "--predictions", "b.txt").exit_code == 2


def test_eval_bad_corpus_names_file_and_line(sample_model_path, tmp_path):
    path = tmp_path / "gold.txt"
    path.write_text("Harry B-PER\nPotter\n")
    result = invoke("eval", path, "-m", sample_model_path)
    assert_one_line_error(result, f"{path}:2", "no tag column")


# ---------------------------------------------------------------------------- train


def test_train_writes_a_model_that_tags(tmp_path):
    out = tmp_path / "m.npz"
    result = invoke("train", SAMPLE_TRAIN, "--dev", SAMPLE_TEST, "-o", out,
                    "--epochs", "2", "--hidden", "8", "-q")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"saved {out}: epoch ")
    model = load_model(out)
    assert model.hidden == 8
    assert model.meta["corpora"] == ["samples/sample-train.conll"]
    assert model.meta["train_config"]["epochs"] == 2
    assert [f for f in tmp_path.iterdir()] == [out]  # no temporary file left behind


def test_train_progress_lines(tmp_path):
    result = CliRunner().invoke(cli, ["train", str(SAMPLE_TRAIN), "-o",
                                      str(tmp_path / "m.npz"), "--epochs", "2", "--hidden", "8"])
    assert result.exit_code == 0
    assert "training on 108 sentences" in result.output  # 10% held out as dev
    assert "epoch   1  loss" in result.output and "dev P" in result.output


def test_train_binary_corpus_gives_a_binary_model(tmp_path):
    out = tmp_path / "b.npz"
    result = invoke("train", SAMPLES / "binary.txt", "-o", out, "--epochs", "3", "--hidden",
                    "8", "-q")
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.binary and model.tagset == ["0", "1"]
    tokens = "Harry Potter met Ron Weasley in Hogsmeade .".split()
    conll = invoke("tag", "-m", out, "-f", "conll", " ".join(tokens))
    rows = [line.split("\t") for line in conll.output.split("\n") if line]
    # the model's own BIO tags (B-ENT/I-ENT/O), spoken as the lecture's 0/1 by the CLI
    (bio, _), = model.tag([tokens], scores=False)
    assert rows == [[t, "0" if tag == "O" else "1"] for t, tag in zip(tokens, bio)]
    assert set(bio) <= {"B-ENT", "I-ENT", "O"}
    assert Tagger(model).tag_tokens(tokens) == [tag for _, tag in rows]  # the API speaks 0/1 too


def test_train_binary_flag_on_typed_corpus(tmp_path):
    out = tmp_path / "b.npz"
    invoke("train", SAMPLE_TRAIN, "--binary", "-o", out, "--epochs", "2", "--hidden",
           "8", "-q")
    assert load_model(out).binary


def test_train_type_map(tmp_path):
    out = tmp_path / "m.npz"
    result = invoke("train", SAMPLE_TRAIN, "--map", "MISC=O", "--map", "PER=PERSON",
                    "-o", out, "--epochs", "1", "--hidden", "8", "-q")
    assert result.exit_code == 0, result.output
    assert load_model(out).types == ["LOC", "ORG", "PERSON"]


@pytest.mark.parametrize("content, fragment, line", [
    ("Harry B-PER\nPotter\n", "no tag column", 2),
    ("Harry B-PER\nPotter X-PER\n", "unknown tag", 2),
    ("Harry 1\nPotter B-PER\n", "mixes", 2),
    (b"Harry B-PER\nPot\xffter I-PER\n", "invalid UTF-8", 2),
])
def test_train_bad_corpus(tmp_path, content, fragment, line):
    path = tmp_path / "bad.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = invoke("train", path, "-o", tmp_path / "m.npz")
    assert_one_line_error(result, f"{path}:{line}", fragment)
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("content", ["", "\n\n  \n", "-DOCSTART- O\n\n"])
def test_train_empty_corpus(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content)
    result = invoke("train", path, "-o", tmp_path / "m.npz")
    assert_one_line_error(result, str(path), "no sentences")


def test_train_corpus_without_entities(tmp_path):
    path = tmp_path / "o.txt"
    path.write_text("a O\nb O\n")
    assert_one_line_error(invoke("train", path, "-o", tmp_path / "m.npz"), "no entities")


def test_train_dev_with_other_types(tmp_path):
    dev = tmp_path / "dev.txt"
    dev.write_text("Acme B-COMPANY\n")
    result = invoke("train", SAMPLE_TRAIN, "--dev", dev, "-o", tmp_path / "m.npz")
    assert_one_line_error(result, str(dev), "COMPANY")


def test_train_missing_corpus(tmp_path):
    result = invoke("train", tmp_path / "nope.txt", "-o", tmp_path / "m.npz")
    assert_one_line_error(result, "nope.txt", "no such file")


def test_train_resume_needs_checkpoint(tmp_path):
    assert invoke("train", SAMPLE_TRAIN, "--resume").exit_code == 2


def test_train_bad_map_is_a_usage_error(tmp_path):
    assert invoke("train", SAMPLE_TRAIN, "--map", "PER").exit_code == 2


def test_version_and_help():
    assert invoke("--version").output.startswith("nertag, version ")
    for command in ("tag", "eval", "train"):
        assert invoke(command, "--help").exit_code == 0


def test_model_file_has_no_pickles(sample_model_path):
    # read each entry's .npy header directly: np.load(allow_pickle=False) would raise on an
    # object array before any dtype check could run
    import zipfile

    with zipfile.ZipFile(sample_model_path) as zf:
        for name in zf.namelist():
            with zf.open(name) as entry:
                version = np.lib.format.read_magic(entry)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                _, _, dtype = read(entry)
                assert not dtype.hasobject, name


def test_eval_map_renames_gold_types(sample_model_path, tmp_path):
    gold = tmp_path / "gold.txt"
    gold.write_text("Harry B-person\nPotter I-person\nmet O\nAda B-person\nLovelace I-person\n"
                    "on O\nMonday B-tim\n")
    result = invoke("eval", gold, "-m", sample_model_path, "--json")
    plain = json.loads(result.stdout)
    # the types the model lacks score 0: named in a warning on stderr
    assert "does not tag person, tim" in result.stderr
    mapped_result = invoke("eval", gold, "-m", sample_model_path, "--json", "--map",
                           "person=PER", "--map", "tim=O")
    assert "warning" not in mapped_result.stderr
    mapped = json.loads(mapped_result.stdout)
    assert plain["f1"] == 0.0
    assert mapped["per_type"]["PER"]["gold"] == 2 and "tim" not in mapped["per_type"]
    assert mapped["f1"] > 0.5


def test_train_crf_is_default_and_no_crf_gives_the_lectures_loss(tmp_path):
    for flag, expect in ((), True), (("--no-crf",), False):
        out = tmp_path / f"m{expect}.npz"
        result = invoke("train", SAMPLE_TRAIN, "-o", out, "--epochs", "1", "--hidden",
                        "8", "-q", *flag)
        assert result.exit_code == 0, result.output
        model = load_model(out)
        assert model.crf is expect
        tagged = invoke("tag", "-m", out, "-f", "json", "Harry Potter met Ada")
        scores = [t["score"] for t in json.loads(tagged.output)["tokens"]]
        assert all(0.0 <= s <= 1.0 for s in scores)
