"""Tagging speed of this tree against another git revision, whole `nertag tag` processes on the
news file of `make bench`, the two alternated run by run (the host's speed drifts by a third
within minutes: figures taken minutes apart do not compare, alternated ones do).

    .venv/bin/python benchmarks/ab_tagging.py --base 04d709d [--runs 11] [--modes conll,json]

Prints, for each mode, the median wall time and CPU time (user + system, the process and its
forked children) of each side. The base is checked out in a temporary git worktree and run
with this tree's Python environment; both sides get their bytecode compiled first.
"""

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_speed import ROOT, TAGGING_MODES, news_file, revision_tree, tag_options


def run_tree(tree, options, stdin_path):
    """(wall s, CPU s) of one `python -m nertag tag` from ``tree`` on ``stdin_path``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(stdin_path, "rb") as f:
        subprocess.run([sys.executable, "-m", "nertag", "tag", *options], stdin=f,
                       stdout=subprocess.DEVNULL, check=True, env=env, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--modes", default="conll,inline,json")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    modes = [m for m in TAGGING_MODES if m[2] in args.modes.split(",")]
    with tempfile.TemporaryDirectory(prefix="nertag-ab-") as work, \
            revision_tree(args.base, work) as base:
        work = Path(work)
        for tree in (ROOT, base):
            compileall.compile_dir(str(tree / "nertag"), quiet=1)
        conll, text, n_tokens, name = news_file(args.data, work)
        inputs = {"conll": conll, "text": text}
        print(f"{name}; {args.runs} alternated runs a side; median wall s, CPU s")
        for label, kind, output_format, _ in modes:
            options = tag_options(kind, output_format)
            times = {"this tree": [], args.base: []}
            for _ in range(args.runs):
                times["this tree"].append(run_tree(ROOT, options, inputs[kind]))
                times[args.base].append(run_tree(base, options, inputs[kind]))
            cells = [f"{side} {statistics.median(w for w, _ in runs):.3f} s wall "
                     f"({n_tokens / statistics.median(w for w, _ in runs):,.0f} tokens/s), "
                     f"{statistics.median(c for _, c in runs):.3f} s CPU"
                     for side, runs in times.items()]
            print(f"{label}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
