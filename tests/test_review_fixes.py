"""Regression tests for the findings of a review: each was a traceback, a silent wrong result
or a README claim the code did not keep."""

import json
import subprocess
import sys

import numpy as np
from click.testing import CliRunner

from nertag.cli import cli
from nertag.conll import read_conll
from nertag.modelfile import load_model
from nertag.training import TrainConfig, Trainer

from .conftest import SAMPLE_TEST, SAMPLE_TRAIN, SAMPLES

NERTAG = [sys.executable, "-m", "nertag"]


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_resume_refuses_another_corpus_with_the_same_feature_count(tmp_path):
    upper = tmp_path / "upper.conll"
    # the same sentences and tags (a tag upper-cased is itself), the tokens upper-cased
    upper.write_text((SAMPLE_TRAIN).read_text().upper())
    common = ["--max-features", "20", "--hidden", "4", "-q", "--checkpoint", tmp_path / "ck"]
    assert invoke("train", SAMPLE_TRAIN, "-o", tmp_path / "a.npz", "--epochs", "1",
                  *common).exit_code == 0
    result = invoke("train", upper, "-o", tmp_path / "b.npz", "--epochs", "2", "--resume",
                    *common)
    assert result.exit_code == 1 and "another corpus" in result.output
    result = invoke("train", SAMPLE_TRAIN, "-o", tmp_path / "b.npz", "--epochs", "2",
                    "--resume", "--map", "MISC=O", *common)
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_truncated_checkpoint_is_an_error_not_a_traceback(tmp_path):
    ck = tmp_path / "ck"
    invoke("train", SAMPLE_TRAIN, "-o", tmp_path / "a.npz", "--epochs", "1",
           "--hidden", "4", "-q", "--checkpoint", ck)
    data = (ck / "checkpoint.npz").read_bytes()
    (ck / "checkpoint.npz").write_bytes(data[: len(data) // 3])
    result = invoke("train", SAMPLE_TRAIN, "-o", tmp_path / "a.npz", "--epochs", "2",
                    "--hidden", "4", "-q", "--checkpoint", ck, "--resume")
    assert result.exit_code == 1 and "unreadable checkpoint" in result.output


def test_checkpoint_folder_that_cannot_exist_is_refused_before_training(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = invoke("train", SAMPLE_TRAIN, "-o", tmp_path / "a.npz",
                    "--checkpoint", afile / "sub")
    assert result.exit_code == 2 and "cannot create" in result.output


def test_tagged_hashtag_token_at_sentence_start_is_kept_when_tagging_conll(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "--input-format", "conll", "-f", "conll",
                    input="#London\tB-LOC\nis\tO\n\n# id 7\tdomain=x\nHarry\tB-PER\n\n")
    rows = [line.split("\t")[:2] for line in result.output.split("\n") if line]
    assert rows == [["#London", "B-LOC"], ["is", "O"], ["Harry", "B-PER"]]


def test_space_separated_conll_output_feeds_eval_predictions(sample_model_path, tmp_path):
    gold = tmp_path / "gold.txt"
    gold.write_text("Harry NNP I-PER\nPotter NNP I-PER\nmet VBD O\nAda NNP I-PER\n\n")
    tagged = invoke("tag", "-m", sample_model_path, "--input-format", "conll", "-f", "conll",
                    "-i", gold)
    assert tagged.output.split("\n")[0] == "Harry NNP I-PER B-PER"
    scored = invoke("eval", "--predictions", "-", "--json", input=tagged.output)
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["untyped"]["gold"] == 2


def test_map_needs_both_sides():
    for bad in ("PER=", "=X", " = "):
        assert invoke("train", SAMPLE_TRAIN, "--map", bad).exit_code == 2
        assert invoke("eval", SAMPLE_TEST, "--map", bad).exit_code == 2


def test_eval_predictions_applies_the_map(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("a B-geo B-LOC\nb O O\nc B-tim O\n\n")
    result = invoke("eval", "--predictions", path, "--map", "geo=LOC", "--map", "tim=O",
                    "--json")
    assert json.loads(result.output)["f1"] == 1.0


def test_binary_model_tags_each_sentence_on_its_own(tmp_path):
    out = tmp_path / "b.npz"
    assert invoke("train", SAMPLES / "binary.txt", "-o", out, "--epochs", "3", "--hidden",
                  "8", "-q").exit_code == 0
    model = load_model(out)
    model.weights["by"][:] = 50.0  # every token an entity: runs must restart per sentence
    model.weights_changed()
    tags = [t for t, _ in model.tag([["Harry", "Potter"], ["Ron", "met"]])]
    assert tags == [["B-ENT", "I-ENT"], ["B-ENT", "I-ENT"]]


def test_bare_carriage_returns_are_an_error(tmp_path):
    path = tmp_path / "mac.txt"
    path.write_bytes(b"Harry B-PER\rPotter I-PER\rmet O\r")
    result = invoke("train", path, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1 and f"{path}:1" in result.output
    assert "carriage return" in result.output


def test_training_files_mixing_binary_and_bio_are_refused(tmp_path):
    result = invoke("train", SAMPLE_TRAIN, SAMPLES / "binary.txt", "-o",
                    tmp_path / "m.npz")
    assert result.exit_code == 1 and "binary.txt" in result.output


def test_a_cut_sentence_starts_each_piece_with_valid_bio(tmp_path):
    path = tmp_path / "long.conll"
    rows = ["w O"] * 999 + ["Harry B-PER", "Potter I-PER", "Granger I-PER"] + ["w O"] * 5
    path.write_text("\n".join(rows) + "\n")
    trainer = Trainer([read_conll(str(path))], None, TrainConfig(hidden=4))
    pieces = [tags for _, tags in trainer.train_sentences + trainer.dev_sentences]
    assert all(not tags[0].startswith("I-") for tags in pieces)


def test_non_npz_model_message(tmp_path):
    result = invoke("tag", "-m", SAMPLES / "README.md", "x")
    assert result.exit_code == 3 and "not an .npz (not a zip archive)" in result.output


def test_full_disk_on_stdout_is_one_line(sample_model_path):
    proc = subprocess.run(NERTAG + ["tag", "-m", str(sample_model_path), "Harry"],
                          stdout=open("/dev/full", "w"), stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("Error: cannot write")


def _run_with_closed(redirects, *args):
    """``nertag ARGS`` started with standard streams closed by a shell (``0<&-``, ``1>&-``)."""
    return subprocess.run(["bash", "-c", f'exec "$@" {redirects}', "bash", *NERTAG, *args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def test_closed_stdin_and_stdout_are_one_line_errors(sample_model_path):
    model = ["-m", str(sample_model_path)]
    both = _run_with_closed("0<&- 1>&-", "tag", *model)
    assert both.returncode == 1
    assert both.stderr == "Error: cannot write the output: standard output is closed\n"
    no_stdin = _run_with_closed("0<&-", "tag", *model)
    assert no_stdin.returncode == 1 and no_stdin.stdout == ""
    assert no_stdin.stderr == "Error: <stdin>: standard input is closed\n"
    # TEXT arguments need no stdin: tagged as usual
    text = _run_with_closed("0<&-", "tag", *model, "Harry Potter met Ron")
    assert (text.returncode, text.stdout, text.stderr) == (
        0, "[PER Harry Potter] met [PER Ron]\n", "")


def test_crf_marginals_survive_huge_transition_scores():
    from nertag.decode import allowed_transitions, crf_marginals
    from nertag.tags import bio_tagset

    allowed = allowed_transitions(bio_tagset(["PER"]))
    transitions = np.where(allowed, 500.0, -np.inf)
    marginals = crf_marginals(np.zeros((3, 3), np.float32), np.array([0, 3]), transitions)
    assert np.isfinite(marginals).all()
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0)


def test_latin1_corpora_with_encoding_option(tmp_path, sample_model_path):
    path = tmp_path / "es.conll"
    path.write_bytes("España B-LOC\nes O\nbonita O\n\nMaría B-PER\nvive O\n\n".encode("latin-1"))
    plain = invoke("train", path, "-o", tmp_path / "m.npz", "--epochs", "1", "--hidden", "4")
    assert plain.exit_code == 1 and f"{path}:1" in plain.output and "latin-1" in plain.output
    result = invoke("train", path, "-o", tmp_path / "m.npz", "--epochs", "1", "--hidden", "4",
                    "-q", "--encoding", "latin-1", "--min-count", "1")
    assert result.exit_code == 0, result.output
    assert "w:España" in load_model(tmp_path / "m.npz").features
    scored = invoke("eval", path, "-m", tmp_path / "m.npz", "--encoding", "latin-1", "--json")
    assert json.loads(scored.output)["tokens"] == 5
    tagged = invoke("tag", "-m", sample_model_path, "--encoding", "latin-1", "-f", "json",
                    input="María\n".encode("latin-1"))
    assert json.loads(tagged.output)["text"] == "María"


def test_bad_encodings_are_refused(tmp_path):
    assert invoke("eval", SAMPLE_TEST, "--encoding", "klingon").exit_code == 1
    result = invoke("eval", SAMPLE_TEST, "--encoding", "utf-16")
    assert result.exit_code == 1 and "not ASCII-compatible" in result.output
    path = tmp_path / "u16.conll"
    path.write_bytes("Harry B-PER\n".encode("utf-16"))
    result = invoke("train", path, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1 and "UTF-16" in result.output


def test_text_argument_with_line_breaks_is_several_records(sample_model_path):
    result = invoke("tag", "-m", sample_model_path, "-f", "binary", "Harry Potter\nthe spell")
    assert result.output == "1 1\n0 0\n"


def test_empty_model_path_is_not_the_default_model():
    result = invoke("tag", "-m", "", "x")
    assert result.exit_code == 3
