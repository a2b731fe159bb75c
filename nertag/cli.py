"""The command line: a thin Click layer. Each command calls one library function; expected
failures (NertagError) become one-line errors with documented exit codes.

Exit codes: 0 success, 1 bad input (corpus, text, options that do not fit the data),
2 usage error, 3 bad model file, 130 interrupted (Ctrl-C or SIGTERM).
"""

import json
import os
import signal
import sys

import click

from . import __version__
from .errors import BadModelError, NertagError

EXIT_INTERRUPTED = 130


class NertagClickError(click.ClickException):
    """A NertagError as Click shows it: ``Error: FILE:LINE: message`` and its exit code."""

    def __init__(self, error):
        super().__init__(str(error))
        self.exit_code = error.exit_code


def _load(model_path, lazy=False):
    from .modelfile import default_model_path, load_model

    path = default_model_path() if model_path is None else model_path
    try:
        return load_model(path, lazy=lazy)
    except NertagError as exc:
        if model_path is None and isinstance(exc, BadModelError):
            exc.message += " (the default model; rebuild it with `make model` or pass -m)"
            exc.args = (f"{exc.where}: {exc.message}",)
        raise NertagClickError(exc) from None


def _encoding_option(fn):
    return click.option(
        "--encoding", default="utf-8", show_default=True,
        help="Encoding of the input files (ASCII-compatible: utf-8, latin-1, cp1252...).")(fn)


def _codec(encoding):
    from .conll import check_encoding

    return _run(check_encoding, encoding)


# set by main(): the command runs in a process of its own (not, say, under CliRunner in tests)
_OWN_PROCESS = False


def _settle_for_bulk_work():
    """process.settle_for_bulk_work, when this process is the command's own."""
    if _OWN_PROCESS:
        from .process import settle_for_bulk_work

        settle_for_bulk_work()


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NertagError as exc:
        raise NertagClickError(exc) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nertag")
def cli():
    """nertag: a fast named-entity tagger you train on your own CoNLL corpus.

    \b
      nertag tag "Harry Potter met Hermione Granger"
      nertag train corpus.txt -o my.npz && nertag eval test.txt -m my.npz
    """


# -------------------------------------------------------------------------------- tag


@cli.command()
@click.argument("text", nargs=-1)
@click.option("-m", "--model", "model_path", type=click.Path(dir_okay=False),
              help="Model file (default: the shipped models/default.npz, or $NERTAG_MODEL).")
@click.option("-i", "--input", "input_path",
              help="File to tag instead of TEXT arguments; - is standard input (the default).")
@click.option("--input-format", type=click.Choice(["text", "conll"]), default="text",
              show_default=True, help="Raw text, one record a line; or CoNLL, token first.")
@click.option("-f", "--format", "output_format",
              type=click.Choice(["inline", "conll", "json", "binary", "html"]),
              default="inline", show_default=True,
              help="Output: bracketed text, token<TAB>tag, JSON lines, 0/1, or one HTML page "
                   "(self-contained: entities coloured by type, scores in tooltips).")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Tag on a Dask cluster: a scheduler (tcp://host:8786) or 'local' (one "
                   "worker process a core). Needs -i (a path or glob, any fsspec URL) and "
                   "--output-dir, and nertag[dask].")
@click.option("--output-dir", type=click.Path(file_okay=False),
              help="With --dask: write one file here per input file, same name, the format's "
                   "suffix (.txt .conll .jsonl .html).")
@click.option("--block-size", default="8M", show_default=True, metavar="BYTES",
              help="With --dask: a file larger than this is split (at line ends, CoNLL: "
                   "between sentences) into pieces of about this size, tagged in parallel.")
@_encoding_option
def tag(text, model_path, input_path, input_format, output_format, dask_address, output_dir,
        block_size, encoding):
    """Tag TEXT arguments, else each line of the input (one output record per input line)."""
    from .streams import tag_stream

    if text and input_path is not None:
        raise click.UsageError("give TEXT arguments or -i FILE, not both")
    if dask_address or output_dir:
        return _tag_on_dask(text, model_path, input_path, input_format, output_format,
                            dask_address, output_dir, block_size, encoding)
    input_path = input_path or "-"
    codec = _codec(encoding)
    # TEXT arguments: a short-lived process (the model's large arrays mapped, not read)
    model = _load(model_path, lazy=bool(text))
    if not text and input_path == "-" and _is_terminal(sys.stdin):
        click.echo("nertag: reading text to tag from standard input, a line at a time "
                   "(Ctrl-D ends it)", err=True)
    out = sys.stdout.buffer
    if not text:  # a file or a stream: a bulk job (TEXT arguments: over in a blink)
        _settle_for_bulk_work()
    try:
        # a TEXT argument with line breaks is several records, as it would be on stdin
        records = [line for arg in text for line in (arg.splitlines() or [""])]
        _run(tag_stream, model, out, texts=records, path=input_path,
             input_format=input_format, output_format=output_format, encoding=codec)
    except BrokenPipeError:
        _reader_went_away()


