"""Training: the epoch loop over mini-batches, as a generator of progress events (the CLI
draws them; ``nertag.train`` passes them to a callback).

Recipe (defaults in TrainConfig): Adam on the negative log-likelihood of a linear-chain CRF
over the logits (or, with ``crf=False``, the lecture's per-step cross-entropy), gradient
clipping by global norm (BPTT can explode), dropout on the activations fed to Wya and on the
word-identity features (so the unknown-word path is trained), a held-out dev set (or 10% of
train when none is given) scored each epoch, the best model kept, the learning rate halved when
dev F1 stalls and training stopped after ``patience`` epochs without a gain.

Knowledge of words beyond the corpus is on by default: the shipped word vectors (the cell's
input gains ``Wv v<t>``) and name lists (a feature template). Both are left out, with a warning,
when too few of the corpus's words have a vector (another language: VECTOR_MIN_SHARE).

Results depend on the seed, the corpus and the CPU's vector width (fastmath), not on the thread
count: gradients are summed over a batch in an order the batch alone fixes.
"""

import json
import math
import os
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, replace

import numpy as np

from . import _kernels as kernels
from . import grad
from .decode import allowed_transitions
from .errors import BadInputError, NertagError
from .features import build_features, encode_tags
from .model import BINARY_TAGSET, MAX_RUN, Model
from .modelfile import today, write_npz_atomic
from .tagger import evaluate, gold_tags, one_blas_thread
from .tags import bio_tagset, entity_types, to_binary, to_bio

CHECKPOINT_VERSION = 3  # 2: the config holds input_dropout; 3: word vectors and name lists
SHIPPED = "shipped"  # TrainConfig.vectors: the word vectors that ship with nertag
# below this share of the corpus's alphabetic tokens having a vector, vectors and name lists are
# left out: the corpus is not in the vectors' language. Of the shipped (English) vectors, the
# shared English corpora have 0.95 (tweets) to 1.00; a Spanish sentence had 0.79, a German one
# 0.60, a Finnish one 0.07
VECTOR_MIN_SHARE = 0.9


@dataclass
class TrainConfig:
    hidden: int = 100  # units a direction
    epochs: int = 40  # at most; early stopping usually ends sooner
    batch_size: int = 32  # sentences
    lr: float = 0.004
    dropout: float = 0.3  # on [a_fwd; a_bwd] before Wya
    input_dropout: float = None  # on Wax x<t> + Wv v<t>, the cell's input; None: by size
    word_dropout: float = 0.1  # word and lower-case features -> unknown
    feature_dropout: float = 0.1  # any single feature -> its template's unknown (see README)
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
    vectors: str = SHIPPED  # word vectors: SHIPPED, a file, or None (none, and no name lists)
    names: bool = True  # the shipped name lists as a feature template (needs vectors on)


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


def make_trainer(corpus, dev=None, map=None, encoding="utf-8",  # noqa: A002
                 vectors_limit=400_000, checkpoint=None, resume=False, **options):
    """A Trainer of the CoNLL files ``corpus`` (a path or a list of paths), with ``dev`` files
    for early stopping; ``options`` are TrainConfig's fields (the CLI's long flags; a text
    vectors file is read up to ``vectors_limit`` words). The one way the CLI and
    ``nertag.train`` set up a run."""
    from .conll import check_encoding, read_conll

    corpus_paths = _paths(corpus, "corpus")
    dev_paths = _paths(dev, "dev") if dev is not None else []
    if resume and not checkpoint:
        raise TypeError("resume=True needs checkpoint=DIR")
    if "embeddings" in options:
        raise TypeError("embeddings= is now vectors= (a word2vec text file, or a .npy matrix "
                        "with its words in a .txt file of the same name)")
    fields = set(TrainConfig.__dataclass_fields__)
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(fields))})")
    # an option left as None keeps its default; vectors=None means no vectors
    config = TrainConfig(**{k: v for k, v in options.items() if v is not None or k == "vectors"})
    if config.vectors in (None, "", "none") and options.get("names"):
        raise TypeError("names=True needs word vectors: the name lists go with them")
    codec = check_encoding(encoding)
    corpora = [read_conll(path, encoding=codec) for path in corpus_paths]
    dev_corpora = [read_conll(path, encoding=codec) for path in dev_paths] or None
    knowledge = load_knowledge(config, vectors_limit)
    return Trainer(corpora, dev_corpora, config, dict(map or {}), checkpoint, resume, knowledge)


