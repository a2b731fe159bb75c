"""The Python API (nertag.load, Tagger, Doc, nertag.train), its agreement with the CLI, and the
user-facing fixes of issue 11 that the CLI shows."""

import doctest
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import nertag
from nertag.cli import cli
from nertag.errors import BadModelError, NertagError

from .conftest import ROOT, SAMPLE_TEST, SAMPLE_TRAIN

TEXTS = ["Angela Merkel visited Paris.", "", "Zoë Šťastná flew from Kraków to Zürich on Monday.",
         "Harry Potter and Hermione Granger invented a new spell", "   ",
         "naïve — “quoted” U.S. 1,000"]


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def tagger():
    return nertag.load()


def test_readme_python_examples_run_as_doctests(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = doctest.testfile(str(ROOT / "README.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


def test_import_is_light_and_changes_no_setting():
    code = ("import os, sys; before = dict(os.environ); import nertag; "
            "heavy = [m for m in ('numpy', 'numba', 'rich', 'click') if m in sys.modules]; "
            "print(heavy, dict(os.environ) == before, callable(nertag.load))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out.strip() == "[] True True"


def test_loading_imports_no_numba_rich_or_click():
    code = ("import sys, nertag; nertag.load()('Angela Merkel visited Paris.'); "
            "print([m for m in ('numba', 'rich', 'click') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_tagging_leaves_the_environment_and_blas_threads_as_they_were():
    code = ("import os; before = dict(os.environ); import nertag; "
            "tagger = nertag.load(); tagger('Angela Merkel visited Paris.'); "
            "list(tagger.pipe(['Paris', 'Berlin'])); "
            "print(dict(os.environ) == before, "
            "[k for k in os.environ if k.endswith('_NUM_THREADS')])")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "True []"


class FakeThreadpoolctl:
    """threadpoolctl as the Tagger uses it: a controller whose limit() is recorded."""

    def __init__(self):
        self.calls = []  # ("limit", kwargs) and ("restore",), in order
        fake = self

        class Limiter:
            def restore_original_limits(self):
                fake.calls.append(("restore",))

        class ThreadpoolController:
            def limit(self, **kwargs):
                fake.calls.append(("limit", kwargs))
                return Limiter()

        self.ThreadpoolController = ThreadpoolController


@pytest.fixture
def blas_state(monkeypatch):
    """The Tagger's BLAS limiter made afresh, with no thread count in the environment."""
    from nertag import tagger as tagger_module

    monkeypatch.setitem(tagger_module._blas, "controller", None)
    return tagger_module._blas


def test_tagger_calls_run_on_one_blas_thread_with_threadpoolctl(tagger, monkeypatch,
                                                                blas_state):
    fake = FakeThreadpoolctl()
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    one_call = [("limit", {"limits": 1, "user_api": "blas"}), ("restore",)]
    tagger("Angela Merkel visited Paris.")
    assert fake.calls == one_call
    fake.calls.clear()
    docs = tagger.pipe(["Paris", "Berlin", "Rome"], batch_size=2)
    next(docs)
    assert fake.calls == one_call  # lifted while the caller holds a Doc
    list(docs)
    assert fake.calls == one_call * 2
    fake.calls.clear()
    tagger.tag_tokens(["Paris"])
    tagger.evaluate(SAMPLE_TEST)
    assert fake.calls == one_call * 2
    assert blas_state["users"] == 0 and blas_state["limiter"] is None


def test_blas_is_left_alone_without_threadpoolctl(tagger, monkeypatch, blas_state):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails: not installed
    assert tagger("Paris").tags == ["B-LOC"]
    assert blas_state["controller"] is False


def test_the_limit_holds_whatever_the_environment_says(tagger, monkeypatch, blas_state):
    """Dask's LocalCluster sets OPENBLAS_NUM_THREADS=1 in its parent after NumPy has started
    with more threads: the variable says nothing of the loaded BLAS, so the limit still
    applies (and the count before it comes back)."""
    fake = FakeThreadpoolctl()
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert tagger("Paris").tags == ["B-LOC"]
    assert fake.calls == [("limit", {"limits": 1, "user_api": "blas"}), ("restore",)]


def test_training_runs_on_one_blas_thread(monkeypatch, blas_state):
    fake = FakeThreadpoolctl()
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    calls = []
    nertag.train([SAMPLE_TRAIN], epochs=1, hidden=4,
                 callback=lambda e: calls.append(list(fake.calls)))
    assert calls[0] == [("limit", {"limits": 1, "user_api": "blas"})]  # held while training
    assert fake.calls[-1] == ("restore",) and blas_state["users"] == 0


def test_threads_tagging_at_once_share_one_blas_limit(monkeypatch, blas_state):
    import threading

    from nertag.tagger import one_blas_thread

    fake = FakeThreadpoolctl()
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    inside, leave = threading.Barrier(3), threading.Event()

    def work():
        with one_blas_thread():
            inside.wait(timeout=10)
            leave.wait(timeout=10)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    inside.wait(timeout=10)
    assert [c[0] for c in fake.calls] == ["limit"] and blas_state["users"] == 2
    leave.set()
    for w in workers:
        w.join(timeout=10)
    assert [c[0] for c in fake.calls] == ["limit", "restore"] and blas_state["users"] == 0


@pytest.mark.parametrize("text", TEXTS)
def test_doc_to_dict_equals_the_cli_json_line(tagger, text):
    result = invoke("tag", "--format", "json", input=text + "\n")
    assert result.exit_code == 0, result.output
    assert tagger(text).to_dict() == json.loads(result.stdout)


# pieces of random texts: names the model tags, JSON's special characters (quotes, backslash,
# control characters, U+2028/9, a BOM), whitespace of every kind, other scripts, and the lone
# surrogates that stand for bytes of a line that were not UTF-8
PIECES = st.sampled_from([
    "Angela Merkel", "Paris", "Harry Potter", "U.S.", "1,000", "it's", '"quoted"', "“curly”",
    "back\\slash", "Zoë", "東京", "😀", "\x00", "\x01", "\x1f", "\x7f", "\x85", "\u2028",
    "\u2029", "\ufeff", "\u00a0", "\u200b", "\t", "\r", "\n", "\x0b", "\x0c", " ", "",
    "\udcff", "\udc80", "\ud800"])
SEPARATORS = st.sampled_from(["", " ", "  ", "\t", " \u3000 "])
RANDOM_TEXTS = (st.lists(st.tuples(PIECES | st.text(max_size=6), SEPARATORS), max_size=10)
                .map(lambda pairs: "".join(piece + sep for piece, sep in pairs))
                | st.text(max_size=40))


def _strict(name):
    raise ValueError(f"{name} is not JSON")


@settings(max_examples=400, deadline=None)
@given(RANDOM_TEXTS)
def test_fast_json_writer_parses_to_doc_to_dict(tagger, text):
    """format_json (the CLI's fast text writer) and Doc.to_dict() are two code paths for one
    JSON object: on any text, the line parses (strictly: no NaN) to exactly the dict."""
    from nertag.formats import format_json
    from nertag.tagger import tag_texts

    line = format_json(tag_texts(tagger.model, [text])[0])
    assert line.endswith("\n") and "\n" not in line[:-1]  # one JSON line
    line.encode("utf-8")  # strict: no lone surrogate reaches the output
    assert json.loads(line, parse_constant=_strict) == tagger(text).to_dict()


def test_surrogate_pair_in_a_str_is_one_character_in_every_output(tagger):
    """A Python caller's str may hold a UTF-16 surrogate pair; JSON cannot write it as two
    characters, so the Doc and the JSON line both see the one character it encodes. A lone
    surrogate stays as it is."""
    from nertag.formats import format_json
    from nertag.tagger import tag_texts

    for text, seen in (("\ud800\udcff", "\U000100ff"), ("x\ud83d\ude00 Paris", "x\U0001f600 Paris"),
                       ("a\ud800 b", "a\ud800 b")):
        doc = tagger(text)
        assert doc.text == seen
        line = format_json(tag_texts(tagger.model, [text])[0])
        assert json.loads(line) == doc.to_dict()


def test_doc_fields(tagger):
    doc = tagger("Angela Merkel visited Paris.")
    assert doc.text == "Angela Merkel visited Paris."
    assert [(e.text, e.label, e.start, e.end) for e in doc.entities] == [
        ("Angela Merkel", "PER", 0, 13), ("Paris", "LOC", 22, 27)]
    assert all(doc.text[t.start:t.end] == t.text for t in doc.tokens)
    assert doc.tags == ["B-PER", "I-PER", "O", "B-LOC", "O"] and doc.binary == [1, 1, 0, 1, 0]
    assert 0.5 < doc.entities[0].score <= 1.0
    with pytest.raises(AttributeError):
        doc.text = "changed"  # frozen
    assert nertag.Doc.__doc__ and nertag.Token.__doc__ and nertag.Entity.__doc__


def test_pipe_is_lazy_and_empty_text_gives_an_empty_doc(tagger):
    seen = []

    def texts():
        for text in ["Harry Potter met Hermione Granger.", "", "Paris"]:
            seen.append(text)
            yield text

    docs = tagger.pipe(texts(), batch_size=1)
    assert seen == []  # nothing read before the first Doc is asked for
    first = next(docs)
    assert seen == ["Harry Potter met Hermione Granger."] and len(first.entities) == 2
    empty = next(docs)
    assert empty == nertag.Doc("", [], [])
    assert [d.text for d in docs] == ["Paris"]


def test_pipe_agrees_with_single_calls(tagger):
    assert [d.to_dict() for d in tagger.pipe(TEXTS, batch_size=2)] == \
        [tagger(t).to_dict() for t in TEXTS]


def test_wrong_types_raise_type_error(tagger):
    with pytest.raises(TypeError, match="tag_tokens"):
        tagger(["Angela", "Merkel"])
    with pytest.raises(TypeError, match="list of str tokens"):
        tagger.tag_tokens("Angela Merkel")
    with pytest.raises(TypeError, match="pipe"):
        list(tagger.pipe(["fine", ["not", "a", "str"]]))
    with pytest.raises(TypeError):
        list(tagger.pipe("a str, not a list"))


def test_tag_tokens_and_labels(tagger):
    assert tagger.tag_tokens(["Angela", "Merkel", "visited", "Paris", "."]) == \
        ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert tagger.tag_tokens([]) == []
    assert tagger.labels == ["LOC", "MISC", "ORG", "PER"]


def test_missing_and_bad_models(tmp_path):
    with pytest.raises(FileNotFoundError):
        nertag.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError) as err:
        nertag.load(bad)
    assert isinstance(err.value, BadModelError) and isinstance(err.value, NertagError)
    assert nertag.BadModelError is BadModelError


def test_train_save_evaluate_and_callback(tmp_path):
    events = []
    model = nertag.train([SAMPLE_TRAIN], dev=[SAMPLE_TEST], epochs=2,
                         seed=7, hidden=8, callback=events.append, map={"MISC": "O"})
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert isinstance(model, nertag.Tagger) and "MISC" not in model.labels
    path = tmp_path / "my.npz"
    model.save(path)
    scores = model.evaluate(SAMPLE_TEST, map={"MISC": "O"})
    cli_scores = json.loads(invoke("eval", SAMPLE_TEST, "-m", path, "--json",
                                   "--map", "MISC=O").stdout)
    assert scores == cli_scores
    assert model.meta["corpora"] == ["samples/sample-train.conll"]
    assert model.meta["dev"] == "samples/sample-test.conll"  # shortened like the corpora


def test_train_rejects_unknown_options():
    with pytest.raises(TypeError, match="unknown training option"):
        nertag.train([SAMPLE_TRAIN], epoch=3)


def test_tiny_corpus_warns_that_dev_is_train(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("Harry B-PER\nmet O\nAda B-PER\n")
    events = []
    nertag.train(path, epochs=1, hidden=4, callback=events.append)
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert len(warnings) == 1 and "training set itself" in warnings[0]
    result = invoke("train", path, "-o", tmp_path / "m.npz", "--epochs", "1", "--hidden", "4")
    assert result.exit_code == 0 and "warning: only 1 training sentences" in result.stderr


# ------------------------------------------------------------------ what a user hits (CLI)


def test_tag_refuses_utf16_input(tmp_path):
    path = tmp_path / "utf16.txt"
    path.write_bytes("Angela Merkel visited Paris.\n".encode("utf-16"))
    result = invoke("tag", "-i", path)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == (f"Error: {path}:1: the file is UTF-16: convert it to "
                                     "UTF-8 (iconv -f UTF-16 -t UTF-8)")


def test_tag_input_file_with_text_is_a_usage_error(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("Paris\n")
    result = invoke("tag", "-i", path, "Angela Merkel")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_tag_says_it_reads_stdin_only_on_a_terminal(monkeypatch):
    from nertag import cli as cli_module

    quiet = invoke("tag", input="Paris\n")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    monkeypatch.setattr(cli_module, "_is_terminal", lambda stream: True)
    told = invoke("tag", input="Paris\n")
    assert told.exit_code == 0 and "reading text to tag from standard input" in told.stderr
    assert told.stdout == quiet.stdout


def test_train_says_it_replaces_an_existing_model(tmp_path):
    out = tmp_path / "model.npz"
    args = ("train", SAMPLE_TRAIN, "-o", out, "--epochs", "1", "--hidden", "4", "-q")
    first = invoke(*args)
    assert first.exit_code == 0 and "replaced" not in first.stderr
    second = invoke(*args)
    assert second.exit_code == 0 and f"{out} exists and will be replaced" in second.stderr