def _tag_on_dask(text, model_path, pattern, input_format, output_format, address, output_dir,
                 block_size, encoding):
    """``nertag tag --dask ADDRESS -i GLOB --output-dir DIR``: see nertag/dask.py."""
    if not address:
        raise click.UsageError("--output-dir goes with --dask ADDRESS")
    if text or not pattern or pattern == "-":
        raise click.UsageError("--dask tags files: give -i PATH-OR-GLOB (not TEXT or stdin)")
    if not output_dir:
        raise click.UsageError("--dask needs --output-dir DIR")
    block_bytes = _byte_size(block_size)
    codec = _codec(encoding)
    _load(model_path)  # a missing or bad model: its one-line error, exit 3, before Dask starts
    try:
        from . import dask as on_dask
    except ImportError:
        raise click.ClickException("--dask needs Dask: pip install 'nertag[dask]'") from None
    progress = _ByteProgress() if _is_terminal(sys.stderr) else None
    try:
        _run(on_dask.tag_files, address, pattern, output_dir, model_path=model_path,
             input_format=input_format, output_format=output_format, encoding=codec,
             block_bytes=block_bytes, progress=progress)
    finally:
        if progress is not None:
            progress.close()


def _byte_size(text):
    """``8M``, ``512K``, ``1G`` or a number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    value = text.strip().upper().removesuffix("B")
    scale = units.get(value[-1:], 1)
    number = value[:-1] if value[-1:] in units else value
    try:
        size = int(float(number) * scale)
    except ValueError:
        size = 0
    if size < 1:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 8M, 512K, 100000)",
                                 param_hint="--block-size")
    return size


class _ByteProgress:
    """A live bar on stderr (a terminal only): bytes of the input written out."""

    def __init__(self):
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.progress = Progress(BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                                 transient=True, console=_stderr_console())
        self.task = None
        self.progress.start()

    def __call__(self, done, total):
        if self.task is None:
            self.task = self.progress.add_task("tag", total=total)
        self.progress.update(self.task, completed=done)

    def close(self):
        self.progress.stop()


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _reader_went_away():
    """`nertag tag ... | head -1`: the reader closed the pipe. Stop quietly, successfully."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# ------------------------------------------------------------------------------- eval


@cli.command(name="eval")
@click.argument("corpus", required=False)
@click.option("-m", "--model", "model_path", type=click.Path(dir_okay=False),
              help="Model file (default: the shipped model).")
@click.option("--predictions", "predictions_path",
              help="Score this file's last two columns (gold, predicted) without a model, "
                   "like conlleval.")
@click.option("--map", "type_map", multiple=True, metavar="TYPE=NEW",
              help="Rename an entity type in the gold and the predictions, or drop it with "
                   "TYPE=O (repeatable).")