def load_knowledge(config, vectors_limit=400_000):
    """(vectors, names) that ``config`` asks for: the shipped tables, or vectors read from a
    file (quantised as a model file will store them, so training sees what tagging will); a
    None for each one left out."""
    from . import knowledge

    if config.vectors in (None, "", "none"):
        return None, None
    if config.vectors == SHIPPED:
        vectors = knowledge.load_vectors()
    else:
        vectors = read_vectors_file(config.vectors, vectors_limit)
    names = knowledge.NameTable.from_gazetteer(knowledge.load_gazetteer()) if config.names \
        else None
    return vectors, names


def read_vectors_file(path, limit):
    """Word vectors from ``path``: word2vec/GloVe text, or ``X.npy`` with its words (one a
    line, in row order) in ``X.txt``; stored and used as int8 rows, as in a model file."""
    from . import knowledge

    path = os.fspath(path)
    if path.endswith(".npy"):
        words = path[:-len(".npy")] + ".txt"
        if not os.path.exists(words):
            raise BadInputError(f"a .npy matrix needs its words, one a line, in {words}", path)
        vectors = knowledge.read_vectors_npy(path, words)
    else:
        vectors = knowledge.read_vectors_text(path, limit)
    quantised = knowledge.Vectors.from_arrays(vectors.save_arrays())
    quantised.source = path
    return quantised


def _paths(paths, what):
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    paths = list(paths)
    if not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise TypeError(f"{what} must be a path or a non-empty list of paths")
    return [os.fspath(p) for p in paths]


def train(corpus, dev=None, callback=None, **options):
    """Train a model on CoNLL files; returns a Tagger of the best epoch's model. ``callback``,
    if given, gets each progress event (a dict with an ``event`` key: start, warning, batch,
    epoch, early_stop, done). See make_trainer for the options."""
    from .tagger import Tagger

    trainer = make_trainer(corpus, dev, **options)
    result = None
    for event in trainer.run():
        if callback is not None:
            callback(event)
        if event["event"] == "done":
            result = event["model"]
    if result is None:
        raise NertagError("training stopped before the first epoch ended")
    return Tagger(result)


