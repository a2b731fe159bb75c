"""`make bench-accuracy`: train on each corpus of the table in the README without word vectors,
with them, with vectors and name lists, and with those and feature dropout (the default), over
three seeds, beside the CRF baseline (sklearn-crfsuite, lbfgs, c1=c2=0.1, standard features;
figures measured on the same machine and quoted here, not rerun). Rows whose data is missing
are skipped. Train on train, stop early on dev, score test once.
"""

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

from nertag.conll import read_conll
from nertag.metrics import Scorer
from nertag.tagger import gold_tags
from nertag.tags import spans
from nertag.training import TrainConfig, Trainer, load_knowledge

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data")
GMB_MAP = {"per": "PER", "geo": "LOC", "org": "ORG", "gpe": "MISC", "art": "MISC",
           "eve": "MISC", "nat": "MISC", "tim": "O"}
ROWS = [
    # name, train, dev, test, type map, CRF typed F1, CRF untyped F1
    ("WikiGold", "wikigold/train.txt", "wikigold/dev.txt", "wikigold/test.txt", {}, 0.533, 0.733),
    ("BTC", "btc/btc.train", "btc/btc.dev", "btc/btc.test", {}, 0.660, 0.818),
    ("GMB", "gmb/train.conll", "gmb/dev.conll", "gmb/test.conll", GMB_MAP, 0.831, 0.913),
]


def train_and_score(data, row, config, limit=None):
    """Train on a row's train split (its first ``limit`` tokens, if given), stop early on its
    dev split, score its test split once; word vectors and name lists as ``config`` says.
    Returns F1, untyped F1, dev F1, best epoch, seconds and (tokens, gold,
    predicted) of each test sentence."""
    name, train, dev, test, type_map = row[:5]
    t0 = time.perf_counter()
    corpus = read_conll(str(data / train))
    if limit:
        ends = itertools.accumulate(len(s.tokens) for s in corpus.sentences)
        corpus.sentences = [s for s, end in zip(corpus.sentences, ends) if end - len(s.tokens)
                            < limit]
    trainer = Trainer([corpus], read_conll(str(data / dev)), config, type_map,
                      knowledge=load_knowledge(config))
    for event in trainer.run():
        if event["event"] == "epoch":
            print(f"  {name} epoch {event['epoch']} dev F1 {event['dev_f1']:.4f}",
                  file=sys.stderr, flush=True)
        if event["event"] == "done":
            model = event["model"]
    seconds = time.perf_counter() - t0
    gold = read_conll(str(data / test))
    # gold tags as `nertag eval` scores them (tagger.evaluate's rule; the triples need the
    # predictions, so the tagging and scoring are done here)
    sentences = [(s.tokens, gold_tags(model.binary, s.tags, type_map)) for s in gold.sentences]
    predicted = model.tag([t for t, _ in sentences], scores=False)
    scorer = Scorer()
    triples = []
    for (tokens, tags), (pred, _) in zip(sentences, predicted):
        scorer.add(tags, pred)
        triples.append((tokens, tags, pred))
    result = scorer.as_dict()
    return {"f1": result["f1"], "untyped": result["untyped"]["f1"], "dev_f1": trainer.best_f1,
            "epoch": model.meta["epoch"], "seconds": seconds, "triples": triples}


def score_without_lone_at(tokens_tags_pred):
    """BTC's quirk: a lone '@' is its own entity; score with those entities removed."""
    scorer = Scorer()
    for tokens, gold, pred in tokens_tags_pred:
        def keep(tags, tokens=tokens):
            out = list(tags)
            for s, e, _ in spans(tags):
                if tokens[s:e] == ["@"]:
                    out[s] = "O"
            return out
        scorer.add(keep(gold), keep(pred))
    return scorer


MC_MAP = {"GRP": "ORG", "CORP": "ORG", "PROD": "MISC", "CW": "MISC"}
WNUT_MAP = {"person": "PER", "location": "LOC", "group": "ORG", "corporation": "ORG",
            "product": "MISC", "creative-work": "MISC"}
SHIPPED = [
    # name, file, type map; the shipped model never trained on these files
    ("GMB test (news)", "gmb/test.conll", GMB_MAP),
    ("WikiGold test", "wikigold/test.txt", {}),
    ("BTC test (tweets)", "btc/btc.test", {}),
    ("SEC filings test", "sec_filings/test.txt", {}),
    ("WNUT-17 test (unseen corpus)", "wnut17/emerging.test.annotated", WNUT_MAP),
]


