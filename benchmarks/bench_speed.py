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
from contextlib import contextmanager
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


@contextmanager
def revision_tree(rev, work):
    """A checkout of git revision ``rev`` in a worktree under ``work``, removed on exit: the
    other side of the A/B scripts, run with this tree's Python environment."""
    tree = Path(work) / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev],
                   check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False)


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


NEWS_TOKENS = 371_000


def news_file(data, work):
    """The news file of issue 13: gmb/test.conll's sentences (short news sentences, numbers,
    tables) repeated to NEWS_TOKENS tokens, as CoNLL and as raw text (a sentence a line);
    the sample corpus repeated without the shared data. Returns (conll, text, tokens, name)."""
    from nertag.conll import read_conll

    test = Path(data) / "gmb" / "test.conll"
    source = test if test.exists() else ROOT / "samples" / "sample-train.conll"
    sentences = [s.tokens for s in read_conll(str(source), with_tags=False).sentences]
    chosen, n_tokens = take_tokens(sentences, NEWS_TOKENS)
    conll = work / "news.conll"
    conll.write_text("".join("".join(t + "\n" for t in s) + "\n" for s in chosen))
    text = work / "news.txt"
    text.write_text("".join(" ".join(s) + "\n" for s in chosen))
    name = "gmb/test" if test.exists() else "samples/sample-train"
    # written back now, not during the first timed runs (which were 10-20% slow without this)
    os.sync()
    return conll, text, n_tokens, f"{name} repeated, {n_tokens:,} tokens"


# label, input format, output format, target
TAGGING_MODES = (("CoNLL in -> CoNLL out", "conll", "conll", "target >= 500k tokens/s"),
                 ("raw text in -> inline out", "text", "inline", "target >= 500k tokens/s"),
                 ("raw text in -> JSON out", "text", "json", "target >= 350k tokens/s"))


def tag_options(input_format, output_format):
    """The `nertag tag` options of a tagging mode (none for the defaults)."""
    return ((["--input-format", input_format] if input_format != "text" else [])
            + (["--format", output_format] if output_format != "inline" else []))


def spread(rates):
    """``median (range min-max)`` of tokens/s figures."""
    return (f"{statistics.median(rates):,.0f} tokens/s (range {min(rates):,.0f}-"
            f"{max(rates):,.0f})")


def of_peak(flops):
    """``X GFLOP/s = Y% of peak`` of a rate in FLOP/s."""
    return f"{flops / 1e9:.1f} GFLOP/s = {100 * flops / 1e9 / PEAK_GFLOPS:.1f}% of peak"


def tagging_rows(args, news, model):
    """tokens/s tagging the news file (``news_file``'s result) through the CLI, from the file
    (`< file`) and through a pipe (`cat file |`), the median of --tag-runs runs with their
    range."""
    conll, text, n_tokens, name = news
    inputs = {"conll": conll, "text": text}
    rows = []
    for label, kind, output_format, target in TAGGING_MODES:
        extra = tag_options(kind, output_format)
        options = " ".join(extra)
        run_on_file([NERTAG, "tag", *extra], inputs[kind])  # warm-up, not timed
        secs = [run_on_file([NERTAG, "tag", *extra], inputs[kind]) for _ in range(args.tag_runs)]
        rates = [n_tokens / s for s in secs]
        rate = statistics.median(rates)
        flops = 2 * (2 * model.hidden ** 2 + len(model.tagset) * 2 * model.hidden) * rate
        rows.append((f"tag {name}, {label}: `nertag tag {options} < file`",
                     f"{spread(rates)}, {statistics.median(secs):.2f} s, {of_peak(flops)}",
                     target))
        command = f"cat {inputs[kind]} | {NERTAG} tag {options}"
        piped = [n_tokens / run(["bash", "-c", command]) for _ in range(args.tag_runs)]
        ratio = statistics.median(piped) / rate
        rows.append((f"  the same through a pipe: `cat file | nertag tag {options}`",
                     f"{spread(piped)} = {ratio:.0%} of `< file`",
                     "target >= 80% of `< file`"))
    return rows


STAGES = ("read", "tokenize", "featurise", "forward", "decode", "format", "write", "other")


