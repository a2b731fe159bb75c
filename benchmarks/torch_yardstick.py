"""The PyTorch yardstick of `make bench` (issue 13): the same-sized network trained with PyTorch
on one thread, on the very inputs nertag's training row trains on.

What it trains: the feature ids of nertag's own Featurizer (F templates a token, name lists
among them) summed by an ``nn.EmbeddingBag(n_features, H, mode="sum")``, plus the shipped 50-d
word vectors (a frozen ``nn.Embedding``) through a learned ``Linear(50 -> H, no bias)``; input
dropout; a bidirectional ``nn.RNN(H -> H, tanh)`` over packed sequences
(``pack_padded_sequence``, unsorted batches); dropout 0.3; ``Linear(2H -> K)``; per-token
softmax cross-entropy (no CRF: PyTorch has none built in); gradient clipping by global norm 5;
Adam, lr 0.004 (lazy Adam on the embedding's rows: ``SparseAdam``, as nertag updates only the
rows of Wax a batch touches). Batches of 32 sentences in a random order each epoch, with
nertag's word and feature dropout on the ids. Not PyTorch's: H, batch size, lr, dropouts and
clip are read from nertag's TrainConfig, so a change of default moves both rows.

The one difference of size: nertag's cell adds its input sum straight into the recurrence
(Wax has 2H columns, one H-block a direction), while ``nn.RNN`` multiplies its input by W_ih.
Here the embedding is H wide and each direction's W_ih is H x H, so PyTorch does the H x H
input product twice a token (batched over all tokens: one large matrix product) where nertag
sums rows twice as wide. The row's label says so.

Run alone: ``.venv/bin/python benchmarks/torch_yardstick.py [--data DIR] [--side-by-side]
[--dense]`` (``--dense``: one dense Adam over the whole embedding instead of SparseAdam).
PyTorch is not a dependency of nertag: without it, the row says it was skipped.
"""

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import (  # noqa: E402
    ROOT,
    conll_sentences,
    of_peak,
    print_rows,
    spread,
    training_corpus,
)

LABEL = "PyTorch yardstick"


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def encode(corpus, knowledge=None):
    """nertag's own encoding of ``corpus`` as its Trainer makes it for training (default
    settings; ``knowledge``: the (vectors, names) a Trainer already loaded): a dict of X (N, F)
    feature ids, Y (N,) tags, starts (S+1,), string_ids (N,) and unit (n_strings, D) word
    vectors (None without vectors), n_features, K tags and the TrainConfig."""
    from nertag.training import TrainConfig, Trainer

    trainer = Trainer([corpus], corpus, TrainConfig(), knowledge=knowledge)
    model = trainer._new_model()
    X, Y, starts, vectors = trainer._encode(model)
    string_ids, unit = vectors if vectors is not None else (None, None)
    return {"X": X, "Y": Y, "starts": starts, "string_ids": string_ids, "unit": unit,
            "n_features": len(model.features), "K": len(trainer.tagset),
            "config": trainer.config}


def batch_layout(lengths):
    """Where each token of a batch goes in a (B, T) padded array: (rows, cols), each (N,), for
    sentences of ``lengths`` laid end to end."""
    lengths = np.asarray(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    ends = np.cumsum(lengths)
    cols = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths, lengths)
    return rows, cols


def epoch_batches(rng, starts, batch_size):
    """Each batch of an epoch, sentences in a random order: (token indices, lengths)."""
    order = rng.permutation(len(starts) - 1)
    for b in range(0, len(order), batch_size):
        batch = order[b:b + batch_size]
        lengths = starts[batch + 1] - starts[batch]
        tok = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in batch])
        yield tok, lengths


