"""Training: it learns, it is reproducible, it resumes, it survives interruption and NaNs."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from nertag.cli import cli
from nertag.conll import read_conll
from nertag.modelfile import load_model
from nertag.training import TrainConfig, Trainer

from .conftest import SAMPLE_TEST, SAMPLE_TRAIN

TRAIN = str(SAMPLE_TRAIN)
DEV = str(SAMPLE_TEST)


def train_cli(*args):
    return CliRunner().invoke(cli, ["train", TRAIN, "--dev", DEV, "--hidden", "8", "-q",
                                    *map(str, args)])


def run_trainer(**overrides):
    config = TrainConfig(**{"hidden": 8, "epochs": 3, **overrides})
    trainer = Trainer([read_conll(TRAIN)], read_conll(DEV), config)
    events = list(trainer.run())
    return trainer, events


def test_loss_falls_and_dev_f1_rises():
    _, events = run_trainer(epochs=10, hidden=32, patience=20)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs[-1]["loss"] < 0.5 * epochs[0]["loss"]
    assert max(e["dev_f1"] for e in epochs) > epochs[0]["dev_f1"]


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        assert train_cli("-o", tmp_path / f"{name}.npz", "--epochs", 2, "--seed", 4).exit_code == 0
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    train_cli("-o", tmp_path / "c.npz", "--epochs", 2, "--seed", 5)
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "c.npz").read_bytes()


def test_thread_count_does_not_change_the_model(tmp_path):
    train_cli("-o", tmp_path / "one.npz", "--epochs", 2, "--threads", 1)
    train_cli("-o", tmp_path / "all.npz", "--epochs", 2, "--threads", 2)
    one, both = load_model(tmp_path / "one.npz"), load_model(tmp_path / "all.npz")
    for key in one.weights:  # the files differ only in the recorded thread count
        np.testing.assert_array_equal(one.weights[key], both.weights[key])


def test_resume_gives_the_uninterrupted_result(tmp_path):
    straight = tmp_path / "straight.npz"
    assert train_cli("-o", straight, "--epochs", 4, "--patience", 10).exit_code == 0
    ck = tmp_path / "ck"
    part = tmp_path / "part.npz"
    assert train_cli("-o", part, "--epochs", 2, "--patience", 10, "--checkpoint", ck).exit_code == 0
    assert (ck / "checkpoint.npz").exists()
    resumed = train_cli("-o", part, "--epochs", 4, "--patience", 10, "--checkpoint", ck,
                        "--resume")
    assert resumed.exit_code == 0, resumed.output
    a, b = load_model(straight), load_model(part)
    for key in a.weights:
        np.testing.assert_array_equal(a.weights[key], b.weights[key])
    assert a.meta["epoch"] == b.meta["epoch"]


def test_resume_refuses_other_settings(tmp_path):
    ck = tmp_path / "ck"
    train_cli("-o", tmp_path / "m.npz", "--epochs", 1, "--checkpoint", ck)
    result = train_cli("-o", tmp_path / "m.npz", "--epochs", 2, "--checkpoint", ck, "--resume",
                       "--lr", "0.01")
    assert result.exit_code == 1
    assert "checkpoint was made with other settings" in result.output


def test_resume_refuses_a_checkpoint_of_another_version(tmp_path):
    import json
    import zipfile

    ck = tmp_path / "ck"
    train_cli("-o", tmp_path / "m.npz", "--epochs", 1, "--checkpoint", ck)
    path = ck / "checkpoint.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta["version"] = 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    assert zipfile.is_zipfile(path)
    result = train_cli("-o", tmp_path / "m.npz", "--epochs", 2, "--checkpoint", ck, "--resume")
    assert result.exit_code == 1
    assert "checkpoint of format 1 from another nertag version" in result.output


def test_resume_without_checkpoint_file(tmp_path):
    result = train_cli("-o", tmp_path / "m.npz", "--checkpoint", tmp_path / "none", "--resume")
    assert result.exit_code == 1 and "no checkpoint to resume from" in result.output


def test_nan_loss_stops_and_writes_nothing(tmp_path, monkeypatch):
    from nertag import training as train_module

    original = train_module.Model.new

    def poisoned(*args, **kwargs):
        model = original(*args, **kwargs)
        model.weights["Wya"][0, 0] = np.nan
        return model

    monkeypatch.setattr(train_module.Model, "new", poisoned)
    out = tmp_path / "m.npz"
    result = train_cli("-o", out, "--epochs", 2)
    assert result.exit_code == 1
    assert "loss became nan" in result.output
    assert not out.exists()


def test_long_sentence_is_split_not_fatal(tmp_path):
    path = tmp_path / "long.txt"
    tokens = ["Harry B-PER", "Potter I-PER"] + ["and O"] * 2500 + ["London B-LOC"]
    path.write_text("\n".join(tokens) + "\n\n" + open(TRAIN).read())
    result = CliRunner().invoke(cli, ["train", str(path), "-o", str(tmp_path / "m.npz"),
                                      "--epochs", "1", "--hidden", "4", "-q"])
    assert result.exit_code == 0, result.output


def test_interrupt_saves_best_model_and_exits_130(tmp_path):
    """A real process: SIGINT after the first epoch; the model file is complete, no temp file."""
    big = tmp_path / "big.conll"
    big.write_text(open(TRAIN).read() * 30)
    out = tmp_path / "m.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nertag", "train", str(big), "-o", str(out), "--epochs", "200",
         "--patience", "200", "--hidden", "32"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    seen = ""
    while time.time() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "epoch   2" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, seen + err
    assert "interrupted: saved the best model so far" in err
    assert "Traceback" not in err
    assert load_model(out).meta["epoch"] >= 1
    assert sorted(os.listdir(tmp_path)) == ["big.conll", "m.npz"]


def test_sigterm_before_first_epoch_keeps_old_model(tmp_path):
    big = tmp_path / "big.conll"
    big.write_text(open(TRAIN).read() * 200)
    out = tmp_path / "m.npz"
    out.write_bytes(b"the user's old file")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nertag", "train", str(big), "-o", str(out), "--hidden", "64"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    while "training on" not in proc.stderr.readline():
        pass
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert out.read_bytes() == b"the user's old file"
    assert sorted(os.listdir(tmp_path)) == ["big.conll", "m.npz"]


@pytest.mark.parametrize("threads", [1])
def test_trainer_reports_threads(threads):
    _, events = run_trainer(epochs=1, threads=threads)
    assert events[0]["event"] == "start" and events[0]["threads"] == threads


def test_recorded_dev_f1_is_what_the_saved_weights_score():
    """The dev score of the best epoch is recomputed from scratch on a fresh copy of its
    weights: no cache may carry values from an earlier epoch."""
    trainer, events = run_trainer(epochs=4, hidden=16, patience=10)
    best = trainer.best_model
    fresh = best.with_weights({k: v.copy() for k, v in best.weights.items()}, best.meta)
    assert trainer.evaluate(fresh)["f1"] == pytest.approx(best.meta["dev_scores"]["f1"])


def _batch_rows(monkeypatch, **overrides):
    """Train one epoch and return the trainer and the feature-id rows of every token that the
    epoch's batches fed to the network (no word dropout, so rows are as encoded)."""
    from nertag import training

    rows, epoch = [], training._Batches.epoch

    def recording(self, rng):
        for batch in epoch(self, rng):
            rows.extend(map(tuple, batch[0].tolist()))
            yield batch

    monkeypatch.setattr(training._Batches, "epoch", recording)
    trainer, events = run_trainer(epochs=1, word_dropout=0.0, **overrides)
    assert events[-1]["event"] == "done" and trainer.best_model is not None
    return trainer, rows