def stage_table(news):
    """Lines of a table: CPU seconds and share per stage tagging the news file (``news_file``'s
    result) in one process on one thread (each mode with a freshly loaded model, as a new
    `nertag tag` has)."""
    from nertag.modelfile import default_model_path, load_model

    conll, text, _, name = news
    inputs = {"conll": conll, "text": text}
    columns = []
    for label, kind, output_format, _ in TAGGING_MODES:
        seconds = stage_seconds(load_model(default_model_path()), inputs[kind], kind,
                                output_format)
        columns.append((label, seconds, sum(seconds.values())))
    width = 28
    lines = [f"where the time goes: CPU seconds per stage tagging {name} in one process, "
             "one thread (streams.iter_tagged -> streams._write_tagged)",
             f"{'stage':<10}" + "".join(f"{label:>{width}}" for label, _, _ in columns)]
    for stage in STAGES:
        lines.append(f"{stage:<10}" + "".join(
            f"{seconds[stage]:>{width - 6}.3f} s {seconds[stage] / total:>3.0%}"
            for _, seconds, total in columns))
    lines.append(f"{'total':<10}" + "".join(f"{total:>{width - 6}.3f} s     "
                                            for _, _, total in columns))
    return lines


def stage_seconds(model, path, input_format, output_format):
    """CPU seconds per stage tagging ``path`` through the library's own pipeline (as the CLI
    and Dask run it), each stage's functions wrapped by a StageClock; "other" is the glue
    between them (records, batching)."""
    from nertag import streams
    from nertag.tagger import one_blas_thread

    model.single_threaded = True  # one thread: CPU seconds add up to the stage's cost
    clock = StageClock()
    # one BLAS thread, as `nertag tag` has: this process's BLAS would otherwise run several,
    # whose spinning counts in process_time and was charged to whatever stage was running
    # (before 2026-12-01 the table showed 1.6-1.8 s for the news file instead of 1.06 s)
    with clock.installed(), one_blas_thread(), open(os.devnull, "wb") as devnull:
        out = clock.timed_writer(devnull)
        batches = streams.iter_tagged(model, path=str(path), input_format=input_format,
                                      scores=streams._needs_scores(output_format))
        clock.start()
        streams._write_tagged(model, out, batches, output_format)
        clock.stop()
    return clock.seconds


class StageClock:
    """Exclusive CPU time per stage: functions of the pipeline wrapped (for the duration of
    ``installed()``) so entering one charges the time so far to the stage that was running
    (a stage called inside another counts for itself only); time outside every stage is
    "other"."""

    def __init__(self):
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self._running = []
        self._since = None

    def start(self):
        self._since = time.process_time()

    def stop(self):
        self._charge()
        self._since = None

    def _charge(self):
        now = time.process_time()
        if self._since is not None:
            self.seconds[self._running[-1] if self._running else "other"] += now - self._since
        self._since = now

    def enter(self, stage):
        self._charge()
        self._running.append(stage)

    def leave(self):
        self._charge()
        self._running.pop()

    def timed(self, stage, fn):
        def timed_fn(*args, **kwargs):
            self.enter(stage)
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()
        return timed_fn

    def timed_generator(self, stage, fn):
        """A generator function whose every step counts for ``stage``."""
        def timed_fn(*args, **kwargs):
            items = fn(*args, **kwargs)
            while True:
                self.enter(stage)
                try:
                    item = next(items, StopIteration)
                finally:
                    self.leave()
                if item is StopIteration:
                    return
                yield item
        return timed_fn

    def timed_writer(self, stream):
        clock = self

        class TimedWriter:
            def write(self, data):
                clock.enter("write")
                try:
                    return stream.write(data)
                finally:
                    clock.leave()

            def flush(self):
                clock.enter("write")
                try:
                    stream.flush()
                finally:
                    clock.leave()

        return TimedWriter()

    @contextmanager
    def installed(self):
        """The pipeline's stage functions wrapped, and put back afterwards."""
        from nertag import model, streams, tagger

        patches = [(streams, "iter_line_batches", self.timed_generator),
                   (streams, "sentence_blocks", self.timed_generator),
                   (streams, "conll_sentences", self.timed),
                   (tagger, "tokenize_lazily", self.timed),
                   (model.Model, "_input_sums", self.timed),
                   (model, "forward_probs_numpy", self.timed),
                   (model, "decode", self.timed),
                   (model, "decode_crf", self.timed),
                   (model.Model, "ids_to_tags", self.timed),
                   (streams, "formatted", self.timed)]
        stage_of = {"iter_line_batches": "read", "sentence_blocks": "read",
                    "conll_sentences": "read",
                    "tokenize_lazily": "tokenize", "_input_sums": "featurise",
                    "forward_probs_numpy": "forward", "decode": "decode",
                    "decode_crf": "decode", "ids_to_tags": "decode", "formatted": "format"}
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        try:
            for owner, name, wrap in patches:
                setattr(owner, name, wrap(stage_of[name], getattr(owner, name)))
            yield self
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)


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


