"""Training: the epoch loop over mini-batches, as a generator of progress events for the CLI.

Recipe (defaults in TrainConfig): Adam on the per-step cross-entropy of the lecture, gradient
clipping by global norm (BPTT can explode), dropout on the activations fed to Wya and on the
word-identity features (so the unknown-word path is trained), a held-out dev set (or 10% of
train when none is given) scored each epoch, the best model kept, the learning rate halved when
dev F1 stalls and training stopped after ``patience`` epochs without a gain.

Results depend on the seed, the corpus and the CPU's vector width (fastmath), not on the thread
count: gradients are summed per sentence in a fixed order.
"""

import json
import math
import os
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, replace

import numpy as np

from .errors import BadInputError, NertagError
from .metrics import score
from .model import BINARY_TAGSET, MAX_RUN, Model, allowed_transitions, today, write_npz_atomic
from .tags import binary_to_bio, bio_tagset, entity_types, map_types, to_binary, to_bio
from .vocab import N_TEMPLATES, build_features, encode_tags

CHECKPOINT_VERSION = 2  # 2: the config holds input_dropout


@dataclass
class TrainConfig:
    hidden: int = 100  # units a direction
    epochs: int = 40  # at most; early stopping usually ends sooner
    batch_size: int = 32  # sentences
    lr: float = 0.004
    dropout: float = 0.3  # on [a_fwd; a_bwd] before Wya
    input_dropout: float = None  # on Wax x<t>, the cell's input; None: by corpus size
    word_dropout: float = 0.1  # word and lower-case features -> unknown
    feature_dropout: float = 0.0  # any single feature -> its template's unknown
    case_augment: float = 0.0  # sentences seen lower-cased (2/3) or UPPER-CASED (1/3)
    clip: float = 5.0  # global gradient norm
    weight_decay: float = 0.0  # decoupled (AdamW), on the rows a batch touches
    min_count: int = 2  # a feature seen fewer times is unknown
    max_features: int = 200_000
    patience: int = 5  # epochs without a dev gain before stopping
    seed: int = 1
    threads: int = 0  # 0: all cores
    binary: bool = False  # the lecture's entity / not-entity task (sigmoid output)
    crf: bool = True  # a linear-chain CRF over the logits instead of per-step cross-entropy
    dev_fraction: float = 0.1  # held out of train when no dev set is given


def input_dropout_for(n_tokens):
    """The default input dropout for a training corpus of n_tokens: 0.5 up to 100k tokens,
    falling linearly in log size to 0.2 at 1M and beyond. Measured (3 seeds each): 0.5 gave
    +1 to +2 typed F1 over none on WikiGold (31k tokens) and BTC (100k); on the 1.26M tokens
    of the default model's corpora, 0.2 beat both 0.5 and none on the dev sets."""
    if n_tokens <= 100_000:
        return 0.5
    return round(max(0.2, 0.5 - 0.3 * math.log10(n_tokens / 100_000)), 2)


class TrainingDiverged(NertagError):
    pass


