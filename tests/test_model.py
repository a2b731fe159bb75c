"""The model file: round trip, atomic replacement, and refusal of anything not ours."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nertag.errors import BadModelError
from nertag.features import unknown_features
from nertag.model import Model
from nertag.modelfile import FORMAT_VERSION, load_model, quantize_rows
from nertag.nn import forward_probs_numpy, input_sums


def tiny_model(seed=0):
    features = unknown_features() + ["w:Harry", "l:harry", "w:Potter"]
    return Model.new(features, ["O", "B-PER", "I-PER"], hidden=4, seed=seed)


def npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def arrays_of(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_round_trip(tmp_path):
    model = tiny_model()
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = load_model(path)
    assert loaded.features == model.features and loaded.tagset == model.tagset
    assert loaded.config["hidden"] == 4
    for key in ("Waa", "ba", "Wya", "by"):
        np.testing.assert_array_equal(loaded.weights[key], model.weights[key])
    # Wax is stored as int8 rows: within half a step of each row's scale
    step = np.abs(model.weights["Wax"]).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(loaded.weights["Wax"] - model.weights["Wax"]) <= step / 2 + 1e-7)
    tokens = [["Harry", "Potter", "met", "someone"]]
    np.testing.assert_allclose(_probabilities(loaded, *_encoded(loaded, tokens)),
                               _probabilities(model, *_encoded(model, tokens)), atol=0.02)


def _probabilities(model, X, starts):
    return forward_probs_numpy(model.weights, starts, input_sums(model.weights["Wax"], X))


def _encoded(model, sentences):
    X = model.featurizer.encode([t for s in sentences for t in s])
    starts = np.concatenate([[0], np.cumsum([len(s) for s in sentences])])
    return X, starts


def test_quantize_rows_bounds():
    W = np.array([[0.0, 0.0], [1.0, -0.5], [1e-8, 3.0]], dtype=np.float32)
    q, scale = quantize_rows(W)
    assert q.dtype == np.int8 and scale.dtype == np.float32
    np.testing.assert_allclose(q * scale[:, None], W, atol=3.0 / 254 + 1e-9)


def test_same_model_same_bytes(tmp_path):
    tiny_model(seed=5).save(tmp_path / "a.npz")
    tiny_model(seed=5).save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_save_replaces_atomically_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    tiny_model(seed=1).save(path)
    old = path.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # an interrupt in the middle of writing

    monkeypatch.setattr(np.lib.format, "write_array", fail)
    with pytest.raises(KeyboardInterrupt):
        tiny_model(seed=2).save(path)
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def write_variant(tmp_path, change):
    """Save a valid tiny model, let `change` edit its arrays, write them back as an .npz."""
    path = tmp_path / "good.npz"
    tiny_model().save(path)
    arrays = arrays_of(path)
    change(arrays)
    bad = tmp_path / "variant.npz"
    bad.write_bytes(npz_bytes(arrays))
    return bad


def set_meta(arrays, **changes):
    meta = json.loads(arrays["meta"].tobytes())
    meta.update(changes)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.mark.parametrize("change, fragment", [
    (lambda a: a.update(format_version=np.array(FORMAT_VERSION + 1)),
     f"format version {FORMAT_VERSION + 1}, but this nertag reads version {FORMAT_VERSION}"),
    (lambda a: a.update(format_version=np.array("1")), "not an integer"),
    (lambda a: a.pop("Wya"), "missing Wya"),
    (lambda a: a.update(Waa=np.zeros((2, 5, 5), np.float32)), "shape"),
    (lambda a: a.update(Wya=np.zeros((4, 8), np.float32)), "Wya has shape"),
    (lambda a: a.update(by=np.array(["a", "b", "c"])), "dtype"),
    (lambda a: a.update(Wax=a["Wax"].astype(np.float32)), "int8"),
    (lambda a: a.update(Wax_scale=a["Wax_scale"][:-1]), "Wax_scale"),
    (lambda a: a.update(ba=np.full((2, 4), np.nan, np.float32)), "NaN"),
    (lambda a: a.update(features=np.frombuffer(b"\xff\xfe", dtype=np.uint8)), "UTF-8"),
    (lambda a: a.update(tagset=np.frombuffer(b"O\nPER\nB-PER", dtype=np.uint8)), "BIO"),
    (lambda a: set_meta(a, format="other"), "nertag format"),
    (lambda a: set_meta(a, config={"hidden": 9}), "hidden=9"),
    (lambda a: a.update(meta=np.frombuffer(b"{not json", dtype=np.uint8)), "meta"),
])
def test_refuses_foreign_or_damaged_files(tmp_path, change, fragment):
    path = write_variant(tmp_path, change)
    with pytest.raises(BadModelError) as err:
        load_model(path)
    assert str(path) in str(err.value)
    assert fragment in str(err.value)


def test_refuses_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    tiny_model().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadModelError, match="corrupt or foreign"):
        load_model(path)


def test_refuses_non_zip_and_bare_npy(tmp_path):
    text = tmp_path / "m.npz"
    text.write_text("hello")
    with pytest.raises(BadModelError):
        load_model(text)
    npy = tmp_path / "m.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(BadModelError, match="not a nertag model"):
        load_model(npy)


class _Payload:
    """Unpickling this runs code: it would create a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_hostile_pickle_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "hostile.npz"
    good = tmp_path / "good.npz"
    tiny_model().save(good)
    arrays = arrays_of(good)
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(str(marker))
    # an object array in every slot the loader reads, and the raw pickle as an extra member
    for key in ("meta", "Wax", "features"):
        hostile = dict(arrays, **{key: payload})
        buffer = io.BytesIO()
        np.savez(buffer, **hostile)
        path.write_bytes(buffer.getvalue())
        with pytest.raises(BadModelError):
            load_model(path)
        assert not marker.exists()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.npy", pickle.dumps(_Payload(str(marker))))
    with pytest.raises(BadModelError):
        load_model(path)
    assert not marker.exists()


