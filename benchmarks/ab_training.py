"""Training speed of this tree against another git revision: whole processes, each training
the 200k-token corpus of `make bench`'s training rows for a few epochs, the two sides
alternated run by run (the host's speed drifts by a third within minutes: figures taken minutes
apart do not compare, alternated ones do).

    .venv/bin/python benchmarks/ab_training.py --base a08418c [--runs 4] [--threads 0,1]

Prints, for each thread count (0: all cores), each side's median seconds of an epoch's
training (its batches but the first: the first epoch, which may compile, and the dev scoring
are left out), its median tokens/s, and the range of the seconds. The base is checked out in a
temporary git worktree and run with this tree's Python environment; each side first runs once
untimed (its JIT cache).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench_speed import ROOT, bench_trainer, revision_tree


def child(args):
    """In a process whose nertag is the tree's: train and print the epochs' batch seconds."""
    trainer, _ = bench_trainer(args.data, args.epochs, args.threads)
    first, last = {}, {}  # an epoch's (time, tokens done) at its first and last batch events
    for event in trainer.run():
        if event["event"] == "batch":
            now = (time.perf_counter(), event["tokens"])
            first.setdefault(event["epoch"], now)
            last[event["epoch"]] = now
    # from the end of each epoch's first batch to its last: all but one batch, and their tokens
    epochs = sorted(first)[1:]
    print(json.dumps({"seconds": [last[e][0] - first[e][0] for e in epochs],
                      "tokens": [last[e][1] - first[e][1] for e in epochs]}))


def run_tree(tree, args, epochs):
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, __file__, "--child", "--threads", str(args.threads),
                           "--epochs", str(epochs), "--data", args.data],
                          env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"training from {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="the git revision to compare with")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3, help="epochs a run (the first untimed)")
    parser.add_argument("--threads", default="0,1", help="thread counts (0: all cores)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.threads = int(args.threads)
        return child(args)
    if not args.base:
        parser.error("--base REV is needed")
    with tempfile.TemporaryDirectory(prefix="nertag-ab-") as work, \
            revision_tree(args.base, work) as base:
        sides = {"this tree": ROOT, args.base: base}
        for threads in [int(t) for t in args.threads.split(",")]:
            args.threads = threads
            for tree in sides.values():
                run_tree(tree, args, 1)  # untimed: compiles into the tree's cache
            seconds = {side: [] for side in sides}
            rates = {side: [] for side in sides}
            for run in range(args.runs):
                # each side first in every other round: neither always follows the other
                for side in sorted(sides, reverse=bool(run % 2)):
                    result = run_tree(sides[side], args, args.epochs)
                    seconds[side] += result["seconds"]
                    rates[side] += [n / s for n, s in zip(result["tokens"], result["seconds"])]
            cells = [f"{side} {statistics.median(s):.3f} s "
                     f"({statistics.median(rates[side]):,.0f} tokens/s; "
                     f"{min(s):.3f}-{max(s):.3f} s)" for side, s in seconds.items()]
            label = f"{threads} thread{'s' if threads != 1 else ''}" if threads else "all cores"
            print(f"train, {label}, {args.runs} alternated runs a side, "
                  f"{args.epochs - 1} epochs each: " + "; ".join(cells))


if __name__ == "__main__":
    main()