class Trainer:
    """Holds the state of one training run; ``run()`` yields progress events (dicts)."""

    def __init__(self, train_corpora, dev_corpus=None, config=None, type_map=None,
                 checkpoint_dir=None, resume=False, embeddings=None):
        self.config = replace(config) if config else TrainConfig()  # the caller's stays as given
        self.embeddings = embeddings  # (words, (n, d) vectors) from corpus.read_embeddings
        self.type_map = dict(type_map or {})
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.stop_requested = False
        self.best_model = None
        self.best_f1 = -1.0
        self.corpora = [c.name for c in train_corpora]
        train, dev = self._prepare(train_corpora, dev_corpus)
        self.train_sentences, self.dev_sentences = train, dev

    # ------------------------------------------------------------------ data preparation

    def _map_tags(self, tags):
        if self.config.binary:  # the lecture's view, as `nertag eval` scores it: runs of 1s
            return binary_to_bio([str(b) for b in to_binary(tags)])
        return map_types(tags, self.type_map)

    def _prepare(self, train_corpora, dev_corpus):
        cfg = self.config
        families = {c.family for c in train_corpora}
        if len(families) > 1:
            first_binary = next(c for c in train_corpora if c.family == "binary")
            raise BadInputError("0/1 tags here, BIO tags in the other training files: give one "
                                "form (or train typed files with --binary)", first_binary.name)
        if families == {"binary"}:
            cfg.binary = True
        # a sentence cut into runs: each run's tags made valid BIO again (a leading I- -> B-)
        train = [(s.tokens[i:i + MAX_RUN], to_bio(self._map_tags(s.tags)[i:i + MAX_RUN]))
                 for c in train_corpora for s in c.sentences
                 for i in range(0, len(s.tokens), MAX_RUN)]
        if dev_corpus is not None:
            dev = [(s.tokens, self._map_tags(s.tags)) for s in dev_corpus.sentences]
            extra = set(entity_types([t for _, ts in dev for t in ts])) - set(
                entity_types([t for _, ts in train for t in ts]))
            if extra:
                raise BadInputError(
                    "dev set has entity types the training corpus lacks: "
                    f"{', '.join(sorted(extra))}"
                    " (map them with --map or use a dev set of the same tag set)", dev_corpus.name)
            self.dev_name = dev_corpus.name
        else:
            rng = np.random.default_rng(cfg.seed)
            order = rng.permutation(len(train))
            n_dev = int(len(train) * cfg.dev_fraction) if len(train) >= 10 else 0
            dev = [train[i] for i in sorted(order[:n_dev])]
            train = [train[i] for i in sorted(order[n_dev:])]
            self.dev_name = f"{n_dev} sentences held out of train" if n_dev else "train itself"
            if not dev:
                dev = train
        if cfg.input_dropout is None:
            cfg.input_dropout = input_dropout_for(sum(len(tokens) for tokens, _ in train))
        types = entity_types([t for _, ts in train for t in ts])
        if not types:
            raise BadInputError("the training corpus has no entities", self.corpora[0])
        self.tagset = list(BINARY_TAGSET) if cfg.binary else bio_tagset(types)
        return train, dev

    # ------------------------------------------------------------------------ training

    def run(self):
        cfg = self.config
        import numba

        from . import kernels  # Numba: imported only when training

        threads = cfg.threads or numba.config.NUMBA_NUM_THREADS
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))

        class _Tokens:  # what build_features reads
            def __init__(self, tokens):
                self.tokens = tokens

        features = build_features([_Tokens(t) for t, _ in self.train_sentences], cfg.min_count,
                                  cfg.max_features)
        if self.embeddings is not None:  # words with vectors get a row even if train lacks them
            known = set(features)
            features += [f for f in dict.fromkeys("l:" + w.lower() for w in self.embeddings[0])
                         if f not in known]
        model = Model.new(features, self.tagset, cfg.hidden, cfg.seed,
                          config={"binary": cfg.binary, "type_map": self.type_map,
                                  "crf": cfg.crf and not cfg.binary})
        if self.embeddings is not None:
            _init_from_embeddings(model, *self.embeddings, seed=cfg.seed)
        X, Y, starts = self._encode(model)
        cased = self._case_variants(model) if cfg.case_augment > 0 else None
        N = len(Y)
        K = model.weights["Wya"].shape[0]
        H = cfg.hidden
        self._init_output_bias(model, Y, K)
        state = self._fresh_state(model)
        if self.resume:
            state = self._load_checkpoint(model, state)
        yield {"event": "start", "tokens": int(N), "sentences": len(starts) - 1,
               "dev": self.dev_name, "dev_sentences": len(self.dev_sentences),
               "features": len(features), "tags": self.tagset, "threads": numba.get_num_threads(),
               "config": asdict(cfg), "resumed_epoch": state["epoch"]}

        w = model.weights
        allowed = (np.ones((K + 1, K), dtype=np.bool_) if model.binary
                   else allowed_transitions(model.tagset))
        grads = {k: np.zeros_like(v) for k, v in w.items() if k != "Wax"}
        gWax = np.zeros_like(w["Wax"])
        touched = np.zeros(len(features), dtype=np.bool_)
        n_sent = len(starts) - 1
        unknown = np.arange(X.shape[1], dtype=np.int32)
        no_input_dropout = np.ones((0, 2 * H), dtype=np.float32)
        while state["epoch"] < cfg.epochs and not self.stop_requested:
            epoch = state["epoch"] + 1
            rng = np.random.default_rng([cfg.seed, epoch])  # per epoch: resumable
            order = rng.permutation(n_sent)
            t0 = time.perf_counter()
            loss_sum, done_tokens = 0.0, 0
            for b in range(0, n_sent, cfg.batch_size):
                if self.stop_requested:
                    break
                batch = order[b:b + cfg.batch_size]
                tok = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in batch])
                bstarts = np.concatenate([[0], np.cumsum(starts[batch + 1] - starts[batch])])
                Xb = X[tok]
                if cased is not None:  # the same sentence as lower-case or all-caps text
                    pick = rng.random(len(batch))
                    variant = np.repeat(np.where(pick < cfg.case_augment * 2 / 3, 1,
                                                 np.where(pick < cfg.case_augment, 2, 0)),
                                        starts[batch + 1] - starts[batch])
                    for v in (1, 2):
                        Xb[variant == v] = cased[v - 1][tok[variant == v]]
                if cfg.word_dropout > 0:  # word identity -> unknown: trains the unknown path
                    drop = rng.random(len(tok)) < cfg.word_dropout
                    Xb[drop, :2] = unknown[:2]
                if cfg.feature_dropout > 0:
                    drop = rng.random(Xb.shape) < cfg.feature_dropout
                    Xb[drop] = np.broadcast_to(unknown, Xb.shape)[drop]
                keep = _dropout_mask(rng, len(tok), 2 * H, cfg.dropout)
                keep_in = (_dropout_mask(rng, len(tok), 2 * H, cfg.input_dropout)
                           if cfg.input_dropout > 0 else no_input_dropout)
                S = len(batch)
                buffers = state["buffers"](S, len(tok))
                A, dZ, D, Alpha, Beta, loss, gWaa_s, gba_s, gWya_s, gby_s, gWyy_s = buffers
                n = len(tok)
                kernels.loss_and_grads(Xb, bstarts, Y[tok], keep, keep_in, np.float32(1.0 / n),
                                       w["Wax"], w["Waa"], w["ba"], w["Wya"], w["by"], w["Wyy"],
                                       allowed, model.crf, A[:n], dZ[:n], D[:n], Alpha[:n],
                                       Beta[:n], loss[:S], gWaa_s[:S], gba_s[:S], gWya_s[:S],
                                       gby_s[:S], gWyy_s[:S])
                batch_loss = float(loss[:S].sum())
                if not np.isfinite(batch_loss):
                    raise TrainingDiverged(
                        f"the loss became {batch_loss} in epoch {epoch}; nothing was written "
                        f"from this run after its best epoch (try a lower --lr than {cfg.lr})")
                for name, per_sentence in (("Waa", gWaa_s), ("ba", gba_s), ("Wya", gWya_s),
                                           ("by", gby_s), ("Wyy", gWyy_s)):
                    kernels.sum_rows(per_sentence[:S].reshape(S, -1), grads[name].reshape(-1))
                rows = kernels.scatter_wax_grad(Xb, dZ[:len(tok)], gWax, touched)
                norm2 = kernels.sum_squares_rows(gWax, rows)
                norm2 += sum(kernels.sum_squares(g) for g in grads.values())
                scale = min(1.0, cfg.clip / (np.sqrt(norm2) + 1e-12))
                state["step"] += 1
                t = state["step"]
                lr_t = state["lr"] * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
                decay = state["lr"] * cfg.weight_decay
                m, v = state["m"], state["v"]
                # float32 scalars: float64 ones would turn the updates into float64 arithmetic
                hyper = [np.float32(x) for x in (lr_t, 0.9, 0.999, 1e-8, scale, decay)]
                for name, g in grads.items():
                    kernels.adam_dense(w[name].reshape(-1), g.reshape(-1), m[name].reshape(-1),
                                       v[name].reshape(-1), *hyper)
                kernels.adam_rows(w["Wax"], gWax, m["Wax"], v["Wax"], rows, touched, *hyper)
                loss_sum += batch_loss
                done_tokens += len(tok)
                seconds = time.perf_counter() - t0
                yield {"event": "batch", "epoch": epoch, "tokens": done_tokens, "of": int(N),
                       "loss": loss_sum / done_tokens, "tokens_per_s": done_tokens / seconds}
            if self.stop_requested:
                break
            seconds = time.perf_counter() - t0
            if not all(np.isfinite(v).all() for v in model.weights.values()):
                raise TrainingDiverged(
                    f"the weights became NaN or infinite in epoch {epoch}; nothing was written "
                    f"from this run after its best epoch (try a lower --lr than {cfg.lr})")
            dev_scores = self.evaluate(model)
            f1 = dev_scores["f1"]
            improved = f1 > self.best_f1
            if improved:
                self.best_f1 = f1
                state["bad_epochs"] = 0
                self.best_model = self._snapshot(model, epoch, dev_scores)
            else:
                state["bad_epochs"] += 1
                state["lr"] *= 0.5
            state["epoch"] = epoch
            self._save_checkpoint(model, state)
            yield {"event": "epoch", "epoch": epoch, "loss": loss_sum / max(done_tokens, 1),
                   "tokens_per_s": done_tokens / seconds, "seconds": seconds,
                   "dev_f1": f1, "dev": dev_scores, "best": improved, "lr": state["lr"]}
            if state["bad_epochs"] >= cfg.patience:
                yield {"event": "early_stop", "epoch": epoch}
                break
        yield {"event": "done", "interrupted": self.stop_requested, "best_f1": self.best_f1,
               "model": self.best_model}

    def _case_variants(self, model):
        """Feature ids of the training tokens lower-cased and upper-cased: (N, F) each."""
        tokens = [t for toks, _ in self.train_sentences for t in toks]
        return (model.featurizer.encode([t.lower() for t in tokens]),
                model.featurizer.encode([t.upper() for t in tokens]))

    def _encode(self, model):
        tokens = [t for toks, _ in self.train_sentences for t in toks]
        X = model.featurizer.encode(tokens)
        if self.config.binary:
            Y = np.array([y for _, tags in self.train_sentences for y in to_binary(tags)],
                         dtype=np.int32)
        else:
            Y = encode_tags([tags for _, tags in self.train_sentences], self.tagset)
        lengths = [len(toks) for toks, _ in self.train_sentences]
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return X, Y, starts

    @staticmethod
    def _init_output_bias(model, Y, K):
        # start from the tag prior, so the first batches do not just learn that O is common
        counts = np.bincount(Y, minlength=max(K, 2)).astype(np.float64) + 1.0
        prior = counts / counts.sum()
        by = np.log(prior[1] / prior[0]) if K == 1 else np.log(prior[:K])
        model.weights["by"][:] = by

    def _fresh_state(self, model):
        cfg = self.config
        H2 = 2 * cfg.hidden
        K = model.weights["Wya"].shape[0]
        buffers = _Buffers(H2, cfg.hidden, K)
        return {"epoch": 0, "step": 0, "lr": cfg.lr, "bad_epochs": 0, "buffers": buffers.get,
                "m": {k: np.zeros_like(v) for k, v in model.weights.items()},
                "v": {k: np.zeros_like(v) for k, v in model.weights.items()}}

    def _snapshot(self, model, epoch, dev_scores):
        meta = {"trained": today(), "corpora": [_short_name(c) for c in self.corpora],
                "dev": self.dev_name, "epoch": epoch,
                "dev_scores": {k: dev_scores[k] for k in ("precision", "recall", "f1")},
                "train_config": asdict(self.config)}
        weights = {k: v.copy() for k, v in model.weights.items()}
        return Model(model.features, model.tagset, weights, model.config, meta)

    def evaluate(self, model):
        """Entity F1 on the dev sentences (untyped for a binary model)."""
        model.weights_changed()
        results = model.tag([toks for toks, _ in self.dev_sentences], scores=False)
        return score((gold, pred) for (_, gold), (pred, _) in
                     zip(self.dev_sentences, results)).as_dict()

    # --------------------------------------------------------------------- checkpoints

    def _checkpoint_path(self):
        return os.path.join(self.checkpoint_dir, "checkpoint.npz")

    def _save_checkpoint(self, model, state):
        if not self.checkpoint_dir:
            return
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        arrays = {"meta": np.frombuffer(json.dumps({
            "version": CHECKPOINT_VERSION, "epoch": state["epoch"], "step": state["step"],
            "lr": state["lr"], "bad_epochs": state["bad_epochs"], "best_f1": self.best_f1,
            "config": asdict(self.config), "n_features": len(model.features),
            "fingerprint": self._fingerprint(model),
            "best_meta": self.best_model.meta if self.best_model else None,
        }).encode(), dtype=np.uint8)}
        for k, v in model.weights.items():
            arrays["w_" + k] = v
            arrays["m_" + k] = state["m"][k]
            arrays["v_" + k] = state["v"][k]
            if self.best_model is not None:
                arrays["best_" + k] = self.best_model.weights[k]
        write_npz_atomic(self._checkpoint_path(), arrays)

    def _fingerprint(self, model):
        """What must be the same to resume: features, tags, type map and training data."""
        import hashlib

        if getattr(self, "_fingerprint_value", None):
            return self._fingerprint_value
        digest = hashlib.sha256()
        for part in (model.features, model.tagset, sorted(self.type_map.items()),
                     [(toks, tags) for toks, tags in self.train_sentences]):
            digest.update(json.dumps(part).encode("utf-8", "surrogatepass"))
        self._fingerprint_value = digest.hexdigest()
        return self._fingerprint_value

    def _load_checkpoint(self, model, state):
        path = self._checkpoint_path() if self.checkpoint_dir else None
        if not path or not os.path.exists(path):
            raise BadInputError("no checkpoint to resume from (train with --checkpoint DIR)",
                                path or "--resume")
        try:
            return self._read_checkpoint(path, model, state)
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise BadInputError(f"unreadable checkpoint ({type(exc).__name__})", path) from None

    def _read_checkpoint(self, path, model, state):
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            mine = asdict(self.config)
            theirs = dict(meta["config"])
            for key in ("epochs", "threads", "patience"):
                theirs.pop(key, None)
                mine.pop(key, None)
            if meta["version"] != CHECKPOINT_VERSION:
                raise BadInputError(f"checkpoint of format {meta['version']} from another "
                                    f"nertag version (this one writes {CHECKPOINT_VERSION}): "
                                    "start again without --resume", path)
            if theirs != mine or \
                    meta.get("fingerprint") != self._fingerprint(model):
                raise BadInputError("checkpoint was made with other settings or another corpus",
                                    path)
            for k in model.weights:
                model.weights[k][...] = npz["w_" + k]
                state["m"][k][...] = npz["m_" + k]
                state["v"][k][...] = npz["v_" + k]
            if meta["best_meta"] is not None:
                weights = {k: npz["best_" + k].copy() for k in model.weights}
                self.best_model = Model(model.features, model.tagset, weights, model.config,
                                        meta["best_meta"])
        self.best_f1 = meta["best_f1"]
        state.update(epoch=meta["epoch"], step=meta["step"], lr=meta["lr"],
                     bad_epochs=meta["bad_epochs"])
        return state


