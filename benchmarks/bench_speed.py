"""`make bench`: start-up, tagging and training speed, memory, and first-run compile time.

Prints a table, each row with the command or call that measured it. Process-level rows are the
median of several runs of a new process. Uses ../shared/data (GMB) for realistic text when it
is there, else the sample corpus repeated.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NERTAG = str(BIN / "nertag")
PEAK_GFLOPS = 192.0  # 2 cores x 2 FMA x 8 float32 lanes x 2 flops x ~3 GHz (AVX2+FMA)


def run(cmd, stdin=None, env=None, stdout=subprocess.DEVNULL):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, check=True, env=env)
    return time.perf_counter() - t0


def run_on_file(cmd, path):
    with open(path, "rb") as f:
        return run(cmd, stdin=f)


def median_time(cmd, runs, **kwargs):
    return statistics.median(run(cmd, **kwargs) for _ in range(runs))


def conll_sentences(data):
    """Token lists of a corpus: GMB when the shared data is there, else the samples."""
    from nertag.conll import read_conll

    gmb = Path(data) / "gmb"
    if gmb.exists():
        files = [gmb / "test.conll", gmb / "dev.conll", gmb / "train.conll"]
    else:
        files = [ROOT / "samples" / "sample-train.conll"]
    sentences = []
    for f in files:
        sentences += [s.tokens for s in read_conll(str(f), with_tags=False).sentences]
    return sentences


def take_tokens(sentences, n):
    out, count, i = [], 0, 0
    while count < n:
        s = sentences[i % len(sentences)]
        out.append(s)
        count += len(s)
        i += 1
    return out, count


def peak_rss_mb(cmd, stdin_path):
    with open(stdin_path, "rb") as f:
        proc = subprocess.run(["/usr/bin/env", "python3", "-c",
                               "import resource,subprocess,sys;"
                               "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
                               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"]
                              + cmd, stdin=f, capture_output=True, text=True, check=True)
    return int(proc.stdout.strip()) / 1024


def train_flops_per_token(hidden, n_tags, n_templates, vector_dim=0):
    # MACs a token: per direction, forward Waa a (H^2) + backward dWaa and Waa^T dz (2 H^2);
    # output forward and backward 3 K 2H; word vectors Wv v forward and dWv back 2 D 2H;
    # input row sums forward and scatter back 2 F H a direction.
    H, K, F, D = hidden, n_tags, n_templates, vector_dim
    macs = 2 * 3 * H * H + 3 * K * 2 * H + 2 * D * 2 * H
    return 2 * macs + 2 * 2 * F * H


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--only-dask", action="store_true",
                        help="Only the rows of tagging on Dask (nertag tag --dask).")
    args = parser.parse_args()
    if args.only_dask:
        print_rows(dask_rows(args))
        return
    from nertag.modelfile import default_model_path, load_model

    model = load_model(default_model_path())
    rows = []
    work = Path(tempfile.mkdtemp(prefix="nertag-bench-"))
    try:
        # ---- cold start
        numpy_s = median_time([sys.executable, "-c", "import numpy"], args.runs)
        start_s = median_time([NERTAG, "tag", "Harry Potter met Hermione"], args.runs)
        rows.append(("cold start: nertag tag \"Harry Potter met Hermione\"",
                     f"{start_s:.3f} s ({start_s / numpy_s:.1f}x `python -c 'import numpy'`"
                     f" = {numpy_s:.3f} s)", "target <= 2x"))

        # ---- tagging through the CLI
        sentences = conll_sentences(args.data)
        chosen, n_tokens = take_tokens(sentences, 400_000)
        conll = work / "in.conll"
        conll.write_text("".join("".join(t + "\n" for t in s) + "\n" for s in chosen))
        text = work / "in.txt"
        text.write_text("".join(" ".join(s) + "\n" for s in chosen))
        for name, path, extra in (("CoNLL in -> CoNLL out", conll,
                                   ["--input-format", "conll", "--format", "conll"]),
                                  ("raw text in -> inline out", text, []),
                                  ("raw text in -> JSON out", text, ["--format", "json"])):
            secs = statistics.median(run_on_file([NERTAG, "tag", *extra], path)
                                     for _ in range(3))
            rate = n_tokens / secs
            flops = 2 * (2 * model.hidden ** 2 + len(model.tagset) * 2 * model.hidden) * rate
            rows.append((f"tag, {name}: {n_tokens:,} tokens, `nertag tag {' '.join(extra)}`",
                         f"{rate:,.0f} tokens/s ({secs:.2f} s, {flops / 1e9:.1f} GFLOP/s = "
                         f"{100 * flops / 1e9 / PEAK_GFLOPS:.1f}% of peak)",
                         "target >= 500k tokens/s"))

        # ---- the same through a pipe: `cat file | nertag tag`
        for name, path, extra in (("CoNLL in -> CoNLL out", conll,
                                   ["--input-format", "conll", "--format", "conll"]),
                                  ("raw text in -> inline out", text, [])):
            command = f"cat {path} | {NERTAG} tag {' '.join(extra)}"
            secs = statistics.median(run(["bash", "-c", command]) for _ in range(3))
            rows.append((f"tag through a pipe, {name}: `cat file | nertag tag "
                         f"{' '.join(extra)}`", f"{n_tokens / secs:,.0f} tokens/s ({secs:.2f} s)",
                         "no target"))

        # ---- memory, flat in stream length
        rss = []
        for n in (250_000, 1_000_000):
            part, count = take_tokens(sentences, n)
            path = work / f"stream{n}.txt"
            path.write_text("".join(" ".join(s) + "\n" for s in part))
            rss.append((count, peak_rss_mb([NERTAG, "tag"], path)))
        rows.append(("peak RSS tagging a stream (`nertag tag < text`)",
                     ", ".join(f"{mb:.0f} MB at {n:,} tokens" for n, mb in rss),
                     "flat, <= 300 MB"))

        # ---- tagging on Dask against one `nertag tag -i`
        rows += dask_rows(args)

        # ---- training throughput (JIT cache warm: compile excluded)
        rows += train_rows(args, sentences)

        # ---- first run after install: empty JIT cache
        env = dict(os.environ, NUMBA_CACHE_DIR=str(work / "jit-cache"))
        secs = run([NERTAG, "train", str(ROOT / "samples" / "sample-train.conll"), "-o",
                    str(work / "m.npz"), "--epochs", "1", "--hidden", "8", "-q"], env=env)
        rows.append(("first `nertag train` with an empty JIT cache (compiles the kernels)",
                     f"{secs:.1f} s", "prints that it compiles; later runs load the cache"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print_rows(rows)


def print_rows(rows):
    print(f"nertag speed benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if not rows:
        print("(no rows)")
        return
    width = max(len(r[0]) for r in rows)
    for what, figure, goal in rows:
        print(f"{what:<{width}}  {figure}   [{goal}]")
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this benchmark process peaked at {self_rss:.0f} MB)")


def train_rows(args, sentences):
    from nertag.conll import Corpus, Sentence
    from nertag.modelfile import default_model_path, load_model
    from nertag.training import TrainConfig, Trainer

    chosen, n_tokens = take_tokens(sentences, 200_000)
    model = load_model(default_model_path())
    # tags do not change the speed: give each sentence the default model's own predictions
    tagged = [Sentence(tokens, tags) for tokens, (tags, _) in zip(chosen, model.tag(chosen))]
    corpus = Corpus("bench", tagged)
    rows, nertag_rates = [], {}
    for threads in (1, 0):
        # three epochs, the median reported with the range: the second core of a shared
        # machine is not always all ours, and one epoch can run 25% slow
        config = TrainConfig(epochs=3, patience=10, threads=threads)
        trainer = Trainer([corpus], corpus, config)
        rates = [event["tokens_per_s"] for event in trainer.run() if event["event"] == "epoch"]
        rate = statistics.median(rates)
        model = trainer.best_model
        flops = train_flops_per_token(config.hidden, len(trainer.tagset),
                                      len(model.featurizer.templates),
                                      model.vectors.dim if model.vectors else 0) * rate
        label = f"{threads} thread" if threads else f"{os.cpu_count()} threads"
        rows.append((f"train one epoch, {n_tokens:,} tokens, hidden={config.hidden}, word "
                     f"vectors and name lists on, {label}",
                     f"{rate:,.0f} tokens/s, median of 3 epochs (range {min(rates):,.0f}-"
                     f"{max(rates):,.0f}; {flops / 1e9:.1f} GFLOP/s = "
                     f"{100 * flops / 1e9 / PEAK_GFLOPS:.1f}% of peak)",
                     "target >= 150k tokens/s"))
        nertag_rates[label] = rate
    from torch_yardstick import torch_rows  # beside this file; skipped without PyTorch

    return rows + torch_rows(corpus, n_tokens, nertag_rates)


DASK_TOKENS = 5_000_000


def dask_rows(args):
    """tokens/s tagging one file of >= 5M GMB tokens (a sentence a line) with `nertag tag -i`
    (one process, or two for a file this large) and on Dask: a LocalCluster of 1 and of 2
    single-threaded worker processes (started before the clock: a running cluster), and
    `--dask local` (which starts and stops its cluster inside the time). Skipped without the
    GMB data or without Dask."""
    gmb = Path(args.data) / "gmb"
    try:
        from distributed import LocalCluster
    except ImportError:
        return [("tag on Dask", "skipped: Dask is not installed (pip install nertag[dask])", "")]
    if not gmb.exists():
        return [("tag on Dask", f"skipped: {gmb} is absent", "")]
    from nertag.conll import read_conll

    sentences = []
    for name in ("train.conll", "dev.conll", "test.conll"):
        sentences += [s.tokens for s in read_conll(str(gmb / name), with_tags=False).sentences]
    chosen, n_tokens = take_tokens(sentences, DASK_TOKENS)
    work = Path(tempfile.mkdtemp(prefix="nertag-bench-dask-"))
    rows = []
    try:
        text = work / "gmb5m.txt"
        text.write_text("".join(" ".join(s) + "\n" for s in chosen))
        size = f"{n_tokens:,} tokens, {text.stat().st_size / 1e6:.0f} MB"
        secs = run([NERTAG, "tag", "-i", str(text), "-f", "json"],
                   stdout=open(work / "single.jsonl", "wb"))
        rows.append((f"tag -f json, {size}: `nertag tag -i FILE`",
                     f"{n_tokens / secs:,.0f} tokens/s ({secs:.1f} s)", "the baseline"))
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=40) as cluster:
                out = work / f"out{workers}"
                secs = run([NERTAG, "tag", "-i", str(text), "-f", "json", "--dask",
                            cluster.scheduler_address, "--output-dir", str(out)])
            same = (out / "gmb5m.jsonl").read_bytes() == (work / "single.jsonl").read_bytes()
            rows.append((f"tag -f json, {size}: `nertag tag --dask tcp://... ` "
                         f"({workers} worker{'s' if workers > 1 else ''}, running)",
                         f"{n_tokens / secs:,.0f} tokens/s ({secs:.1f} s)",
                         "output equal" if same else "OUTPUT DIFFERS"))
        secs = run([NERTAG, "tag", "-i", str(text), "-f", "json", "--dask", "local",
                    "--output-dir", str(work / "outlocal")])
        rows.append((f"tag -f json, {size}: `nertag tag --dask local` ({os.cpu_count()} "
                     "workers, cluster start and stop included)",
                     f"{n_tokens / secs:,.0f} tokens/s ({secs:.1f} s)", "no target"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    main()
