"""Word vectors and name lists in training, tagging and the model file (issue: name
knowledge). The kernels' side (Wv's gradient) is in test_kernels.py; the tables and their
loader in test_knowledge.py."""

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from nertag import knowledge
from nertag.cli import cli
from nertag.conll import read_conll
from nertag.errors import BadModelError
from nertag.modelfile import load_model, write_npz_atomic
from nertag.nn import input_sums
from nertag.training import VECTOR_MIN_SHARE, TrainConfig, Trainer, load_knowledge

from .conftest import SAMPLE_TRAIN

TRAIN = str(SAMPLE_TRAIN)


def write_text_vectors(path, rows):
    path.write_text(f"{len(rows)} {len(rows[0][1])}\n"
                    + "".join(w + " " + " ".join(map(str, v)) + "\n" for w, v in rows))


def train(args, tmp_path, name="m.npz"):
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["train", TRAIN, "-o", str(out), "--epochs", "1",
                                      "--hidden", "8", "-q", *args])
    return result, out


@pytest.fixture(scope="module")
def shipped_model(tmp_path_factory):
    """A model trained with the default recipe: the shipped vectors and name lists."""
    out = tmp_path_factory.mktemp("vectors") / "shipped.npz"
    trainer = Trainer([read_conll(TRAIN)], None, TrainConfig(epochs=2, hidden=8, seed=2))
    for event in trainer.run():
        if event["event"] == "done":
            event["model"].save(out)
    return out


def test_default_recipe_uses_the_shipped_vectors_and_name_lists(shipped_model):
    model = load_model(shipped_model)
    assert model.config["vectors"]["source"] == "shipped"
    assert model.config["vectors"]["sha256"] == knowledge.manifest()["tables"]["vectors.npz"][
        "sha256"]
    assert model.weights["Wv"].shape == (50, 16)
    assert model.featurizer.templates[-1] == "g"
    # a word in no training sentence gets its name-list feature and its vector row
    X = model.featurizer.encode(["Ljubljana", "xqzzyv"])
    assert model.features[X[0, -1]] == "g:LOC"
    rows = model.featurizer.string_vector_rows()
    assert rows[0] >= 0 and rows[1] == -1
    with zipfile.ZipFile(shipped_model) as zf:  # shipped vectors are named, not carried
        assert not any(n.startswith("vec_") for n in zf.namelist())