class _Buffers:
    """Work arrays of the training kernel, grown when a batch needs more and then reused."""

    def __init__(self, H2, H, K):
        self.H2, self.H, self.K = H2, H, K
        self.sentences = self.tokens = 0
        self.arrays = None

    def get(self, S, n_tokens):
        if S > self.sentences or n_tokens > self.tokens:
            self.sentences = max(S, self.sentences)
            self.tokens = max(int(n_tokens * 1.25), self.tokens)
            n, most, H2, H, K = self.sentences, self.tokens, self.H2, self.H, self.K
            self.arrays = (
                np.zeros((most, H2), np.float32), np.zeros((most, H2), np.float32),
                np.zeros((most, K), np.float32), np.zeros((most, K), np.float64),
                np.zeros((most, K), np.float64),
                np.zeros(n, np.float64), np.zeros((n, 2, H, H), np.float32),
                np.zeros((n, 2, H), np.float32), np.zeros((n, K, H2), np.float32),
                np.zeros((n, K), np.float32), np.zeros((n, K + 1, K), np.float32))
        return self.arrays


def _dropout_mask(rng, n, width, p):
    """(n, width) float32: 0 with probability p (quantised to 1/256), else 1/(1-p)."""
    if p <= 0:
        return np.ones((n, width), dtype=np.float32)
    threshold = int(round(p * 256))
    kept = np.frombuffer(rng.bytes(n * width), dtype=np.uint8).reshape(n, width) >= threshold
    return np.multiply(kept, np.float32(256.0 / (256 - threshold)), dtype=np.float32)


def _short_name(path):
    """``../shared/data/wikigold/train.txt`` -> ``wikigold/train.txt``: enough to tell corpora
    apart, without the trainer's own folders."""
    parts = os.path.normpath(path).split(os.sep)
    return "/".join(p for p in parts[-2:] if p not in ("", ".", ".."))


def _init_from_embeddings(model, words, vectors, seed):
    """Start the rows of lower-cased word features from pretrained vectors, through a fixed
    random projection to the 2H row width (it keeps the vectors' geometry, so words with near
    vectors start with near rows, seen in training or not). Rows keep the initial scale."""
    Wax = model.weights["Wax"]
    rng = np.random.default_rng([seed, 7])
    projection = rng.normal(0.0, 1.0 / np.sqrt(N_TEMPLATES), size=(vectors.shape[1],
                                                                   Wax.shape[1]))
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    index = model.featurizer.index
    for word, vector in zip(words, unit):
        row = index.get("l:" + word.lower())
        if row is not None:
            Wax[row] = vector @ projection
