"""Seeded fixtures shared by the tests."""

from pathlib import Path

import numpy as np
import pytest

from nertag.nn import init_weights

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SAMPLE_TRAIN = SAMPLES / "sample-train.conll"
SAMPLE_TEST = SAMPLES / "sample-test.conll"
SHARED_DATA = ROOT.parent / "shared" / "data"


def random_batch(rng, n_features, n_templates, lengths, n_outputs):
    """X (N, F) feature ids, starts (S+1,), Y (N,) gold outputs for sentences of given lengths."""
    lengths = np.asarray(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    N = int(starts[-1])
    X = rng.integers(0, n_features, size=(N, n_templates)).astype(np.int32)
    Y = rng.integers(0, max(n_outputs, 2), size=N).astype(np.int32)
    return X, starts, Y


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=[1, 5], ids=["sigmoid", "softmax"])
def small_net(request, rng):
    """A float64 network with 40 features, H=6, K=1 (binary) or 5 (typed), word vectors of 3
    dimensions (Wv), and a batch: (weights, X, starts, Y, V), V (N, 3) the tokens' unit
    vectors, zero for a token without one."""
    K = request.param
    weights = init_weights(40, 6, K, seed=7, dtype=np.float64, vector_dim=3)
    weights["ba"] += rng.normal(0, 0.3, size=weights["ba"].shape)
    weights["by"] += rng.normal(0, 0.3, size=weights["by"].shape)
    X, starts, Y = random_batch(rng, 40, 4, [5, 1, 3, 7], K)
    V = rng.normal(size=(len(X), 3))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    V[rng.random(len(X)) < 0.25] = 0.0  # words without a vector
    return weights, X, starts, Y, V


@pytest.fixture(scope="session")
def sample_model_path(tmp_path_factory):
    """A small typed model trained once on samples/sample-train.conll (seeded)."""
    from nertag.conll import read_conll
    from nertag.training import TrainConfig, Trainer

    path = tmp_path_factory.mktemp("models") / "sample.npz"
    # no input dropout: on a corpus this small it needs many more epochs to fit
    config = TrainConfig(epochs=15, hidden=32, seed=3, patience=20, input_dropout=0.0)
    trainer = Trainer([read_conll(str(SAMPLE_TRAIN))],
                      read_conll(str(SAMPLE_TEST)), config)
    for event in trainer.run():
        if event["event"] == "done":
            event["model"].save(path)
    return path


def shared(path):
    """A file of ../shared/data, or skip the test when ../shared is absent (a fresh clone)."""
    full = SHARED_DATA / path
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is absent")
    return full
