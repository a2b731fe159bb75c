"""Compare training settings over seeds on the corpora of `make bench-accuracy` (how the
README's tables of tried changes were measured):

    python benchmarks/bench_seeds.py WikiGold BTC --seeds 1,2,3 --set input_dropout=0.3
    python benchmarks/bench_seeds.py GMB --limit 200000 --seeds 1,2
    python benchmarks/bench_seeds.py WikiGold --set vectors=null   # the lecture's features alone

Each run trains on the train split (its first --limit tokens), stops early on dev and scores
test once; a line a run, then the mean and spread of each corpus.
"""

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

from bench_accuracy import DEFAULT_DATA, ROWS, train_and_score

from nertag.training import TrainConfig


def parse_setting(text):
    """``name=value`` with a JSON value (``0.3``, ``true``), checked against TrainConfig."""
    name, _, value = text.partition("=")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if name not in fields:
        raise argparse.ArgumentTypeError(f"no setting {name!r}: one of {', '.join(sorted(fields))}")
    try:
        return name, json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not JSON") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="+", choices=[row[0] for row in ROWS])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--set", dest="settings", type=parse_setting, action="append",
                        default=[], metavar="NAME=VALUE", help="a TrainConfig field")
    parser.add_argument("--limit", type=int, help="train on the first N tokens only")
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()
    settings = dict(args.settings)
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in args.corpora:
        row = next(r for r in ROWS if r[0] == name)
        runs = []
        for seed in seeds:
            run = train_and_score(Path(args.data), row, TrainConfig(seed=seed, **settings),
                                  args.limit)
            runs.append(run)
            print(f"{name} seed {seed} {settings}: test {run['f1']:.4f} ({run['untyped']:.4f}) "
                  f"dev {run['dev_f1']:.4f}, best epoch {run['epoch']}, {run['seconds']:.0f} s",
                  flush=True)
        typed = [r["f1"] for r in runs]
        spread = statistics.pstdev(typed)
        untyped = statistics.mean(r["untyped"] for r in runs)
        print(f"{name} {settings}: mean {statistics.mean(typed):.4f} ± {spread:.4f} "
              f"(untyped {untyped:.4f}) over seeds {args.seeds}", flush=True)


if __name__ == "__main__":
    main()
