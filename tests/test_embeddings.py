"""--embeddings: word2vec text vectors start the word rows of Wax."""

import numpy as np
import pytest
from click.testing import CliRunner

from nertag.cli import cli
from nertag.conll import read_conll, read_embeddings
from nertag.errors import BadInputError
from nertag.modelfile import load_model
from nertag.training import TrainConfig, Trainer

from .conftest import SAMPLES


def write_vectors(path, rows, header=True):
    lines = [f"{len(rows)} {len(rows[0][1])}"] if header else []
    lines += [w + " " + " ".join(str(v) for v in vec) for w, vec in rows]
    path.write_text("\n".join(lines) + "\n")


def test_read_embeddings_with_and_without_header(tmp_path):
    for header in (True, False):
        path = tmp_path / f"v{header}.txt"
        write_vectors(path, [("harry", [1.0, 0.0, 2.0]), ("zzz", [0.5, 0.5, 0.5])], header)
        words, vectors = read_embeddings(str(path))
        assert words == ["harry", "zzz"]
        assert vectors.shape == (2, 3) and vectors.dtype == np.float32
    words, _ = read_embeddings(str(path), limit=1)
    assert words == ["harry"]


@pytest.mark.parametrize("text, fragment, line", [
    ("2 3\nharry 1 2 3\npotter 1 2\n", "expected a word and 3 numbers", 3),
    ("harry 1 2 x\n", "not a number", 1),
    ("", "no word vectors", None),
])
def test_bad_embeddings_name_file_and_line(tmp_path, text, fragment, line):
    path = tmp_path / "v.txt"
    path.write_text(text)
    with pytest.raises(BadInputError) as err:
        read_embeddings(str(path))
    assert fragment in str(err.value)
    assert (f"{path}:{line}" if line else str(path)) in str(err.value)


def test_unseen_words_with_vectors_get_rows_from_them(tmp_path):
    twin = [0.3, -1.0, 2.0, 0.5]
    path = tmp_path / "v.txt"
    write_vectors(path, [("Grindelwald", twin), ("Voldemort", twin), ("harry", [1, 0, 0, 0])])
    trainer = Trainer([read_conll(str(SAMPLES / "train.conll"))], None,
                      TrainConfig(epochs=1, hidden=4), embeddings=read_embeddings(str(path)))
    events = list(trainer.run())
    assert events[-1]["event"] == "done"
    model = trainer.best_model
    assert "l:grindelwald" in model.features and "l:voldemort" in model.features
    rows = [model.features.index(f) for f in ("l:grindelwald", "l:voldemort")]
    # never seen in training, so never updated: still the same projection of the same vector
    np.testing.assert_array_equal(model.weights["Wax"][rows[0]], model.weights["Wax"][rows[1]])
    assert np.abs(model.weights["Wax"][rows[0]]).sum() > 0


def test_train_cli_embeddings(tmp_path):
    vectors = tmp_path / "v.txt"
    write_vectors(vectors, [("harry", [1.0, 2.0]), ("newword", [2.0, 1.0])])
    out = tmp_path / "m.npz"
    result = CliRunner().invoke(cli, ["train", str(SAMPLES / "train.conll"), "-o", str(out),
                                      "--epochs", "1", "--hidden", "4", "-q", "--embeddings",
                                      str(vectors)])
    assert result.exit_code == 0, result.output
    assert "l:newword" in load_model(out).features
    bad = tmp_path / "bad.txt"
    bad.write_text("harry 1 2\nnewword 1\n")
    result = CliRunner().invoke(cli, ["train", str(SAMPLES / "train.conll"), "-o", str(out),
                                      "--embeddings", str(bad)])
    assert result.exit_code == 1 and f"{bad}:2" in result.output