def settle_as_the_command_does():
    """nertag's bytecode compiled, as a wheel install has it (an editable install has none,
    and with PYTHONDONTWRITEBYTECODE set each `nertag` start would compile 50 ms of source);
    this process settled for bulk work as `nertag tag` and `nertag train` settle theirs (the
    in-process rows: training, the stage profile)."""
    import compileall

    from nertag.process import settle_for_bulk_work

    compileall.compile_dir(str(ROOT / "nertag"), quiet=1)
    settle_for_bulk_work()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--only-dask", action="store_true",
                        help="Only the rows of tagging on Dask (nertag tag --dask).")
    parser.add_argument("--only-tagging", action="store_true",
                        help="Only the rows of tagging the news file, and its stage profile.")
    parser.add_argument("--only-training", action="store_true",
                        help="Only the rows of training (1 thread, all threads, PyTorch's).")
    parser.add_argument("--tag-runs", type=int, default=5,
                        help="Runs of each tagging row (median and range printed).")
    args = parser.parse_args()
    settle_as_the_command_does()
    if args.only_dask:
        print_rows(dask_rows(args))
        return
    from nertag.modelfile import default_model_path, load_model

    model = load_model(default_model_path())
    rows = []
    work = Path(tempfile.mkdtemp(prefix="nertag-bench-"))
    try:
        if args.only_training:
            print_rows(train_rows(args, conll_sentences(args.data)))
            return
        if args.only_tagging:
            news = news_file(args.data, work)
            print_rows(tagging_rows(args, news, model))
            print("\n".join(stage_table(news)))
            return
        # ---- cold start
        numpy_s = median_time([sys.executable, "-c", "import numpy"], args.runs)
        start_s = median_time([NERTAG, "tag", "Harry Potter met Hermione"], args.runs)
        rows.append(("cold start: nertag tag \"Harry Potter met Hermione\"",
                     f"{start_s:.3f} s ({start_s / numpy_s:.1f}x `python -c 'import numpy'`"
                     f" = {numpy_s:.3f} s)", "target <= 2x"))

        # ---- tagging through the CLI, and where the time goes
        news = news_file(args.data, work)
        rows += tagging_rows(args, news, model)
        profile = stage_table(news)
        sentences = conll_sentences(args.data)

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
    print("\n".join(profile))


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


def training_corpus(sentences, n_tokens=200_000):
    """The corpus of the training rows (nertag's and PyTorch's): ``n_tokens`` tokens of
    ``sentences``, tagged with the default model's predictions (tags do not change the speed).
    (corpus, token count)."""
    from nertag.conll import Corpus, Sentence
    from nertag.modelfile import default_model_path, load_model

    chosen, count = take_tokens(sentences, n_tokens)
    model = load_model(default_model_path())
    tagged = [Sentence(tokens, tags) for tokens, (tags, _) in zip(chosen, model.tag(chosen))]
    return Corpus("bench", tagged), count


def bench_trainer(data, epochs, threads):
    """A Trainer for the training rows' corpus in a process settled as `nertag train` settles
    its own, with a small dev set (early stopping needs one) and patience for every epoch:
    (trainer, token count). Used by the scripts that time training epoch by epoch."""
    from nertag.conll import Corpus
    from nertag.process import settle_for_bulk_work
    from nertag.training import TrainConfig, Trainer

    settle_for_bulk_work()
    corpus, n_tokens = training_corpus(conll_sentences(data))
    dev = Corpus("dev", corpus.sentences[:50])
    config = TrainConfig(epochs=epochs, patience=epochs, threads=threads)
    return Trainer([corpus], dev, config), n_tokens


def train_rows(args, sentences):
    from nertag.training import TrainConfig, Trainer

    corpus, n_tokens = training_corpus(sentences)
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
                     f"{spread(rates)}, median of 3 epochs; {of_peak(flops)}",
                     "target >= 150k tokens/s"))
        nertag_rates[label] = rate
    from torch_yardstick import torch_rows  # beside this file; skipped without PyTorch

    return rows + torch_rows(corpus, n_tokens, nertag_rates,
                             knowledge=(trainer.vectors, trainer.names))


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