@click.option("--errors", "n_errors", type=click.IntRange(0), default=0, metavar="N",
              help="Also show the first N wrong spans, each in its sentence with the gold and "
                   "predicted entities bracketed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_encoding_option
def eval_(corpus, model_path, predictions_path, type_map, n_errors, as_json, encoding):
    """Score a model on a gold CORPUS (entity-level P/R/F1 by conlleval's rules), with a
    confusion table of entity types over overlapping gold and predicted spans."""
    from .conll import display_name, read_conll
    from .report import eval_report, extra_types, wrong_spans
    from .tagger import missing_types, predict_gold, read_gold_predictions

    if predictions_path and corpus:
        raise click.UsageError("give a CORPUS or --predictions FILE, not both")
    codec = _codec(encoding)
    mapping = _type_map(type_map)
    if predictions_path:
        name = display_name(predictions_path)
        items = _run(read_gold_predictions, predictions_path, mapping, codec)
    elif corpus:
        name = display_name(corpus)
        model = _load(model_path)
        gold = _run(read_conll, corpus, encoding=codec)
        lacking = missing_types(model, gold.sentences, mapping)
        if lacking:
            click.echo(f"warning: the model does not tag {', '.join(lacking)} (its types: "
                       f"{', '.join(model.types)}): those entities score 0; rename them with "
                       "--map TYPE=NEW", err=True)
        items = predict_gold(model, gold.sentences, mapping)
    else:
        raise click.UsageError("give a CORPUS to tag and score, or --predictions FILE")
    result = eval_report(items)
    extra = extra_types(result)
    if extra:
        click.echo(f"warning: {', '.join(extra)} predicted but never in the gold data: each "
                   f"such entity is a false positive; drop them with "
                   f"{' '.join('--map ' + t + '=O' for t in extra)}", err=True)
    errors = wrong_spans(items, n_errors, name) if n_errors else None
    if as_json:
        if errors is not None:
            result["errors"] = errors
        click.echo(json.dumps(result, sort_keys=True))
    else:
        _print_scores(result)
        if errors is not None:
            _print_wrong_spans(errors, n_errors)


def _print_scores(result):
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['sentences']} sentences, {result['tokens']} tokens")
    for column in ("type", "precision", "recall", "F1", "gold", "predicted"):
        table.add_column(column, justify="left" if column == "type" else "right")

    def row(name, d, style=None):
        table.add_row(name, f"{d['precision']:.4f}", f"{d['recall']:.4f}", f"{d['f1']:.4f}",
                      str(d["gold"]), str(d["predicted"]), style=style)

    for etype, d in result["per_type"].items():
        row(etype, d)
    row("all (micro)", result, style="bold")
    row("untyped spans", result["untyped"])
    console = Console()
    console.print(table)
    console.print(f"token accuracy {result['token_accuracy']:.4f}")
    console.print(_confusion_table(result["confusion"]))


def _confusion_table(conf):
    """Rows gold types, then spurious; columns predicted types, then missed and boundary."""
    from rich.table import Table

    table = Table(title="entity types of overlapping spans: gold (rows) by predicted (columns)",
                  caption=f"{conf['correct']} exact, {conf['type_errors']} type errors, "
                          f"{conf['boundary_errors']} boundary errors (same type, other span), "
                          f"{conf['missed']} missed, {conf['spurious']} spurious")
    table.add_column("gold \\ predicted")
    for column in conf["types"] + ["missed", "boundary"]:
        table.add_column(column, justify="right")
    for row in conf["types"] + ["spurious"]:
        cells = conf["table"][row]
        table.add_row(row, *(str(cells.get(col, "")) for col in conf["types"] + ["missed"]),
                      str(conf["boundary"].get(row, "")),
                      style="bold" if row == "spurious" else None)
    return table


def _print_wrong_spans(errors, wanted):
    from .report import format_wrong_span

    n = len(errors)
    shown = ("the first" if n == 1 else f"the first {n}") if n == wanted else f"all {n}"
    click.echo(f"\n{shown} wrong span{'s' if n > 1 else ''}:" if n else "\nno wrong spans")
    for error in errors:
        click.echo(format_wrong_span(error), nl=False)


# ------------------------------------------------------------------------------ train


@cli.command()
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--output", default="model.npz", show_default=True,
              type=click.Path(dir_okay=False), help="Model file to write (atomically).")
@click.option("--dev", "dev_paths", multiple=True,
              help="Dev corpus for early stopping, repeatable (default: 10% of train).")
@click.option("--epochs", type=click.IntRange(1), help="At most this many epochs [40].")
@click.option("--seed", type=int, help="Random seed [1].")
@click.option("--binary", is_flag=True, help="The lecture's task: entity (1) or not (0).")
@click.option("--crf/--no-crf", default=None,
              help="A linear-chain CRF over the logits (default), or the lecture's per-step "
                   "cross-entropy (--no-crf).")
@click.option("--hidden", type=click.IntRange(1, 2048), help="Units a direction [100].")
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="Adam step size [0.004].")
@click.option("--batch-size", type=click.IntRange(1), help="Sentences a batch [32].")
@click.option("--dropout", type=click.FloatRange(0, 0.95), help="Dropout before Wya [0.3].")
@click.option("--input-dropout", type=click.FloatRange(0, 0.95),
              help="Dropout on the cell's input Wax x<t> + Wv v<t> [by corpus size: 0.5 to 100k "
                   "tokens, down to 0.2 at 1M].")
@click.option("--feature-dropout", type=click.FloatRange(0, 0.95),
              help="Each sparse feature of a token replaced by its template's unknown with this "
                   "probability while training [0.1].")
@click.option("--min-count", type=click.IntRange(1), help="Rarer features are unknown [2].")
@click.option("--max-features", type=click.IntRange(20),
              help="Keep at most this many features, the most frequent [200000].")
@click.option("--case-augment", type=click.FloatRange(0, 1),
              help="Share of sentences also seen lower-cased or UPPER-CASED [0].")