def build(data, seed=1, sparse=True):
    """The PyTorch model and its optimisers for ``encode``'s data: with ``sparse``, the
    embedding's gradient is sparse and SparseAdam updates the rows a batch touched (measured
    here: 1.7x the tokens/s of one dense Adam over every row)."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    cfg = data["config"]
    H, K = cfg.hidden, data["K"]
    torch.manual_seed(seed)

    class Yardstick(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(data["n_features"], H, mode="sum", sparse=sparse)
            nn.init.normal_(self.bag.weight, std=0.1)
            if data["unit"] is not None:
                self.vectors = nn.Embedding.from_pretrained(torch.from_numpy(data["unit"]),
                                                            freeze=True)
                self.wv = nn.Linear(data["unit"].shape[1], H, bias=False)
            self.drop_in = nn.Dropout(cfg.input_dropout)
            self.rnn = nn.RNN(H, H, nonlinearity="tanh", bidirectional=True, batch_first=True)
            self.drop = nn.Dropout(cfg.dropout)
            self.out = nn.Linear(2 * H, K)

        def forward(self, ids, string_ids, lengths, rows, cols):
            x = self.bag(ids)
            if data["unit"] is not None:
                x = x + self.wv(self.vectors(string_ids))
            x = self.drop_in(x)
            padded = x.new_zeros(len(lengths), int(lengths.max()), H)
            padded[rows, cols] = x
            packed = pack_padded_sequence(padded, lengths, batch_first=True,
                                          enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True)
            return self.out(self.drop(out[rows, cols]))

    net = Yardstick()
    if not sparse:
        params = [p for p in net.parameters() if p.requires_grad]
        return net, [torch.optim.Adam(params, lr=cfg.lr)]
    dense = [p for name, p in net.named_parameters() if p.requires_grad and name != "bag.weight"]
    optimisers = [torch.optim.SparseAdam([net.bag.weight], lr=cfg.lr),
                  torch.optim.Adam(dense, lr=cfg.lr)]
    return net, optimisers


def train_epochs(data, epochs=3, seed=1, sparse=True):
    """Train ``epochs`` epochs on one thread; a list of (tokens/s, user CPU s, wall s, mean
    loss) an epoch."""
    import torch
    from torch.nn import functional

    torch.set_num_threads(1)
    cfg = data["config"]
    net, optimisers = build(data, seed, sparse)
    X, Y, starts = data["X"], torch.from_numpy(data["Y"].astype(np.int64)), data["starts"]
    string_ids = (torch.from_numpy(data["string_ids"]) if data["string_ids"] is not None
                  else None)
    F = X.shape[1]
    unknown = np.arange(F, dtype=X.dtype)
    params = [p for p in net.parameters() if p.requires_grad]
    results = []
    for epoch in range(1, epochs + 1):
        rng = np.random.default_rng([seed, epoch])
        net.train()
        loss_sum, n_done = 0.0, 0
        cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime, time.perf_counter()
        for tok, lengths in epoch_batches(rng, starts, cfg.batch_size):
            ids = X[tok]
            if cfg.word_dropout > 0:  # as nertag: word identity -> unknown
                drop = rng.random(len(tok)) < cfg.word_dropout
                ids[drop, :2] = unknown[:2]
            if cfg.feature_dropout > 0:
                drop = rng.random(ids.shape) < cfg.feature_dropout
                ids[drop] = np.broadcast_to(unknown, ids.shape)[drop]
            rows, cols = batch_layout(lengths)
            tok_t = torch.from_numpy(tok)
            logits = net(torch.from_numpy(ids), string_ids[tok_t] if string_ids is not None
                         else None, torch.from_numpy(lengths), torch.from_numpy(rows),
                         torch.from_numpy(cols))
            loss = functional.cross_entropy(logits, Y[tok_t])
            for optimiser in optimisers:
                optimiser.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad_norm(params, cfg.clip)
            for optimiser in optimisers:
                optimiser.step()
            loss_sum += loss.item() * len(tok)
            n_done += len(tok)
        wall = time.perf_counter() - t0
        cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
        if not np.isfinite(loss_sum):
            raise RuntimeError(f"the PyTorch yardstick diverged in epoch {epoch}")
        results.append((n_done / wall, cpu, wall))
    return results


def clip_grad_norm(params, max_norm):
    """``torch.nn.utils.clip_grad_norm_`` for a mix of dense and sparse (EmbeddingBag)
    gradients: the global norm over both, then every gradient scaled by the same factor."""
    import torch

    squares = []
    for p in params:
        g = p.grad
        if g is None:
            continue
        if g.is_sparse:
            g = p.grad = g.coalesce()  # summed per row: the norm of the row gradients
            squares.append(g.values().pow(2).sum())
        else:
            squares.append(g.pow(2).sum())
    norm = torch.stack(squares).sum().sqrt()
    scale = max_norm / (float(norm) + 1e-12)
    if scale < 1.0:
        for p in params:
            if p.grad is not None:
                p.grad.mul_(scale)
    return norm


def flops_per_token(hidden, n_tags, n_templates, vector_dim=0):
    """The PyTorch model's FLOPs a training token, counted as bench_speed counts nertag's:
    per direction W_hh forward and backward (3 H^2) and W_ih (3 H^2: its input gradient feeds
    Wv's); output 3 K 2H; Wv forward and dWv (2 D H, the vectors are frozen); embedding row sums
    forward and scatter back (2 F H, once: the embedding is H wide)."""
    H, K, F, D = hidden, n_tags, n_templates, vector_dim
    macs = 2 * 3 * H * H + 2 * 3 * H * H + 3 * K * 2 * H + 2 * D * H
    return 2 * macs + 2 * F * H


def describe(data, sparse=True):
    cfg, F = data["config"], data["X"].shape[1]
    H, K = cfg.hidden, data["K"]
    vectors = (f" + frozen {data['unit'].shape[1]}-d word vectors @ Linear("
               f"{data['unit'].shape[1]}->{H})" if data["unit"] is not None else "")
    return (f"EmbeddingBag({data['n_features']:,} ids x {H}, sum of nertag's {F} feature ids)"
            f"{vectors} -> dropout {cfg.input_dropout} -> bidirectional nn.RNN({H}->{H}, tanh, "
            f"packed) -> dropout {cfg.dropout} -> Linear({2 * H}->{K}); softmax cross-entropy "
            f"(no CRF), clip {cfg.clip:g}, Adam lr {cfg.lr:g} "
            f"({'SparseAdam on the embedding' if sparse else 'dense, on every row'}), "
            f"B={cfg.batch_size} sentences, 1 thread")


def torch_rows(corpus, n_tokens, nertag_rates=None, epochs=3, sparse=True, knowledge=None):
    """Rows (label, figure, note) of the PyTorch yardstick on ``corpus`` (nertag's training
    row's corpus of ``n_tokens`` tokens), and with ``nertag_rates`` ({thread label: nertag's
    median tokens/s}) a row of the ratios. One row saying so when PyTorch is not installed.
    ``knowledge``: the word vectors and name lists nertag's rows loaded (else loaded again)."""
    if not torch_available():
        return [("train one epoch, PyTorch yardstick", "skipped: PyTorch is not installed",
                 "not a dependency; pip install torch to measure it")]
    import torch

    data = encode(corpus, knowledge)
    results = train_epochs(data, epochs, sparse=sparse)
    rates = [r[0] for r in results]
    rate = statistics.median(rates)
    cpu = statistics.median(r[1] for r in results)
    wall = statistics.median(r[2] for r in results)
    cfg = data["config"]
    flops = flops_per_token(cfg.hidden, data["K"], data["X"].shape[1],
                            data["unit"].shape[1] if data["unit"] is not None else 0) * rate
    rows = [(f"train one epoch, {n_tokens:,} tokens, {LABEL} (torch {torch.__version__}): "
             f"{describe(data, sparse)}",
             f"{spread(rates)}, median of {epochs} epochs; {wall:.1f} s wall, {cpu:.1f} s "
             f"user CPU an epoch; {of_peak(flops)}",
             "measured on a shared machine")]
    if nertag_rates:
        ratios = ", ".join(f"{label} {r / rate:.1f}x" for label, r in nertag_rates.items())
        rows.append(("nertag / PyTorch yardstick (1 thread), training tokens/s",
                     ratios, "target >= 5x with all threads"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--side-by-side", action="store_true",
                        help="as `make bench` does: nertag's training rows (1 and all "
                        "threads), then this one and the ratios, in one process")
    parser.add_argument("--dense", action="store_true",
                        help="a dense embedding gradient and one Adam over every row")
    args = parser.parse_args()
    sentences = conll_sentences(args.data)
    if args.side_by_side:
        from bench_speed import train_rows

        print_rows(train_rows(args, sentences))
        return
    corpus, n_tokens = training_corpus(sentences)
    print_rows(torch_rows(corpus, n_tokens, epochs=args.epochs, sparse=not args.dense))


if __name__ == "__main__":
    main()
