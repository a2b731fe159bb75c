"""Word vectors from the training splits of ../shared/data (never a test split), to measure
vectors made from the labelled corpora alone against the shipped GloVe ones: PPMI of a
±2-word window (context counts smoothed by ^0.75) over the 20,000 most frequent lower-cased
words, reduced to 100 dimensions by a randomized SVD. Writes word2vec's text format:

    python benchmarks/make_vectors.py /tmp/vectors.txt
    python benchmarks/bench_seeds.py WikiGold --seeds 1,2,3 --set vectors='"/tmp/vectors.txt"'
"""

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from bench_accuracy import DEFAULT_DATA

from nertag.conll import read_conll

TRAIN_FILES = ["gmb/train.conll", "multiconer/en_train.conll", "btc/btc.train",
               "wnut17/wnut17train.conll", "sec_filings/train.txt", "wikigold/train.txt"]


def cooccurrences(sentences, index, window=2):
    """(V, V) counts of word pairs at most ``window`` apart."""
    M = np.zeros((len(index), len(index)), np.float32)
    for sentence in sentences:
        ids = [index.get(t, -1) for t in sentence]
        for i, a in enumerate(ids):
            if a < 0:
                continue
            for j in range(max(0, i - window), min(len(ids), i + window + 1)):
                if j != i and ids[j] >= 0:
                    M[a, ids[j]] += 1
    return M


def ppmi(M):
    """Positive pointwise mutual information, context probabilities smoothed by ^0.75."""
    p_word = M.sum(1) / M.sum()
    p_context = M.sum(0) ** 0.75
    p_context /= p_context.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        P = np.log(M / M.sum()) - np.log(p_word)[:, None] - np.log(p_context)[None, :]
    P[~np.isfinite(P)] = 0
    return np.maximum(P, 0, out=P)


def randomized_svd_vectors(P, dim, seed=0):
    """Rows of U sqrt(S) of the rank-``dim`` SVD of P, by two power iterations."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(P @ rng.normal(size=(P.shape[1], dim + 20)).astype(np.float32))[0]
    for _ in range(2):
        Q = np.linalg.qr(P @ (P.T @ Q))[0]
    U, S, _ = np.linalg.svd(Q.T @ P, full_matrices=False)
    return (Q @ U[:, :dim]) * np.sqrt(S[:dim])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--words", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=100)
    args = parser.parse_args()
    sentences = [[t.lower() for t in s.tokens] for name in TRAIN_FILES
                 for s in read_conll(str(Path(args.data) / name)).sentences]
    counts = Counter(t for sentence in sentences for t in sentence)
    vocab = [w for w, n in counts.most_common() if n >= 3 and w.strip() and " " not in w]
    vocab = vocab[:args.words]
    vectors = randomized_svd_vectors(ppmi(cooccurrences(sentences, {w: i for i, w in
                                                                    enumerate(vocab)})),
                                     args.dim)
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(f"{len(vocab)} {args.dim}\n")
        for word, vector in zip(vocab, vectors):
            out.write(word + " " + " ".join(f"{x:.5f}" for x in vector) + "\n")


if __name__ == "__main__":
    main()
