"""The model: weights + vocabularies + configuration, and tagging with them (features -> the
NumPy forward pass in nn.py -> decoding in decode.py). The file format is in modelfile.py.

Tagging runs on NumPy alone (a batched, length-bucketed forward pass), so ``nertag tag`` starts
without importing Numba; training runs on the Numba kernels in _kernels.py. Both compute the
same function: tests/ checks them against each other and against a naive reference.
"""

from itertools import chain

import numpy as np

from .decode import allowed_transitions, decode, decode_crf
from .features import Featurizer
from .nn import forward_probs_numpy, init_weights, input_sums, vector_inputs
from .tags import OUTSIDE, binary_to_bio

WEIGHTS = ("Wax", "Waa", "ba", "Wya", "by", "Wyy")
BINARY_TAGSET = ("0", "1")
# longest run the RNN sees at once: a longer sentence is cut into pieces of this many tokens
MAX_RUN = 1000
# tokens of sentences tagged in one batch at most
TAG_BATCH_TOKENS = 65536


class Model:
    """A trained tagger. ``tagset`` is ``("0", "1")`` for the binary task (one sigmoid output),
    else BIO tags with ``O`` first (one softmax output per tag, or with ``config["crf"]`` the
    emissions of a linear-chain CRF whose transition scores are ``Wyy``)."""

    def __init__(self, features, tagset, weights, config, meta=None, vectors=None, names=None):
        self.features = list(features)
        self.tagset = list(tagset)
        self.weights = weights
        self.config = dict(config)
        self.meta = dict(meta or {})
        # knowledge of words beyond the training corpus: word vectors (with the weight Wv) and
        # name lists, or None
        self.vectors = vectors
        self.names = names
        self.featurizer = Featurizer(self.features, vectors, names)
        self._string_inputs = None  # (featurizer generation, (n_strings, 2H) input sums)
        # both directions of the forward pass on the calling thread (set when other processes
        # already use the cores, and in a forked child, which lacks the helper thread)
        self.single_threaded = False
        self._allowed = None if self.binary else allowed_transitions(self.tagset)

    @property
    def binary(self):
        return tuple(self.tagset) == BINARY_TAGSET

    @property
    def crf(self):
        return bool(self.config.get("crf")) and not self.binary

    @property
    def hidden(self):
        return self.weights["Waa"].shape[1]

    @property
    def types(self):
        return sorted({t[2:] for t in self.tagset if t not in (OUTSIDE, "0", "1")})

    @classmethod
    def new(cls, features, tagset, hidden, seed, config=None, vectors=None, names=None):
        n_outputs = 1 if tuple(tagset) == BINARY_TAGSET else len(tagset)
        weights = init_weights(len(features), hidden, n_outputs, seed,
                               vector_dim=vectors.dim if vectors is not None else 0)
        return cls(features, tagset, weights, dict(config or {}, hidden=hidden, seed=seed),
                   vectors=vectors, names=names)

    def with_weights(self, weights, meta):
        """The same model (vocabularies, knowledge, configuration) with other weights."""
        return Model(self.features, self.tagset, weights, self.config, meta, self.vectors,
                     self.names)

    # ------------------------------------------------------------------------- tagging

    def _tag_outputs(self, tokens, starts):
        """(N, K) outputs of tokens (probabilities, or CRF emissions), through the per-string
        cache of input sums."""
        table, ids = self._input_sums(tokens)
        return forward_probs_numpy(self.weights, starts, table, ids, logits=self.crf,
                                   biased=True, two_threads=not self.single_threaded)

    def weights_changed(self):
        """Drop what was computed from the weights (training updates them in place)."""
        self._string_inputs = None

    def _input_sums(self, tokens):
        """Wax x<t> (+ Wv v<t>) + ba of tokens, one row a distinct token string (a token's
        features and vector, and so its input to the cell, do not depend on its context), as a
        pair of per-direction (n_strings, H) tables, and (N,) ids of the tokens' strings."""
        string_ids = self.featurizer.encode_strings(tokens)
        features = self.featurizer.string_features()  # (n_strings, F) feature ids
        cache = self._string_inputs  # [generation, (2, capacity, H) tables, strings filled]
        if cache is None or cache[0] != self.featurizer.generation:
            cache = [self.featurizer.generation,
                     np.empty((2, 1024, self.hidden), np.float32), 0]
        done = cache[2]
        if done < len(features):
            # grow geometrically: a stream adds a few at a time
            if len(features) > cache[1].shape[1]:
                grown = np.empty((2, max(len(features), 2 * cache[1].shape[1]), self.hidden),
                                 np.float32)
                grown[:, :done] = cache[1][:, :done]
                cache[1] = grown
            sums = (self.weights.quantized_rows(features[done:])  # (n, 2H)
                    if hasattr(self.weights, "quantized_rows")  # a loaded model's int8 Wax
                    else input_sums(self.weights["Wax"], features[done:]))
            if self.vectors is not None:
                rows = self.featurizer.string_vector_rows()[done:len(features)]
                sums += vector_inputs(self.vectors.unit_rows(rows), self.weights["Wv"])
            sums += self.weights["ba"].reshape(-1)
            cache[1][:, done:len(features)] = sums.reshape(len(sums), 2, self.hidden).swapaxes(0, 1)
            cache[2] = len(features)
        self._string_inputs = cache
        return cache[1], string_ids

    def tag(self, sentences, scores=True):
        """Lists of tokens -> for each sentence, (BIO tags, per-token scores).

        Scores are the model's probability of the chosen tag at each token; without
        ``scores`` they are None (a CRF's marginals are not computed)."""
        sentences = sentences if isinstance(sentences, list) else list(sentences)
        results = [None] * len(sentences)
        pending, pending_tokens = [], 0
        for index, tokens in enumerate(sentences):
            if not tokens:
                results[index] = ([], [] if scores else None)
                continue
            pending.append(index)
            pending_tokens += len(tokens)
            if pending_tokens >= TAG_BATCH_TOKENS:
                self._tag_batch(sentences, pending, results, scores)
                pending, pending_tokens = [], 0
        if pending:
            self._tag_batch(sentences, pending, results, scores)
        return results

    def _tag_batch(self, sentences, indices, results, with_scores):
        batch = [sentences[index] for index in indices]
        tokens = list(chain.from_iterable(batch))
        lengths = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
        runs = None  # (sentence index, start, end): long sentences in pieces of MAX_RUN tokens
        if lengths.max() > MAX_RUN:
            runs = [(index, s, min(s + MAX_RUN, n)) for index, n in zip(indices, lengths.tolist())
                    for s in range(0, n, MAX_RUN)]
            lengths = np.array([e - s for _, s, e in runs], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        outputs = self._tag_outputs(tokens, starts)
        if self.crf:
            tag_ids, scores = decode_crf(outputs, starts, self._allowed, self.weights["Wyy"],
                                         with_scores)
        else:
            tag_ids, scores = decode(outputs, starts, self._allowed)
        # whole-batch conversions (C loops), then a slice a sentence; the runs of a sentence
        # are consecutive, so a sentence is tokens starts[first run] .. starts[last run + 1]
        tags = self.ids_to_tags(tag_ids, starts)
        scores = scores.tolist() if with_scores else None
        if runs is None:  # no sentence was cut: run r is sentence indices[r]
            bounds = zip(indices, starts[:-1].tolist(), starts[1:].tolist())
        else:
            spans = {}
            for r, (index, _, _) in enumerate(runs):
                spans[index] = (spans[index][0] if index in spans else starts[r], starts[r + 1])
            bounds = ((index, a, b) for index, (a, b) in spans.items())
        for index, a, b in bounds:
            results[index] = (tags[a:b], scores[a:b] if with_scores else None)

    def ids_to_tags(self, ids, starts):
        """Tag ids of the runs starts[r]:starts[r+1] -> BIO tags (a binary model's 0/1 runs
        become B-ENT I-ENT ..., each sentence on its own)."""
        if self.binary:
            labels = [BINARY_TAGSET[i] for i in ids]
            return [tag for a, b in zip(starts[:-1], starts[1:])
                    for tag in binary_to_bio(labels[a:b])]
        return np.array(self.tagset, dtype=object)[ids].tolist()

    # ------------------------------------------------------------------------ the file

    def save(self, path):
        """Write the model file (modelfile.save_model: atomic, deterministic, no pickles)."""
        from .modelfile import save_model

        save_model(self, path)