def test_missing_and_directory(tmp_path):
    with pytest.raises(BadModelError, match="no such model file"):
        load_model(tmp_path / "none.npz")
    with pytest.raises(BadModelError, match="directory"):
        load_model(tmp_path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), cut=st.integers(0, 4000))
# NumPy reads a .npy header with ast.literal_eval, which warns of a fuzzed "\X" in it
@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:invalid escape sequence:SyntaxWarning")
def test_fuzzed_model_bytes_raise_only_our_error(tmp_path, data, cut):
    """Random bytes, and a real model file with random bytes spliced in, never crash the
    loader with anything but BadModelError."""
    good = tmp_path / "good.npz"
    if not good.exists():
        tiny_model().save(good)
    real = good.read_bytes()
    for blob in (data, real[:cut] + data + real[cut + len(data):]):
        path = tmp_path / "fuzz.npz"
        path.write_bytes(blob)
        try:
            load_model(path)
        except BadModelError:
            pass


def test_loaded_model_tags_without_dequantizing_all_of_wax(sample_model_path):
    sentences = [["Harry", "Potter", "met", "Ada", "Lovelace"], ["unseen", "Zorblax", "words"]]
    lazy = load_model(sample_model_path)
    tagged = lazy.tag(sentences)
    assert lazy.weights._wax_pending  # only the rows of the strings met were converted
    eager = load_model(sample_model_path)
    q, scale = eager.weights.quantized
    np.testing.assert_array_equal(eager.weights["Wax"], q.astype(np.float32) * scale[:, None])
    assert not eager.weights._wax_pending
    assert eager.tag(sentences) == tagged  # the same tags and the same float32 scores


def test_loaded_weights_are_a_full_mapping(sample_model_path):
    weights = load_model(sample_model_path).weights
    # the sample model is trained with the shipped word vectors: Wv too
    assert list(weights) == ["Wax", "Waa", "ba", "Wya", "by", "Wyy", "Wv"] and len(weights) == 7
    assert "Wax" in weights and weights._wax_pending
    copied = {k: v.copy() for k, v in weights.items()}  # reading the values converts Wax
    assert not weights._wax_pending and copied["Wax"].dtype == np.float32
    assert copied["Wax"].shape == weights.quantized[0].shape


def test_loaded_weights_replace_and_delete_like_a_dict(sample_model_path):
    weights = load_model(sample_model_path).weights
    del weights["Wax"]  # before it was ever read
    assert "Wax" not in weights and len(weights) == 6 and "Wax" not in list(weights)
    with pytest.raises(KeyError):
        weights["Wax"]
    weights["Wax"] = np.zeros((3, 4), np.float32)
    assert weights["Wax"].shape == (3, 4) and list(weights)[0] == "Wax"
    weights.clear()
    assert len(weights) == 0 and list(weights) == []


def test_a_sentence_longer_than_a_run_is_tagged_as_its_runs(sample_model_path):
    """A sentence of over MAX_RUN tokens is tagged in consecutive runs of MAX_RUN, each as a
    sentence of its own, beside the batch's short sentences (which it leaves unchanged)."""
    from nertag.model import MAX_RUN

    model = load_model(sample_model_path)
    words = ["Harry", "Potter", "met", "Hermione", "Granger", "in", "London", "."]
    long = (words * (2 * MAX_RUN // len(words) + 2))[:2 * MAX_RUN + 5]
    short = ["Ada", "Lovelace", "met", "Harry"]
    tagged = model.tag([short, long, short])
    runs = [long[at:at + MAX_RUN] for at in range(0, len(long), MAX_RUN)]
    by_run = model.tag(runs)
    assert tagged[1][0] == [tag for tags, _ in by_run for tag in tags]
    assert tagged[1][1] == [score for _, scores in by_run for score in scores]
    assert tagged[0] == tagged[2] == model.tag([short])[0]