class Trainer:
    """Holds the state of one training run; ``run()`` yields progress events (dicts)."""

    def __init__(self, train_corpora, dev_corpus=None, config=None, type_map=None,
                 checkpoint_dir=None, resume=False, knowledge=None):
        self.config = replace(config) if config else TrainConfig()  # the caller's stays as given
        # (vectors, names) from load_knowledge (loaded here when not given); None for one off
        self.vectors, self.names = knowledge or load_knowledge(self.config)
        self.type_map = dict(type_map or {})
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.stop_requested = False
        self.best_model = None
        self.best_f1 = -1.0
        self.corpora = [c.name for c in train_corpora]
        self.warnings = []  # shown by the CLI (``warning`` events)
        self.vector_share = None
        train, dev = self._prepare(train_corpora, dev_corpus)
        self.train_sentences, self.dev_sentences = train, dev

    # ------------------------------------------------------------------ data preparation

    def _map_tags(self, tags):
        return gold_tags(self.config.binary, tags, self.type_map)

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
        dev_corpora = ([] if dev_corpus is None else
                       [dev_corpus] if hasattr(dev_corpus, "sentences") else list(dev_corpus))
        if dev_corpora:
            dev = [(s.tokens, self._map_tags(s.tags)) for c in dev_corpora for s in c.sentences]
            extra = set(entity_types([t for _, ts in dev for t in ts])) - set(
                entity_types([t for _, ts in train for t in ts]))
            if extra:
                raise BadInputError(
                    "dev set has entity types the training corpus lacks: "
                    f"{', '.join(sorted(extra))}"
                    " (map them with --map or use a dev set of the same tag set)",
                    " + ".join(c.name for c in dev_corpora))
            self.dev_name = " + ".join(short_name(c.name) for c in dev_corpora)
        else:
            rng = np.random.default_rng(cfg.seed)
            order = rng.permutation(len(train))
            n_dev = int(len(train) * cfg.dev_fraction) if len(train) >= 10 else 0
            dev = [train[i] for i in sorted(order[:n_dev])]
            train = [train[i] for i in sorted(order[n_dev:])]
            self.dev_name = f"{n_dev} sentences held out of train" if n_dev else "train itself"
            if not dev:
                dev = train
                self.warnings.append(
                    f"only {len(train)} training sentences and no --dev: the dev set is the "
                    "training set itself, so early stopping and the dev scores mean little")
        if cfg.input_dropout is None:
            cfg.input_dropout = input_dropout_for(sum(len(tokens) for tokens, _ in train))
        types = entity_types([t for _, ts in train for t in ts])
        if not types:
            raise BadInputError("the training corpus has no entities", self.corpora[0])
        self.tagset = list(BINARY_TAGSET) if cfg.binary else bio_tagset(types)
        self._check_vector_share(train)
        return train, dev

    def _check_vector_share(self, train):
        """Leave vectors and name lists out of a corpus whose words mostly have no vector."""
        if self.vectors is None:
            return
        counts = {}
        for tokens, _ in train:
            for token in tokens:
                if token.isalpha():
                    counts[token] = counts.get(token, 0) + 1
        found = self.vectors.lookup(list(counts)) >= 0 if counts else np.zeros(0, bool)
        total = sum(counts.values())
        self.vector_share = float(np.dot(found, list(counts.values())) / total) if total else 1.0
        if self.vector_share < VECTOR_MIN_SHARE and getattr(self.vectors, "source", None):
            self.warnings.append(  # vectors the user gave are kept: they asked for them
                f"only {self.vector_share:.0%} of the corpus's words have a vector in "
                f"{os.path.basename(self.vectors.source)}: are they of the corpus's language?")
        elif self.vector_share < VECTOR_MIN_SHARE:
            self.warnings.append(
                f"only {self.vector_share:.0%} of the corpus's words have a word vector (under "
                f"{VECTOR_MIN_SHARE:.0%}: another language?): training without vectors and name "
                "lists (give vectors of the corpus's language with --vectors FILE)")
            self.vectors = self.names = None

    def knowledge_config(self):
        """What the model records of its word vectors and name lists (None when off)."""
        vectors = names = None
        if self.vectors is not None:
            source = getattr(self.vectors, "source", None)
            vectors = {"source": "file" if source else SHIPPED,
                       "name": os.path.basename(source) if source else self.vectors.name,
                       "sha256": self.vectors.sha256, "words": len(self.vectors),
                       "dim": self.vectors.dim}
        if self.names is not None:
            names = {"sha256": self.names.sha256, "words": len(self.names)}
        return {"vectors": vectors, "names": names}

    def knowledge_summary(self):
        """One line for the start of training: what knowledge of words is used."""
        if self.vectors is None:
            return "no word vectors or name lists: the lecture's features alone"
        v = self.knowledge_config()["vectors"]
        text = (f"word vectors: {'the shipped ' if v['source'] == SHIPPED else ''}{v['name']} "
                f"({v['words']:,} words x {v['dim']}; {self.vector_share:.0%} of the corpus's "
                "words have one)")
        if self.names is not None:
            text += f"; name lists: the shipped ones ({len(self.names):,} single words)"
        return text

    # ------------------------------------------------------------------------ training

    def run(self):
        """Train, yielding progress events: ``start``, any ``warning``s, ``batch`` and
        ``epoch`` events, maybe ``early_stop``, and last ``done`` (with the best model). BLAS
        runs on one thread meanwhile (the word vectors' products beside Numba's threads)."""
        with one_blas_thread():
            yield from self._run()

    def _run(self):
        cfg = self.config
        threads = self._set_threads()
        model = self._new_model()
        X, Y, starts, vectors = self._encode(model)
        cased = self._case_variants(model) if cfg.case_augment > 0 else None
        self._init_output_bias(model, Y, model.weights["Wya"].shape[0])
        state = self._fresh_state(model)
        if self.resume:
            state = self._load_checkpoint(model, state)
        yield {"event": "start", "tokens": len(Y), "sentences": len(starts) - 1,
               "dev": self.dev_name, "dev_sentences": len(self.dev_sentences),
               "features": len(model.features), "tags": self.tagset, "threads": threads,
               "config": asdict(cfg), "resumed_epoch": state["epoch"],
               "knowledge": self.knowledge_summary()}
        for message in self.warnings:
            yield {"event": "warning", "message": message}
        batches = _Batches(X, Y, starts, cased, vectors, cfg)
        while state["epoch"] < cfg.epochs and not self.stop_requested:
            epoch = state["epoch"] + 1
            yield from self._epoch(model, batches, state, epoch)
            if self.stop_requested:
                break
            yield self._end_epoch(model, state, epoch)
            if state["bad_epochs"] >= cfg.patience:
                yield {"event": "early_stop", "epoch": epoch}
                break
        yield {"event": "done", "interrupted": self.stop_requested, "best_f1": self.best_f1,
               "model": self.best_model}

    def _set_threads(self):
        import numba  # only when training

        threads = self.config.threads or numba.config.NUMBA_NUM_THREADS
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        return numba_threads()

    def _new_model(self):
        """A model with fresh weights over the training corpus's feature vocabulary."""
        cfg = self.config
        features = build_features([tokens for tokens, _ in self.train_sentences],
                                  cfg.min_count, cfg.max_features, self.names)
        config = {"binary": cfg.binary, "type_map": self.type_map,
                  "crf": cfg.crf and not cfg.binary, **self.knowledge_config()}
        return Model.new(features, self.tagset, cfg.hidden, cfg.seed, config, self.vectors,
                         self.names)

    def _epoch(self, model, batches, state, epoch):
        """One pass over the training sentences in a random order: a step a batch, a
        ``batch`` event after each."""
        cfg = self.config
        w = model.weights
        K = w["Wya"].shape[0]
        allowed = (np.ones((K + 1, K), dtype=np.bool_) if model.binary
                   else allowed_transitions(model.tagset))
        rng = np.random.default_rng([cfg.seed, epoch])  # per epoch: resumable
        t0 = time.perf_counter()
        state["loss_sum"], state["done_tokens"], state["t0"] = 0.0, 0, t0
        # a core Numba leaves free makes the next batch meanwhile (where Numba's workers have
        # every core, a helper thread beside them, spinning as they wait, cost 13%)
        spare_core = numba_threads() < usable_cores()
        made = _made_ahead if spare_core else iter
        for Xb, bstarts, Yb, keep, keep_in, Vb in made(batches.epoch(rng)):
            if self.stop_requested:
                break
            batch_loss, rows = grad.loss_and_grads(w, Xb, bstarts, Yb, keep, keep_in, allowed,
                                                   model.crf, state["buffers"], Vb)
            if not np.isfinite(batch_loss):
                raise TrainingDiverged(
                    f"the loss became {batch_loss} in epoch {epoch}; nothing was written "
                    f"from this run after its best epoch (try a lower --lr than {cfg.lr})")
            norm = grad.gradient_norm(state["buffers"], rows)
            scale = min(1.0, cfg.clip / (norm + 1e-12))
            state["adam"].update(w, state["buffers"], rows, scale, cfg.weight_decay)
            state["loss_sum"] += batch_loss
            state["done_tokens"] += len(Xb)
            done = state["done_tokens"]
            yield {"event": "batch", "epoch": epoch, "tokens": done, "of": batches.n_tokens,
                   "loss": state["loss_sum"] / done,
                   "tokens_per_s": done / (time.perf_counter() - t0)}

    def _end_epoch(self, model, state, epoch):
        """Score the dev set, keep the best model, halve the step on a stall, checkpoint."""
        seconds = time.perf_counter() - state["t0"]
        done = state["done_tokens"]
        if not all(np.isfinite(v).all() for v in model.weights.values()):
            raise TrainingDiverged(
                f"the weights became NaN or infinite in epoch {epoch}; nothing was written "
                f"from this run after its best epoch (try a lower --lr than {self.config.lr})")
        dev_scores = self.evaluate(model)
        f1 = dev_scores["f1"]
        improved = f1 > self.best_f1
        if improved:
            self.best_f1 = f1
            state["bad_epochs"] = 0
            self.best_model = self._snapshot(model, epoch, dev_scores)
        else:
            state["bad_epochs"] += 1
            state["adam"].lr *= 0.5
        state["epoch"] = epoch
        self._save_checkpoint(model, state)
        return {"event": "epoch", "epoch": epoch, "loss": state["loss_sum"] / max(done, 1),
                "tokens_per_s": done / seconds, "seconds": seconds,
                "dev_f1": f1, "dev": dev_scores, "best": improved, "lr": state["adam"].lr}

    def _case_variants(self, model):
        """Feature ids of the training tokens lower-cased and upper-cased: (N, F) each."""
        tokens = [t for toks, _ in self.train_sentences for t in toks]
        return (model.featurizer.encode([t.lower() for t in tokens]),
                model.featurizer.encode([t.upper() for t in tokens]))

    def _encode(self, model):
        """X (N, F) feature ids, Y (N,) tag ids, (S+1,) sentence starts, and with word vectors
        (string ids (N,), (n_strings, D) unit vectors) of the training tokens."""
        tokens = [t for toks, _ in self.train_sentences for t in toks]
        featurizer = model.featurizer
        string_ids = featurizer.encode_strings(tokens)
        X = featurizer.string_features()[string_ids]
        vectors = None
        if model.vectors is not None:
            vectors = (string_ids, model.vectors.unit_rows(featurizer.string_vector_rows()))
        if self.config.binary:
            Y = np.array([y for _, tags in self.train_sentences for y in to_binary(tags)],
                         dtype=np.int32)
        else:
            Y = encode_tags([tags for _, tags in self.train_sentences], self.tagset)
        lengths = [len(toks) for toks, _ in self.train_sentences]
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return X, Y, starts, vectors

    @staticmethod
    def _init_output_bias(model, Y, K):
        # start from the tag prior, so the first batches do not just learn that O is common
        counts = np.bincount(Y, minlength=max(K, 2)).astype(np.float64) + 1.0
        prior = counts / counts.sum()
        by = np.log(prior[1] / prior[0]) if K == 1 else np.log(prior[:K])
        model.weights["by"][:] = by

    def _fresh_state(self, model):
        return {"epoch": 0, "bad_epochs": 0, "buffers": grad.Buffers(model.weights),
                "adam": grad.Adam(model.weights, self.config.lr)}

    def _snapshot(self, model, epoch, dev_scores):
        meta = {"trained": today(), "corpora": [short_name(c) for c in self.corpora],
                "dev": self.dev_name, "epoch": epoch,
                "dev_scores": {k: dev_scores[k] for k in ("precision", "recall", "f1")},
                "train_config": asdict(self.config)}
        return model.with_weights({k: v.copy() for k, v in model.weights.items()}, meta)

    def evaluate(self, model):
        """Entity scores on the dev sentences (untyped for a binary model)."""
        model.weights_changed()
        return evaluate(model, self.dev_sentences).as_dict()

    # --------------------------------------------------------------------- checkpoints

    def _checkpoint_path(self):
        return os.path.join(self.checkpoint_dir, "checkpoint.npz")

    def _save_checkpoint(self, model, state):
        if not self.checkpoint_dir:
            return
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        arrays = {"meta": np.frombuffer(json.dumps({
            "version": CHECKPOINT_VERSION, "epoch": state["epoch"],
            "step": state["adam"].step, "lr": state["adam"].lr,
            "bad_epochs": state["bad_epochs"], "best_f1": self.best_f1,
            "config": asdict(self.config), "n_features": len(model.features),
            "fingerprint": self._fingerprint(model),
            "best_meta": self.best_model.meta if self.best_model else None,
        }).encode(), dtype=np.uint8)}
        for k, v in model.weights.items():
            arrays["w_" + k] = v
            arrays["m_" + k] = state["adam"].m[k]
            arrays["v_" + k] = state["adam"].v[k]
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
                     self.knowledge_config(),
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
                state["adam"].m[k][...] = npz["m_" + k]
                state["adam"].v[k][...] = npz["v_" + k]
            if meta["best_meta"] is not None:
                weights = {k: npz["best_" + k].copy() for k in model.weights}
                self.best_model = model.with_weights(weights, meta["best_meta"])
        self.best_f1 = meta["best_f1"]
        state.update(epoch=meta["epoch"], bad_epochs=meta["bad_epochs"])
        state["adam"].step, state["adam"].lr = meta["step"], meta["lr"]
        return state