@click.option("--patience", type=click.IntRange(1), help="Epochs without a dev gain [5].")
@click.option("--threads", type=click.IntRange(1), help="Threads (default: all cores).")
@click.option("--map", "type_map", multiple=True, metavar="TYPE=NEW",
              help="Rename an entity type, or drop it with TYPE=O (repeatable).")
@click.option("--vectors", "vectors_path", metavar="FILE",
              help="Word vectors to use instead of the shipped GloVe ones: word2vec/GloVe "
                   "text, or X.npy with its words in X.txt (carried in the model file).")
@click.option("--no-vectors", is_flag=True,
              help="No word vectors and no name lists: the lecture's features alone.")
@click.option("--names/--no-names", default=None,
              help="The shipped name lists as a feature (default: on, with vectors).")
@click.option("--vectors-limit", type=click.IntRange(1), default=400_000, show_default=True,
              help="Read at most this many vectors of a text file (the first ones).")
@click.option("--embeddings", hidden=True, expose_value=False, callback=lambda ctx, param, v:
              _renamed(v, "--embeddings FILE is now --vectors FILE (the vectors are an input "
                          "of the cell, learned through Wv, not a start for the word rows)"))
@click.option("--checkpoint", "checkpoint_dir", type=click.Path(file_okay=False),
              help="Save the training state here after every epoch.")