def test_case_augmentation_trains_on_cased_copies(monkeypatch):
    trainer, rows = _batch_rows(monkeypatch, case_augment=1.0)  # every sentence recased
    model = trainer.best_model
    n_tokens = sum(len(toks) for toks, _ in trainer.train_sentences)
    assert len(rows) == n_tokens  # each sentence once an epoch
    seen = set(rows)
    harry, lower, upper = (tuple(model.featurizer.encode([w])[0].tolist())
                           for w in ("Harry", "harry", "HARRY"))
    assert len({harry, lower, upper}) == 3
    assert lower in seen and upper in seen and harry not in seen
    # the lower-cased (2/3) and UPPER-CASED (1/3) copies share the lower-case feature
    assert upper[1] == lower[1] == model.features.index("l:harry")
    _, plain = _batch_rows(monkeypatch, case_augment=0.0)
    assert harry in set(plain) and upper not in set(plain)


def test_input_dropout_changes_training_and_is_echoed(tmp_path):
    models = {}
    for p in (0.0, 0.5):
        trainer, _ = run_trainer(epochs=1, input_dropout=p)
        models[p] = trainer.best_model.weights
        assert trainer.best_model.meta["train_config"]["input_dropout"] == p  # in the file
    assert not np.array_equal(models[0.0]["Waa"], models[0.5]["Waa"])
    result = CliRunner().invoke(cli, ["train", TRAIN, "--dev", DEV, "--hidden", "8",
                                      "--epochs", "1", "--input-dropout", "0.25",
                                      "-o", str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    assert "input_dropout=0.25" in result.output


def test_default_input_dropout_follows_corpus_size():
    from nertag.training import input_dropout_for

    sizes = [1_000, 100_000, 250_000, 1_000_000, 10_000_000]
    values = [input_dropout_for(n) for n in sizes]
    assert values[0] == values[1] == 0.5 and values[-2] == values[-1] == 0.2
    assert values == sorted(values, reverse=True) and 0.2 < values[2] < 0.5
    config = TrainConfig(hidden=8, epochs=1)
    trainer = Trainer([read_conll(TRAIN)], read_conll(DEV), config)
    start = next(trainer.run())
    assert config.input_dropout is None  # resolved on the trainer's copy, not the caller's
    assert trainer.config.input_dropout == 0.5  # the sample corpus is small
    assert start["config"]["input_dropout"] == 0.5  # and printed at the start


def test_batches_made_ahead_are_the_batches_made_inline(monkeypatch):
    """With a core that Numba leaves free, an epoch's batches are made on a helper thread, and
    the model is the one trained without it (one thread draws them all, in order). An error in
    making a batch reaches the caller; a caller that stops early leaves no helper behind."""
    import threading

    from nertag import training

    made_ahead = []
    real = training._made_ahead

    def spy(items):
        made_ahead.append(True)
        return real(items)

    monkeypatch.setattr(training, "_made_ahead", spy)
    weights = {}
    for cores in (1, 2):  # one thread for Numba; a spare core only when there are two
        monkeypatch.setattr(training, "usable_cores", lambda cores=cores: cores)
        trainer = Trainer([read_conll(str(SAMPLE_TRAIN))], read_conll(str(SAMPLE_TEST)),
                          TrainConfig(epochs=2, hidden=8, seed=1, threads=1, dropout=0.3,
                                      word_dropout=0.1))
        list(trainer.run())
        weights[cores] = trainer.best_model.weights
        assert bool(made_ahead) == (cores == 2)
    for name in weights[1]:
        np.testing.assert_array_equal(weights[1][name], weights[2][name])

    def failing():
        yield 1
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        list(real(failing()))
    early = real(iter(range(10)))
    assert next(early) == 0
    early.close()  # waits for the item the helper was making
    assert not [t for t in threading.enumerate() if t.name.startswith("nertag-batches")]
