"""Tagging on Dask (nertag/dask.py): one LocalCluster of two single-threaded worker processes
for the module, small inputs, timeouts. Outputs are compared byte for byte with `nertag tag -i`;
a worker killed mid-run loses and duplicates nothing."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nertag.cli import cli

from .conftest import SAMPLE_TEST

distributed = pytest.importorskip("distributed")

LINES = ["Harry Potter met Hermione Granger in London .", "", "Ada Lovelace wrote to Babbage",
         "the weather was fine", "Angela Merkel visited Paris with officials of the UN ."]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as local:
        with distributed.Client(local) as client:
            yield local, client


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "big.txt").write_text("\n".join(LINES[i % 5] for i in range(400)) + "\n")
    (folder / "small.txt").write_text("Harry Potter\r\nmet Ada\n")
    (folder / "empty.txt").write_text("")
    (folder / "corpus.conll").write_text(
        (SAMPLE_TEST).read_text() * 3)
    return folder


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def single(model, path, *options):
    result = invoke("tag", "-m", model, "-i", path, *options)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_outputs_equal_the_single_process_ones(cluster, inputs, sample_model_path, tmp_path):
    address = cluster[0].scheduler_address
    for options, pattern, suffix in ((["-f", "json"], "*.txt", ".jsonl"),
                                     (["--input-format", "conll", "-f", "conll"], "*.conll",
                                      ".conll"),
                                     (["-f", "html"], "big.txt", ".html")):
        out = tmp_path / ("out" + suffix)
        result = invoke("tag", "--dask", address, "-m", sample_model_path, "-i",
                        inputs / pattern, "--output-dir", out, "--block-size", "2K", *options)
        assert result.exit_code == 0, result.output
        assert result.output == ""  # quiet in a pipe
        written = sorted(os.listdir(out))
        expected = sorted(p.stem + suffix for p in inputs.glob(pattern))
        assert written == expected
        for path in inputs.glob(pattern):
            assert (out / (path.stem + suffix)).read_bytes() == single(
                sample_model_path, path, *options), path.name


def test_pieces_cut_at_lines_and_sentences(inputs):
    from nertag.dask import piece_spans

    big = inputs / "big.txt"
    spans = piece_spans(str(big), big.stat().st_size, False, 2048)
    data = big.read_bytes()
    assert len(spans) > 3 and spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(a[1] == b[0] and data[a[1] - 1:a[1]] == b"\n" for a, b in zip(spans, spans[1:]))
    corpus = inputs / "corpus.conll"
    data = corpus.read_bytes()
    spans = piece_spans(str(corpus), len(data), True, 1000)
    assert len(spans) > 3
    assert all(data[stop - 2:stop] == b"\n\n" for _, stop in spans[:-1])


def test_model_loaded_once_a_worker_process(cluster, inputs, sample_model_path, tmp_path):
    address = cluster[0].scheduler_address
    for n in range(2):
        result = invoke("tag", "--dask", address, "-m", sample_model_path, "-i",
                        inputs / "big.txt", "--output-dir", tmp_path / f"o{n}", "--block-size",
                        "1K")
        assert result.exit_code == 0, result.output
    loads = cluster[1].run(lambda: __import__("nertag.dask").dask.LOADS["count"])
    assert sorted(loads.values()) == [1, 1]  # ~20 tasks, two runs: one load a process


def test_tag_bag_equals_the_cli(cluster, sample_model_path, inputs):
    import dask.bag

    from nertag.dask import tag_bag

    lines = (inputs / "big.txt").read_text().splitlines(keepends=True)
    bag = dask.bag.from_sequence(lines, npartitions=4)
    records = tag_bag(bag, model=str(sample_model_path)).compute(scheduler=cluster[1])
    assert len(records) == len(lines)
    assert "".join(records).encode() == single(sample_model_path, inputs / "big.txt",
                                               "-f", "json")


class CrashOnce(distributed.WorkerPlugin):
    """Kills its worker process the first time a nertag task starts to run there (the marker
    file says it happened already)."""

    def __init__(self, marker):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "nertag-piece" in str(key) \
                and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, inputs,
                                                                sample_model_path, tmp_path):
    local, client = cluster
    marker = tmp_path / "crashed"
    client.register_plugin(CrashOnce(str(marker)), name="crash-once")
    try:
        result = invoke("tag", "--dask", local.scheduler_address, "-m", sample_model_path, "-i",
                        inputs / "big.txt", "--output-dir", tmp_path / "out", "--block-size",
                        "1K", "-f", "binary")
    finally:
        client.unregister_worker_plugin("crash-once")
    assert marker.exists()  # a worker did die
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "big.txt").read_bytes() == single(
        sample_model_path, inputs / "big.txt", "-f", "binary")
    client.wait_for_workers(2, timeout=60)


def test_errors_are_one_line_and_exit_1(cluster, inputs, sample_model_path, tmp_path,
                                        monkeypatch):
    import nertag.dask

    address = cluster[0].scheduler_address
    utf16 = inputs / "utf16.txt"
    utf16.write_bytes("Harry\n".encode("utf-16"))
    cli_error = invoke("tag", "-m", sample_model_path, "-i", utf16).output
    result = invoke("tag", "--dask", address, "-m", sample_model_path, "-i", inputs / "*.txt",
                    "--output-dir", tmp_path / "out")
    assert (result.exit_code, result.output) == (1, cli_error)
    assert cli_error.startswith(f"Error: {utf16}:1: the file is UTF-16")
    assert not list((tmp_path / "out").glob("*.part"))
    for args, message in (
            (["-i", inputs / "nothing*.txt"], f"Error: {inputs}/nothing*.txt: no input file "
                                               "matches\n"),
            (["-i", inputs / "missing.txt"], f"Error: {inputs}/missing.txt: no such file\n")):
        result = invoke("tag", "--dask", address, "-m", sample_model_path, *args,
                        "--output-dir", tmp_path / "o")
        assert (result.exit_code, result.output) == (1, message)
    monkeypatch.setattr(nertag.dask, "CONNECT_TIMEOUT", "1s")
    result = invoke("tag", "--dask", "tcp://127.0.0.1:9", "-m", sample_model_path, "-i",
                    inputs / "small.txt", "--output-dir", tmp_path / "o")
    assert result.exit_code == 1
    assert result.output.startswith("Error: tcp://127.0.0.1:9: cannot reach the Dask "
                                    "scheduler: ") and result.output.count("\n") == 1


def test_a_later_pieces_error_line_counts_from_the_file_start(tmp_path):
    from nertag.dask import PieceError, absolute_where

    path = tmp_path / "f.txt"
    path.write_bytes(b"a\nb\nc\nd\n")
    error = absolute_where(PieceError("bad", f"{path}:2", 1), str(path), str(path), 4)
    assert str(error) == f"{path}:4: bad" and error.exit_code == 1


def test_usage_errors():
    for args in (["--output-dir", "o", "-i", "x"], ["--dask", "local", "-i", "x"],
                 ["--dask", "local", "--output-dir", "o"],
                 ["--dask", "local", "--output-dir", "o", "Harry"],
                 ["--dask", "local", "-i", "x", "--output-dir", "o", "--block-size", "lots"]):
        assert invoke("tag", *args).exit_code == 2, args


def test_import_nertag_and_the_plain_cli_never_import_dask(sample_model_path):
    code = ("import sys, nertag; from nertag.cli import main; nertag.load(sys.argv[1]); "
            "sys.argv = ['nertag', 'tag', '-m', sys.argv[1], 'Harry Potter'];\n"
            "try: main()\nexcept SystemExit: pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'fsspec') or m == 'nertag.dask'))")
    out = subprocess.run([sys.executable, "-c", code, str(sample_model_path)],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[PER Harry Potter]", "[]"]
