"""Pipes, signals, hostile and huge input: real processes where it matters."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nertag.conll import read_conll, read_predictions
from nertag.errors import NertagError

NERTAG = [sys.executable, "-m", "nertag"]


def test_closed_pipe_exits_quietly(sample_model_path, tmp_path):
    big = tmp_path / "in.txt"
    big.write_text("Harry Potter met Hermione Granger in London .\n" * 50_000)
    cmd = (f"{' '.join(NERTAG)} tag -m {sample_model_path} < {big} | head -1; "
           "exit ${PIPESTATUS[0]}")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert proc.returncode == 0


def test_pipeline_that_stays_open_gets_each_answer(sample_model_path):
    proc = subprocess.Popen(NERTAG + ["tag", "-m", str(sample_model_path), "-f", "binary"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for line, expect in (("Harry Potter", "1 1"), ("a new spell", "0 0 0")):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            assert proc.stdout.readline().rstrip("\n") == expect  # before stdin is closed
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_ctrl_c_while_tagging_exits_130(sample_model_path):
    proc = subprocess.Popen(NERTAG + ["tag", "-m", str(sample_model_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write("Harry Potter\n")
    proc.stdin.flush()
    proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err


def test_bad_input_exit_codes_and_one_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Harry B-PER\n\xc3\x28 O\n")
    proc = subprocess.run(NERTAG + ["train", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert f"{bad}:2" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(NERTAG + ["tag", "-m", str(bad), "x"], capture_output=True, text=True)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr


def test_very_long_line_is_tagged(sample_model_path, tmp_path):
    line = "Harry Potter met Hermione Granger in London . " * 25_000  # 200k tokens, one line
    path = tmp_path / "long.txt"
    path.write_text(line + "\n")
    proc = subprocess.run(NERTAG + ["tag", "-m", str(sample_model_path), "-f", "binary", "-i",
                                    str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 200_000


def test_invalid_utf8_passes_through_tagging(sample_model_path, tmp_path):
    path = tmp_path / "bytes.txt"
    path.write_bytes(b"Harry \xff Potter\n")
    proc = subprocess.run(NERTAG + ["tag", "-m", str(sample_model_path), "-i", str(path)],
                          capture_output=True)
    assert proc.returncode == 0
    assert b"\xff" in proc.stdout
    proc = subprocess.run(NERTAG + ["tag", "-m", str(sample_model_path), "-i", str(path),
                                    "-f", "json"], capture_output=True)
    record = json.loads(proc.stdout)
    assert record["text"] == "Harry \udcff Potter"


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(alphabet="ab #\t\n\r-IBOESL01XP\ufeff", max_size=200)
       .map(lambda s: s.encode("utf-8")))
def test_fuzzed_corpora_raise_only_our_error(tmp_path, data):
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    for reader in (read_conll, read_predictions,
                   lambda p: read_conll(p, with_tags=False)):
        try:
            corpus = reader(str(path))
        except NertagError as exc:
            assert str(path) in str(exc)
            continue
        sentences = corpus if isinstance(corpus, list) else corpus.sentences
        for sentence in sentences:
            tags = sentence[0] if isinstance(sentence, tuple) else sentence.tags
            for tag in tags or []:
                assert tag == "O" or tag[:2] in ("B-", "I-")


def test_sigterm_in_tag_exits_130_and_leaves_the_model_alone(sample_model_path):
    before = sample_model_path.read_bytes()
    proc = subprocess.Popen(NERTAG + ["tag", "-m", str(sample_model_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert sample_model_path.read_bytes() == before  # tagging only reads the model file


def test_two_process_split_gives_the_same_output(sample_model_path, tmp_path, monkeypatch):
    """A large regular file is tagged in two halves by two processes: the output must be the
    same, line for line, as one process gives (text with empty lines and CRLF, and CoNLL)."""
    import io

    from nertag import streams
    from nertag.modelfile import load_model

    model = load_model(sample_model_path)
    text = tmp_path / "in.txt"
    text.write_bytes(b"".join(
        b"Harry Potter met Ada Lovelace in London .\r\n" if i % 3 else b"\n"
        for i in range(3001)))
    conll = tmp_path / "in.conll"
    conll.write_text("-DOCSTART- O\n\n" + "Harry\nPotter\nmet\nAda\n\n" * 2000)
    for path, kind, fmt in ((text, "text", "inline"), (conll, "conll", "conll"),
                            (text, "text", "json")):
        outputs = []
        for split_bytes in (1 << 40, 1000):  # never split, then split
            monkeypatch.setattr(streams, "SPLIT_BYTES", split_bytes)
            out = io.BytesIO()
            streams.tag_stream(model, out, path=str(path), input_format=kind, output_format=fmt)
            outputs.append(out.getvalue())
        assert outputs[0] == outputs[1]
        assert outputs[0].count(b"\n") >= 3000


def test_stream_tagged_with_a_helper_gives_the_bytes_of_one_process(sample_model_path,
                                                                     tmp_path, monkeypatch):
    """A stream arriving fast is cut into jobs that a forked helper shares with the reading
    process: the output is the bytes one process writes, records in input order (each line
    is different), for text with empty lines and CRLF, and CoNLL with a document start."""
    import io

    from nertag import streams
    from nertag.modelfile import load_model

    model = load_model(sample_model_path)
    text = tmp_path / "in.txt"
    text.write_bytes(b"".join(
        f"Harry Potter met Ada Lovelace {i} times in London .\r\n".encode() if i % 3 else b"\n"
        for i in range(3001)))
    conll = tmp_path / "in.conll"
    conll.write_text("-DOCSTART- O\n\n" + "".join(f"Harry\nPotter\nmet\nAda\n{i}\n\n"
                                                   for i in range(2000)))
    started = []
    real_helper = streams.Helper

    def counted_helper(*args):
        started.append(True)
        return real_helper(*args)

    monkeypatch.setattr(streams, "Helper", counted_helper)
    for path, kind, fmt in ((text, "text", "inline"), (conll, "conll", "conll"),
                            (text, "text", "json")):
        outputs = []
        for job_chars in (1 << 40, 2000):  # one job, one process; then many jobs, two
            monkeypatch.setattr(streams, "JOB_CHARS", job_chars)
            out = io.BytesIO()
            n = streams.tag_stream(model, out, path=str(path), input_format=kind,
                                   output_format=fmt)
            outputs.append((n, out.getvalue()))
        assert outputs[0] == outputs[1]
        assert outputs[0][0] >= 2000
    assert len(started) == 3  # each of the second runs had a helper
    assert model.single_threaded is False  # given back after the helper's end


def test_a_failing_helper_leaves_its_jobs_to_the_reader(sample_model_path, tmp_path,
                                                        monkeypatch, capfd):
    """A helper that fails (here on its first job) is reaped at once, and the reading process
    tags its jobs: the bytes of one process, and a warning."""
    import io

    from nertag import streams
    from nertag.modelfile import load_model

    model = load_model(sample_model_path)
    text = tmp_path / "in.txt"
    text.write_text("".join(f"Harry Potter met Ada Lovelace {i} times in London .\n"
                            for i in range(2000)))
    alone = io.BytesIO()
    streams.tag_stream(model, alone, path=str(text))
    parent = os.getpid()
    real_call = streams.JobTagger.__call__

    def failing_in_the_helper(self, records):
        if os.getpid() != parent:
            raise NertagError("broken", "helper")
        return real_call(self, records)

    monkeypatch.setattr(streams.JobTagger, "__call__", failing_in_the_helper)
    monkeypatch.setattr(streams, "JOB_CHARS", 2000)
    out = io.BytesIO()
    assert streams.tag_stream(model, out, path=str(text)) == 2000
    assert out.getvalue() == alone.getvalue()
    err = capfd.readouterr().err
    assert "Error: helper process: helper: broken" in err
    assert "helper process failed (exit status 1); tagging on in one process" in err
    assert model.single_threaded is False


def _big_inputs(tmp_path):
    """A text file and a CoNLL file of about 1.5 MB each: read from a fast pipe in batches
    of what is waiting."""
    words = ("Harry Potter met Hermione Granger in London . Ada Lovelace wrote to the Royal "
             "Society about the engine").split()
    lines = [" ".join(words[i % 7:] + words[:i % 7]) for i in range(12_000)]
    text = tmp_path / "big.txt"
    text.write_text("\n".join(lines) + "\n\n" + "\n".join(lines[:50]) + "\n")
    conll = tmp_path / "big.conll"
    conll.write_text("".join("\n".join(line.split()) + "\n\n" for line in lines))
    return text, conll


def test_fast_pipe_is_tagged_as_the_file_is(sample_model_path, tmp_path):
    text, conll = _big_inputs(tmp_path)
    for path, extra in ((text, []), (text, ["-f", "json"]),
                        (conll, ["--input-format", "conll", "-f", "conll"])):
        args = NERTAG + ["tag", "-m", str(sample_model_path), *extra]
        from_file = subprocess.run(args + ["-i", str(path)], capture_output=True, timeout=300)
        piped = subprocess.run(["bash", "-c", f"cat {path} | {' '.join(args)}"],
                               capture_output=True, timeout=300)
        assert piped.returncode == 0 and from_file.returncode == 0, piped.stderr
        assert piped.stdout.count(b"\n") >= 12_000
        if "json" not in extra:
            assert piped.stdout == from_file.stdout  # same records, same order
            continue
        # batches of another make-up round the last float bits differently: scores to 1e-3
        for a, b in zip(piped.stdout.splitlines(), from_file.stdout.splitlines(), strict=True):
            a, b = json.loads(a), json.loads(b)
            assert [t["tag"] for t in a["tokens"]] == [t["tag"] for t in b["tokens"]]
            for ta, tb in zip(a["tokens"], b["tokens"]):
                assert abs(ta["score"] - tb["score"]) <= 1e-3


def test_fast_pipe_into_head_exits_quietly_and_leaves_no_process(sample_model_path, tmp_path):
    text, _ = _big_inputs(tmp_path)
    cmd = (f"cat {text} {text} {text} | {' '.join(NERTAG)} tag -m {sample_model_path} | head -1;"
           " exit ${PIPESTATUS[1]}")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("\n") == 1
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    leftover = subprocess.run(["pgrep", "-f", f"tag -m {sample_model_path}"],
                              capture_output=True, text=True)
    assert leftover.stdout == ""


@pytest.mark.parametrize("source", ["pipe", "file"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_the_group_while_tagging_exits_130(sample_model_path, tmp_path, signum,
                                                     source):
    """Ctrl-C reaches the whole process group, the forked helper of a large file included:
    nertag still ends as interrupted (130), with no traceback and no process left behind."""
    text, _ = _big_inputs(tmp_path)
    big = tmp_path / "bigger.txt"  # 2 MB and more: two processes
    big.write_bytes(text.read_bytes() * 40)
    feeder = subprocess.Popen(["bash", "-c", f"while :; do cat '{text}'; done"],
                              stdout=subprocess.PIPE) if source == "pipe" else None
    stdin = feeder.stdout if feeder else open(big, "rb")
    proc = subprocess.Popen(NERTAG + ["tag", "-m", str(sample_model_path)], stdin=stdin,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        time.sleep(4)  # started, and tagging with its helper
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if feeder:
            feeder.kill()
            feeder.wait()
        else:
            stdin.close()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"tag -m {sample_model_path}"], capture_output=True,
                          text=True)
    assert left.stdout == ""


def test_bulk_work_settings_are_the_commands_own():
    """`nertag tag` on a file (or a stream) and `nertag train` settle their process for bulk
    work (the cyclic GC run rarely and not over what is loaded; freed memory kept by malloc)
    before the work; `nertag tag TEXT` does not, nor does using the library."""
    probe = """
import gc, sys
import nertag.streams, nertag.training
from nertag import cli
default = gc.get_threshold()[0]
def report(*args, **kwargs):
    print(gc.get_threshold()[0] == default, gc.get_freeze_count() > 0, flush=True)
    raise SystemExit(0)
nertag.streams.tag_stream = nertag.training.make_trainer = report
cli.main(sys.argv[1:])
"""
    from nertag.process import GC_YOUNG_OBJECTS

    assert GC_YOUNG_OBJECTS > 700
    runs = {"file": ["tag", "-i", os.devnull], "train": ["train", os.devnull, "-o", "x.npz"],
            "text": ["tag", "Harry Potter"]}
    seen = {}
    for name, args in runs.items():
        proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        seen[name] = proc.stdout.split()
    # default threshold kept, nothing frozen: only for TEXT arguments
    assert seen == {"file": ["False", "True"], "train": ["False", "True"],
                    "text": ["True", "False"]}