def shipped_model_rows(data, model_path=None):
    """The shipped model (or the model file at model_path) on held-out files of each corpus,
    types mapped as for training."""
    from nertag.modelfile import default_model_path, load_model
    from nertag.tagger import evaluate

    model = load_model(model_path or default_model_path())
    print("\n| shipped model on | F1 (untyped) | PER | LOC | ORG | MISC |")
    print("|---|---|---|---|---|---|")
    for name, path, type_map in SHIPPED:
        if not (data / path).exists():
            continue
        result = evaluate(model, read_conll(str(data / path)).sentences, type_map).as_dict()
        per_type = [result["per_type"].get(t, {}).get("f1") for t in ("PER", "LOC", "ORG",
                                                                       "MISC")]
        cells = " | ".join("-" if f is None else f"{f:.3f}" for f in per_type)
        print(f"| {name} | {result['f1']:.3f} ({result['untyped']['f1']:.3f}) | {cells} |")
        # lower-case and upper-case copies of the same news: robustness to casing
        if path.startswith("gmb"):
            for label, change in (("lower-cased", str.lower), ("UPPER-CASED", str.upper)):
                corpus = read_conll(str(data / path))
                for sentence in corpus.sentences:
                    sentence.tokens = [change(t) for t in sentence.tokens]
                r = evaluate(model, corpus.sentences, type_map).as_dict()
                print(f"| {name}, {label} | {r['f1']:.3f} ({r['untyped']['f1']:.3f}) | "
                      "| | | |")


# the columns: what the network sees of a word beyond its training corpus
CONFIGS = [
    ("without vectors", {"vectors": None, "feature_dropout": 0.0}),
    ("with vectors", {"names": False, "feature_dropout": 0.0}),
    ("vectors + lists", {"feature_dropout": 0.0}),
    ("... + feature dropout 0.1 (default)", {}),
]
TARGETS = {"WikiGold": 0.62, "BTC": 0.72, "GMB": 0.85}


def cell(runs, key="f1"):
    values = [r[key] for r in runs]
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    untyped = statistics.mean(r["untyped"] for r in runs)
    return f"{statistics.mean(values):.3f} ± {spread:.3f} ({untyped:.3f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--shipped-only", action="store_true",
                        help="only score the shipped model, train nothing")
    parser.add_argument("--corpora", default=",".join(r[0] for r in ROWS),
                        help="rows to train, comma-separated")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--threads", type=int, default=0, help="training threads (0: all)")
    parser.add_argument("--no-shipped", action="store_true", help="skip the shipped model rows")
    parser.add_argument("--model", help="score this model file as the shipped one (a candidate)")
    args = parser.parse_args()
    data = Path(args.data)
    if args.shipped_only:
        shipped_model_rows(data, args.model)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = args.corpora.split(",")
    lines = []
    for name, train, dev, test, type_map, crf, crf_untyped in ROWS:
        if name not in wanted:
            continue
        if not (data / train).exists():
            print(f"{name}: {data / train} missing, skipped", file=sys.stderr)
            continue
        cells, no_at, seconds = [], [], []
        for label, settings in CONFIGS:
            runs = []
            for seed in seeds:
                config = TrainConfig(seed=seed, threads=args.threads, **settings)
                run = train_and_score(data, (name, train, dev, test, type_map), config)
                print(f"  {name} {label} seed {seed}: {run['f1']:.4f} ({run['untyped']:.4f}), "
                      f"dev {run['dev_f1']:.4f}, {run['seconds']:.0f} s", file=sys.stderr,
                      flush=True)
                runs.append(run)
                if name == "BTC":
                    d = score_without_lone_at(run["triples"]).as_dict()
                    no_at.append({"f1": d["f1"], "untyped": d["untyped"]["f1"]})
            cells.append(cell(runs))
            seconds.append(statistics.mean(r["seconds"] for r in runs))
        target = TARGETS.get(name)
        lines.append((name, f"{crf:.3f} ({crf_untyped:.3f})", cells,
                      f"{target:.2f}" if target else "-", f"{seconds[-1]:.0f} s"))
        if no_at:
            k = len(seeds)
            lines.append(("BTC without lone @", "-",
                          [cell(no_at[i * k:(i + 1) * k]) for i in range(len(CONFIGS))], "-",
                          ""))
    print(f"typed F1 on test, mean ± spread over seeds {args.seeds} (untyped F1 in brackets)\n")
    print("| train -> test | CRF | " + " | ".join(label for label, _ in CONFIGS)
          + " | target | default's training time |")
    print("|---" * (len(CONFIGS) + 4) + "|")
    for name, crf_text, cells, target, seconds in lines:
        print(f"| {name} | {crf_text} | " + " | ".join(cells) + f" | {target} | {seconds} |")
    if not args.no_shipped:
        shipped_model_rows(data, args.model)


if __name__ == "__main__":
    main()
