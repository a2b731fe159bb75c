"""`make bench-accuracy`: train with default settings and score on each corpus of the table in
the README, beside the CRF baseline (sklearn-crfsuite, lbfgs, c1=c2=0.1, standard features;
figures measured on the same machine and quoted here, not rerun). Rows whose data is missing
are skipped. Train on train, stop early on dev, score test once.
"""

import argparse
import itertools
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


def shipped_model_rows(data):
    """The shipped model on held-out files of each corpus, types mapped as for training."""
    from nertag.modelfile import default_model_path, load_model
    from nertag.tagger import evaluate

    model = load_model(default_model_path())
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--shipped-only", action="store_true",
                        help="only score the shipped model, train nothing")
    args = parser.parse_args()
    data = Path(args.data)
    if args.shipped_only:
        shipped_model_rows(data)
        return
    lines = []
    for name, train, dev, test, type_map, crf, crf_untyped in ROWS:
        if not (data / train).exists():
            print(f"{name}: {data / train} missing, skipped", file=sys.stderr)
            continue
        run = train_and_score(data, (name, train, dev, test, type_map), TrainConfig())
        lines.append((name, crf, crf_untyped, run["f1"], run["untyped"], run["seconds"],
                      run["epoch"]))
        if name == "BTC":
            no_at = score_without_lone_at(run["triples"]).as_dict()
            lines.append(("BTC without lone @", None, None, no_at["f1"], no_at["untyped"]["f1"],
                          run["seconds"], run["epoch"]))
    print("| train -> test | CRF F1 (untyped) | nertag F1 (untyped) | nertag training time |")
    print("|---|---|---|---|")
    for name, crf, crf_u, f1, f1_u, seconds, epoch in lines:
        crf_text = f"{crf:.3f} ({crf_u:.3f})" if crf is not None else "-"
        print(f"| {name} | {crf_text} | {f1:.3f} ({f1_u:.3f}) | {seconds:.0f} s "
              f"(best epoch {epoch}) |")
    shipped_model_rows(data)


if __name__ == "__main__":
    main()