@click.option("--resume", is_flag=True, help="Continue from the state in --checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@_encoding_option
def train(corpus, output, dev_paths, type_map, vectors_path, no_vectors, vectors_limit,
          checkpoint_dir, resume, quiet, encoding, **options):
    """Train a model on CoNLL CORPUS files (token first column, tag last).

    By default the shipped word vectors and name lists are part of the input (knowledge of
    names the corpus lacks); --no-vectors trains on the corpus's own features alone."""
    from .training import make_trainer

    if resume and not checkpoint_dir:
        raise click.UsageError("--resume needs --checkpoint DIR")
    if no_vectors and (vectors_path or options.get("names")):
        raise click.UsageError("--no-vectors goes with neither --vectors nor --names")
    if no_vectors or vectors_path:
        options["vectors"] = None if no_vectors else vectors_path
    _settle_for_bulk_work()
    trainer = _run(make_trainer, list(corpus), list(dev_paths) or None, map=_type_map(type_map),
                   encoding=encoding, vectors_limit=vectors_limit, checkpoint=checkpoint_dir,
                   resume=resume, **options)
    _check_writable(output)
    if os.path.exists(output):
        click.echo(f"nertag: {output} exists and will be replaced by the new model", err=True)
    if checkpoint_dir:
        try:
            os.makedirs(checkpoint_dir, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"cannot create {checkpoint_dir}: {exc.strerror}",
                                     param_hint="--checkpoint") from None
        _check_writable(os.path.join(checkpoint_dir, "checkpoint.npz"))
    display = _TrainDisplay(quiet)
    interrupted = _on_interrupt(trainer)
    result = None
    try:
        for event in trainer.run():
            display.show(event)
            if event["event"] == "done":
                result = event
    except NertagError as exc:
        _save_best(trainer, output, display, "stopped")
        raise NertagClickError(exc) from None
    finally:
        display.close()
    if interrupted["count"] or (result and result["interrupted"]):
        _save_best(trainer, output, display, "interrupted")
        sys.exit(EXIT_INTERRUPTED)
    model = result["model"]
    model.save(output)
    click.echo(f"saved {output}: epoch {model.meta['epoch']}, dev F1 "
               f"{model.meta['dev_scores']['f1']:.4f} ({model.meta['dev']})")


def _renamed(value, message):
    if value is not None:
        raise click.UsageError(message)


def _type_map(items):
    mapping = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not TYPE=NEW", param_hint="--map")
        old, new = (side.strip() for side in item.split("=", 1))
        if not old or not new:
            raise click.BadParameter(f"{item!r}: both TYPE and NEW are needed (NEW may be O)",
                                     param_hint="--map")
        mapping[old] = new
    return mapping


def _check_writable(path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise click.BadParameter(f"cannot write in {folder}", param_hint="-o")


def _save_best(trainer, output, display, why):
    if trainer.best_model is None:
        click.echo(f"{why} before the first epoch ended: {output} left as it was", err=True)
        return
    trainer.best_model.save(output)
    meta = trainer.best_model.meta
    click.echo(f"{why}: saved the best model so far to {output} (epoch {meta['epoch']}, "
               f"dev F1 {meta['dev_scores']['f1']:.4f})", err=True)


def _on_interrupt(trainer):
    """First Ctrl-C or SIGTERM: stop at the next batch boundary. A second Ctrl-C: at once."""
    state = {"count": 0}

    def handler(signum, frame):
        state["count"] += 1
        trainer.stop_requested = True
        if state["count"] > 1:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return state


class _TrainDisplay:
    """Progress on stderr: a live bar on a terminal, one line an epoch otherwise."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.progress = None
        self.task = None
        if not quiet and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                                     TextColumn("loss {task.fields[loss]:.4f}"),
                                     TextColumn("{task.fields[speed]:,.0f} tokens/s"),
                                     TimeRemainingColumn(), transient=True,
                                     console=_stderr_console())
            self.progress.start()

    def echo(self, text, always=False):
        if self.quiet and not always:  # -q hides progress, never a warning
            return
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text, err=True)

    def show(self, event):
        kind = event["event"]
        if kind == "start":
            cfg = event["config"]
            self.echo(
                f"training on {event['sentences']:,} sentences ({event['tokens']:,} tokens); "
                f"dev: {event['dev']}; {event['features']:,} features; tags: "
                f"{' '.join(event['tags'])}; hidden={cfg['hidden']} lr={cfg['lr']} "
                f"batch={cfg['batch_size']} dropout={cfg['dropout']} "
                f"input_dropout={cfg['input_dropout']} epochs<={cfg['epochs']} "
                f"output={'crf' if cfg['crf'] and not cfg['binary'] else 'per-step'} "
                f"seed={cfg['seed']} threads={event['threads']}")
            self.echo(event["knowledge"])
            if event["resumed_epoch"]:
                self.echo(f"resumed after epoch {event['resumed_epoch']}")
            if not _kernels_cached():
                self.echo("compiling the training kernels (first run only: 10-30 s)")
        elif kind == "batch" and self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("", total=event["of"], epoch=event["epoch"],
                                                   loss=event["loss"], speed=0)
            self.progress.update(self.task, completed=event["tokens"], epoch=event["epoch"],
                                 loss=event["loss"], speed=event["tokens_per_s"])
        elif kind == "epoch":
            if self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
            dev = event["dev"]
            self.echo(f"epoch {event['epoch']:3d}  loss {event['loss']:.4f}  "
                      f"{event['tokens_per_s']:>9,.0f} tokens/s  dev P {dev['precision']:.4f} "
                      f"R {dev['recall']:.4f} F1 {dev['f1']:.4f}"
                      + ("  *best" if event["best"] else f"  (lr -> {event['lr']:.2g})"))
        elif kind == "warning":
            self.echo(f"warning: {event['message']}", always=True)
        elif kind == "early_stop":
            self.echo(f"no dev gain for a while: stopped after epoch {event['epoch']}")

    def close(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _kernels_cached():
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    try:
        return any(name.startswith("_kernels.") and name.endswith(".nbi")
                   for name in os.listdir(folder))
    except OSError:
        return False


# ------------------------------------------------------------------------------- main


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM ends nertag like Ctrl-C: cleanly, exit 130


def _fill_closed_descriptors():
    """Started with stdin, stdout or stderr closed: /dev/null takes each closed descriptor, so
    no file nertag opens later gets it (a write meant for stdout must never land in a model
    file). Python has left sys.stdin or sys.stdout None for them: reading a closed stdin is an
    error (conll.open_text), and so is a closed stdout (main)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)


def main(argv=None):
    """Entry point: Click in non-standalone mode, so Ctrl-C and SIGTERM exit 130, a closed pipe
    exits quietly, and a failing stdout is a one-line error."""
    # one BLAS thread: nertag's matrices are small, and two-thread BLAS collapses when the other
    # core is busy; set before NumPy is first imported (a user's own setting wins). This is the
    # command's own process; the library limits BLAS only inside its calls (tagger.py).
    global _OWN_PROCESS
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    _OWN_PROCESS = True
    signal.signal(signal.SIGTERM, _terminate)
    _fill_closed_descriptors()
    if sys.stdout is None:  # started with stdout closed: the output would be lost
        click.echo("Error: cannot write the output: standard output is closed", err=True)
        sys.exit(1)
    try:
        code = cli.main(args=argv, prog_name="nertag", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # a second signal while exiting (both sent to the process group) changes nothing
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        click.echo("nertag: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except BrokenPipeError:
        _reader_went_away()
        code = 0
    except OSError as exc:  # e.g. the disk behind stdout is full
        click.echo(f"Error: cannot write the output: {exc.strerror or exc}", err=True)
        code = 1
    sys.exit(code or 0)
