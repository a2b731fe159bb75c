"""The batching of benchmarks/torch_yardstick.py (pure NumPy: PyTorch is not needed here)."""

import sys

import numpy as np

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import torch_yardstick  # noqa: E402


def test_batch_layout_puts_each_token_at_its_sentence_and_position():
    rows, cols = torch_yardstick.batch_layout([3, 1, 2])
    assert rows.tolist() == [0, 0, 0, 1, 2, 2]
    assert cols.tolist() == [0, 1, 2, 0, 0, 1]
    padded = np.full((3, 3), -1)
    padded[rows, cols] = np.arange(6)  # tokens laid end to end land once each, in order
    assert padded.tolist() == [[0, 1, 2], [3, -1, -1], [4, 5, -1]]


def test_epoch_batches_cover_every_token_once_a_sentence_whole():
    starts = np.array([0, 4, 5, 9, 12, 20, 21, 23], dtype=np.int64)
    batches = list(torch_yardstick.epoch_batches(np.random.default_rng(3), starts, 3))
    assert [len(lengths) for _, lengths in batches] == [3, 3, 1]
    tokens = np.concatenate([tok for tok, _ in batches])
    assert sorted(tokens.tolist()) == list(range(23))
    for tok, lengths in batches:
        assert len(tok) == lengths.sum()
        for sentence in np.split(tok, np.cumsum(lengths)[:-1]):
            s = int(np.searchsorted(starts, sentence[0], side="right")) - 1
            assert sentence.tolist() == list(range(starts[s], starts[s + 1]))


def test_the_row_says_skipped_without_pytorch(monkeypatch):
    monkeypatch.setattr(torch_yardstick, "torch_available", lambda: False)
    [(_, figure, _)] = torch_yardstick.torch_rows(corpus=None, n_tokens=0)
    assert figure == "skipped: PyTorch is not installed"