class _Batches:
    """The training data, encoded, and an epoch's mini-batches with their augmentation and
    dropout masks, drawn from the epoch's random generator in a fixed order."""

    def __init__(self, X, Y, starts, cased, vectors, config):
        self.X, self.Y, self.starts, self.cased, self.config = X, Y, starts, cased, config
        self.vectors = vectors  # (string ids (N,), (n_strings, D) unit vectors), or None
        self.n_tokens = len(Y)
        self.no_rows = np.zeros((0, X.shape[1]), dtype=X.dtype)  # no case variants
        self.no_input_dropout = grad.Dropout.none(0, 2 * config.hidden)

    def epoch(self, rng):
        """(X, starts, Y, keep, keep_in, V) of each batch of an epoch, in a random order (V the
        tokens' word vectors (n, D), or None)."""
        cfg, X, starts = self.config, self.X, self.starts
        lower, upper = self.cased if self.cased is not None else (self.no_rows, self.no_rows)
        H2, F = 2 * cfg.hidden, X.shape[1]
        nothing = np.zeros(0)
        order = rng.permutation(len(starts) - 1)
        for b in range(0, len(order), cfg.batch_size):
            batch = order[b:b + cfg.batch_size]
            bstarts = np.concatenate([[0], np.cumsum(starts[batch + 1] - starts[batch])])
            n = int(bstarts[-1])
            # the draws in a fixed order: case variants (a number a sentence), word dropout
            # (a token), feature dropout (a feature), the dropout masks
            pick = rng.random(len(batch)) if self.cased is not None else nothing
            word_u = rng.random(n) if cfg.word_dropout > 0 else nothing
            feature_u = rng.random((n, F)) if cfg.feature_dropout > 0 else nothing.reshape(0, F)
            Xb, tok = np.empty((n, F), dtype=X.dtype), np.empty(n, dtype=np.int64)
            kernels.gather_batch(X, lower, upper, starts, batch, pick, cfg.case_augment * 2 / 3,
                                 cfg.case_augment, word_u, cfg.word_dropout, feature_u,
                                 cfg.feature_dropout, Xb, tok)
            keep = grad.Dropout.draw(rng, n, H2, cfg.dropout)
            keep_in = (grad.Dropout.draw(rng, n, H2, cfg.input_dropout)
                       if cfg.input_dropout > 0 else self.no_input_dropout)
            Vb = None
            if self.vectors is not None:  # (n, D); case variants have the same vectors
                string_ids, unit = self.vectors
                Vb = unit[string_ids[tok]]
            yield Xb, bstarts, self.Y[tok], keep, keep_in, Vb


def numba_threads():
    """The threads Numba's parallel kernels run on (this thread's setting)."""
    import numba

    return numba.get_num_threads()


def usable_cores():
    """The cores this process may run on (its CPU affinity, as Numba counts them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


_NO_MORE = object()  # what the helper's next() gives once the items run out


def _made_ahead(items):
    """The items of an iterator, each made on a helper thread while the caller works on the one
    before: a batch's gathers and random draws overlap the kernels (9% more tokens/s when
    Numba runs on one thread of two cores). One thread draws them all, in the iterator's
    order, so the batches are those made without it."""
    from concurrent.futures import ThreadPoolExecutor

    items = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix="nertag-batches") as helper:
        coming = helper.submit(next, items, _NO_MORE)
        while (item := coming.result()) is not _NO_MORE:
            coming = helper.submit(next, items, _NO_MORE)
            yield item


def short_name(path):
    """``../shared/data/wikigold/train.txt`` -> ``wikigold/train.txt``: enough to tell corpora
    apart, without the trainer's own folders."""
    parts = os.path.normpath(path).split(os.sep)
    return "/".join(p for p in parts[-2:] if p not in ("", ".", ".."))