def test_tagging_adds_wv_v_to_the_input_of_every_string(shipped_model):
    """The NumPy tagging path's per-string input is Wax x + Wv v + ba, v the unit vector."""
    model = load_model(shipped_model)
    tokens = ["Okonkwo", "flew", "to", "Ljubljana", "xqzzyv"]
    table, ids = model._input_sums(tokens)
    X = model.featurizer.encode(tokens)
    vectors = knowledge.load_vectors()
    rows = vectors.lookup(tokens)
    unit = np.zeros((len(tokens), 50), np.float32)
    for i, r in enumerate(rows):
        if r >= 0:
            v = vectors.matrix()[r]
            unit[i] = v / np.linalg.norm(v)
    expected = (input_sums(model.weights["Wax"], X) + unit @ model.weights["Wv"]
                + model.weights["ba"].reshape(-1))
    got = np.concatenate([table[0][ids], table[1][ids]], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(unit[0] @ model.weights["Wv"], 0)  # the vector part is there


def test_training_learns_wv(tmp_path):
    trainer = Trainer([read_conll(TRAIN)], None, TrainConfig(epochs=1, hidden=8, seed=4))
    events = list(trainer.run())
    start = next(e for e in events if e["event"] == "start")
    assert start["knowledge"].startswith("word vectors: the shipped")
    from nertag.nn import init_weights

    initial = init_weights(len(trainer.best_model.features), 8, len(trainer.tagset), 4,
                           vector_dim=50)["Wv"]
    assert not np.allclose(trainer.best_model.weights["Wv"], initial)


def test_no_vectors_is_the_lecture_features_alone(tmp_path):
    result, out = train(["--no-vectors"], tmp_path)
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert "Wv" not in model.weights and model.vectors is None and model.names is None
    assert model.config["vectors"] is None and model.config["names"] is None
    assert not any(f.startswith("g:") for f in model.features)


def test_no_names_keeps_the_vectors(tmp_path):
    result, out = train(["--no-names"], tmp_path)
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.vectors is not None and model.names is None
    assert not any(f.startswith("g:") for f in model.features)


@pytest.mark.parametrize("form", ["text", "npy"])
def test_vectors_from_a_file_are_carried_in_the_model(tmp_path, form):
    rng = np.random.default_rng(0)
    # a vector for each word of the corpus (else too few have one, and vectors are left out)
    corpus_words = {t.lower() for s in read_conll(TRAIN).sentences for t in s.tokens}
    words = ["zyxwvut"] + sorted(corpus_words)
    matrix = rng.normal(size=(len(words), 6)).astype(np.float32)
    if form == "text":
        path = tmp_path / "vec.txt"
        write_text_vectors(path, list(zip(words, matrix.tolist())))
    else:
        path = tmp_path / "vec.npy"
        np.save(path, matrix)
        (tmp_path / "vec.txt").write_text("\n".join(words) + "\n")
    result, out = train(["--vectors", str(path)], tmp_path)
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.config["vectors"]["source"] == "file"
    assert model.config["vectors"]["name"] == path.name
    assert model.weights["Wv"].shape == (6, 16)
    assert list(model.vectors.lookup(["ZYXWVUT", "nope"])) == [0, -1]
    with zipfile.ZipFile(out) as zf:
        assert "vec_q.npy" in zf.namelist()
    # the tags of the saved model are those of the model in memory
    again = load_model(out)
    sentence = [["Harry", "Potter", "went", "to", "London", "zyxwvut"]]
    assert model.tag(sentence) == again.tag(sentence)


def test_npy_vectors_need_their_words_file(tmp_path):
    path = tmp_path / "vec.npy"
    np.save(path, np.ones((2, 3), np.float32))
    result, _ = train(["--vectors", str(path)], tmp_path)
    assert result.exit_code == 1
    assert f"Error: {path}: a .npy matrix needs its words, one a line, in {tmp_path / 'vec.txt'}" \
        in result.output


def test_bad_vectors_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("harry 1 2\npotter 1\n")
    result, _ = train(["--vectors", str(bad)], tmp_path)
    assert result.exit_code == 1 and f"{bad}:2" in result.output
    assert "Traceback" not in result.output


def test_the_old_embeddings_option_says_what_it_became(tmp_path):
    result, out = train(["--embeddings", "v.txt"], tmp_path)
    assert result.exit_code == 2
    assert "--embeddings FILE is now --vectors FILE" in result.output
    assert not out.exists()
    result, _ = train(["--no-vectors", "--vectors", "v.txt"], tmp_path)
    assert result.exit_code == 2 and "--no-vectors goes with neither" in result.output


def test_a_corpus_whose_words_lack_vectors_trains_without_them(tmp_path):
    """Another language: under VECTOR_MIN_SHARE of its words have a vector."""
    rng = np.random.default_rng(1)
    letters = list("qxzjkvw")
    lines = []
    for _ in range(12):
        for _ in range(5):
            word = "".join(rng.choice(letters, size=7))
            lines.append(f"{word.capitalize()}\tB-PER" if rng.random() < 0.3 else f"{word}\tO")
        lines.append("")
    corpus = tmp_path / "other.conll"
    corpus.write_text("\n".join(lines) + "\n")
    trainer = Trainer([read_conll(str(corpus))], None, TrainConfig(epochs=1, hidden=4))
    events = list(trainer.run())
    warning = next(e for e in events if e["event"] == "warning")["message"]
    assert f"under {VECTOR_MIN_SHARE:.0%}" in warning and "without vectors" in warning
    assert trainer.best_model.vectors is None and trainer.best_model.names is None
    assert next(e for e in events if e["event"] == "start")["knowledge"].startswith(
        "no word vectors")


def rewrite_meta(path, change):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    write_npz_atomic(path, arrays)


def test_a_model_of_other_shipped_vectors_is_refused(shipped_model, tmp_path):
    path = tmp_path / "other.npz"
    path.write_bytes(shipped_model.read_bytes())
    rewrite_meta(path, lambda m: m["config"]["vectors"].update(sha256="ab" * 32))
    with pytest.raises(BadModelError, match="trained with word vectors abababababab..., but "
                                            "this nertag ships"):
        load_model(path)
    result = CliRunner().invoke(cli, ["tag", "-m", str(path), "Harry"])
    assert result.exit_code == 3 and "retrain the model with this nertag" in result.output


def test_a_model_whose_config_and_weights_disagree_on_vectors_is_refused(shipped_model,
                                                                         tmp_path):
    path = tmp_path / "no-config.npz"
    path.write_bytes(shipped_model.read_bytes())
    rewrite_meta(path, lambda m: m["config"].update(vectors=None))
    with pytest.raises(BadModelError, match="holds Wv but its config names no word vectors"):
        load_model(path)


def test_a_version_1_model_gets_a_clear_message(shipped_model, tmp_path):
    path = tmp_path / "v1.npz"
    with np.load(shipped_model, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["format_version"] = np.array(1, dtype=np.int64)
    write_npz_atomic(path, arrays)
    with pytest.raises(BadModelError, match="model format version 1, but this nertag reads "
                                            "version 2"):
        load_model(path)


def test_load_knowledge_follows_the_config():
    assert load_knowledge(TrainConfig(vectors=None)) == (None, None)
    vectors, names = load_knowledge(TrainConfig(names=False))
    assert vectors.dim == 50 and names is None
    _, names = load_knowledge(TrainConfig())
    assert names.lookup(["London", "the", "Ljubljana"])[0] != ""
    assert names.lookup(["the"]) == [""]


def test_a_sentence_scores_the_same_whatever_else_is_in_its_batch(shipped_model):
    """A string's input (its vector part too) does not depend on which strings are new in the
    same batch: a file tagged in pieces (two processes, Dask) gives the bytes of one pass."""
    sentence = ["Okonkwo", "flew", "from", "Chisinau", "to", "Ljubljana", "."]
    alone = load_model(shipped_model).tag([sentence])[0]
    rng = np.random.default_rng(5)
    words = knowledge.load_vectors().words
    crowd = [[words[i] for i in rng.integers(0, 50_000, size=12)] for _ in range(300)]
    in_crowd = load_model(shipped_model).tag(crowd[:150] + [sentence] + crowd[150:])[150]
    assert in_crowd == alone  # the same tags and the same float scores


# ------------------------------------------------------------------ review of the model file


def test_a_loaded_model_survives_its_file_overwritten_in_place(shipped_model, tmp_path):
    """The arrays are read into memory (a mapped file cut short under a running tagger would
    kill it with SIGBUS); `cp other.npz model.npz` while tagging changes nothing."""
    path = tmp_path / "m.npz"
    path.write_bytes(shipped_model.read_bytes())
    model = load_model(path)
    sentence = [["Okonkwo", "flew", "from", "Chisinau", "."]]
    before = model.tag(sentence)
    with open(path, "r+b") as f:  # in place: the same inode, cut short, then other bytes
        f.truncate(0)
        f.write(b"x" * 1000)
    assert model.tag(sentence) == before


@pytest.mark.parametrize("member", ["Waa.npy", "Wax.npy", "Wv.npy", "names_keys.npy"])
def test_a_flipped_bit_in_a_stored_array_is_refused(shipped_model, tmp_path, member):
    path = tmp_path / "flip.npz"
    data = bytearray(shipped_model.read_bytes())
    with zipfile.ZipFile(shipped_model) as zf:
        info = zf.getinfo(member)
    data[info.header_offset + 30 + len(member) + 200] ^= 0x10  # inside the array's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(BadModelError, match="bad CRC-32"):
        load_model(path)


@pytest.mark.parametrize("change, what", [
    (lambda a: a.update(vec_name=np.array(3)), "name"),
    (lambda a: a.update(vec_order=a["vec_order"].astype("S8")), "order"),
    (lambda a: a.update(vec_scale=np.full_like(a["vec_scale"], np.nan)), "scale"),
    (lambda a: a.update(vec_words=a["vec_words"].reshape(1, -1)), "words"),
])
def test_broken_carried_vectors_are_a_bad_model(tmp_path, change, what):
    corpus_words = sorted({t.lower() for s in read_conll(TRAIN).sentences for t in s.tokens})
    vec = tmp_path / "vec.txt"
    write_text_vectors(vec, [(w, [float(i % 3), 1.0, -1.0]) for i, w in enumerate(corpus_words)])
    result, out = train(["--vectors", str(vec)], tmp_path)
    assert result.exit_code == 0, result.output
    with np.load(out, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    write_npz_atomic(out, arrays)
    result = CliRunner().invoke(cli, ["tag", "-m", str(out), "Harry"])
    assert result.exit_code == 3, (what, result.output)
    assert "its word vectors cannot be read" in result.output
    assert "Traceback" not in result.output


def test_a_deflated_member_too_large_to_inflate_is_refused(shipped_model, monkeypatch):
    monkeypatch.setattr(knowledge, "MAX_INFLATED", 1000)  # features.npy inflates past it
    with pytest.raises(BadModelError, match="inflates to"):
        load_model(shipped_model)


def test_vectors_with_capitals_are_found_as_written():
    vectors = knowledge.Vectors.from_matrix(["Paris", "obama", "Berlin"], np.eye(3))
    assert list(vectors.lookup(["Paris", "Obama", "obama", "berlin", "BERLIN"])) == \
        [0, 1, 1, -1, -1]


def test_vectors_the_user_gives_are_kept_even_when_few_words_have_one(tmp_path):
    vec = tmp_path / "few.txt"
    write_text_vectors(vec, [("harry", [1.0, 0.0]), ("potter", [0.0, 1.0])])
    result, out = train(["--vectors", str(vec)], tmp_path)  # -q: progress hidden, not warnings
    assert result.exit_code == 0, result.output
    assert "warning: only" in result.output and "few.txt" in result.output
    assert load_model(out).config["vectors"]["name"] == "few.txt"


def test_names_without_vectors_is_a_type_error_in_python():
    import nertag

    with pytest.raises(TypeError, match="names=True needs word vectors"):
        nertag.train([TRAIN], vectors=None, names=True, epochs=1)
