"""corpus.py: reading CoNLL corpora, prediction files and text streams; errors name file:line;
and every real corpus in ../shared/data loads with the token counts its README gives."""

import functools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nertag import streams as corpus_module
from nertag.conll import read_conll, read_predictions
from nertag.errors import BadInputError, NertagError
from nertag.streams import iter_conll_batches, iter_line_batches


def write(tmp_path, data, name="corpus.txt"):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def tokens_of(c):
    return [s.tokens for s in c.sentences]


def tags_of(c):
    return [s.tags for s in c.sentences]


# ----------------------------------------------------------------------- reading layouts


def test_tab_separated(tmp_path):
    path = write(tmp_path, "Harry\tB-PER\nPotter\tI-PER\nmet\tO\n\nRon\tB-PER\n.\tO\n")
    c = read_conll(path)
    assert tokens_of(c) == [["Harry", "Potter", "met"], ["Ron", "."]]
    assert tags_of(c) == [["B-PER", "I-PER", "O"], ["B-PER", "O"]]
    assert c.family == "bio"
    assert c.n_tokens == 5
    assert c.name == str(path)


def test_space_separated_with_runs_of_spaces(tmp_path):
    path = write(tmp_path, "Harry   B-PER\nPotter I-PER\n  \nLondon  B-LOC  \n")
    c = read_conll(path)
    assert tokens_of(c) == [["Harry", "Potter"], ["London"]]
    assert tags_of(c) == [["B-PER", "I-PER"], ["B-LOC"]]


def test_four_columns_sec_layout(tmp_path):
    path = write(
        tmp_path,
        "-DOCSTART- -X- O O\n\nThis DT - O\nLOAN NN - O\nBANK NNP - I-ORG\nCORP NNP - I-ORG\n"
        "\nJohn NNP - I-PER\n",
    )
    c = read_conll(path)
    assert tokens_of(c) == [["This", "LOAN", "BANK", "CORP"], ["John"]]
    assert tags_of(c) == [["O", "O", "B-ORG", "I-ORG"], ["B-PER"]]
    assert c.sentences[0].lines == ["This DT - O", "LOAN NN - O", "BANK NNP - I-ORG",
                                   "CORP NNP - I-ORG"]


def test_docstart_lines_split_documents(tmp_path):
    # -DOCSTART- directly after a token ends the sentence even without a blank line
    path = write(tmp_path, "-DOCSTART- O\n\nA O\nB I-LOC\n-DOCSTART- O\nC O\n")
    c = read_conll(path)
    assert tokens_of(c) == [["A", "B"], ["C"]]
    assert tags_of(c) == [["O", "B-LOC"], ["O"]]


def test_multiconer_comment_lines(tmp_path):
    path = write(
        tmp_path,
        "# id fc76cef4-3a91\tdomain=train\nhis _ _ O\nplaylist _ _ O\nsonny _ _ B-PER\n"
        "rollins _ _ I-PER\n\n# id 0372e985\tdomain=train\nease _ _ B-CW\non _ _ I-CW\n",
    )
    c = read_conll(path)
    assert tokens_of(c) == [["his", "playlist", "sonny", "rollins"], ["ease", "on"]]
    assert tags_of(c) == [["O", "O", "B-PER", "I-PER"], ["B-CW", "I-CW"]]
    assert [s.line for s in c.sentences] == [2, 8]


def test_conllu_style_comment_lines(tmp_path):
    path = write(tmp_path, "# sent_id = 12\n# text = Harry met Sally\nHarry\tB-PER\nmet\tO\n")
    c = read_conll(path)
    assert tokens_of(c) == [["Harry", "met"]]


def test_hash_token_at_sentence_start_is_a_token(tmp_path):
    path = write(tmp_path, "#\tO\nNER\tB-ORG\nrocks\tO\n\nlove\tO\n#\tO\nNLP\tB-ORG\n")
    c = read_conll(path)
    assert tokens_of(c) == [["#", "NER", "rocks"], ["love", "#", "NLP"]]
    assert tags_of(c) == [["O", "B-ORG", "O"], ["O", "O", "B-ORG"]]
    assert c.sentences[0].line == 1


def test_hash_token_with_entity_tag_and_hashtag_token(tmp_path):
    path = write(tmp_path, "#\tB-ORG\nfoo\tO\n\n#blessed\tO\nday\tO\n")
    c = read_conll(path)
    assert tokens_of(c) == [["#", "foo"], ["#blessed", "day"]]
    assert tags_of(c) == [["B-ORG", "O"], ["O", "O"]]


def test_hash_token_at_sentence_start_in_four_columns(tmp_path):
    path = write(
        tmp_path,
        "# id 09defc13\tdomain=train\n# _ _ O\ntrending _ _ O\n\n"
        "# id 3842bf39\tdomain=train\nsee _ _ O\n# _ _ O\n",
    )
    c = read_conll(path)
    assert tokens_of(c) == [["#", "trending"], ["see", "#"]]
    assert c.sentences[0].line == 2


def test_bom_is_dropped(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfHarry\tB-PER\nPotter\tI-PER\n")
    c = read_conll(path)
    assert tokens_of(c) == [["Harry", "Potter"]]


def test_bom_before_docstart(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf-DOCSTART- O\n\nHarry O\n")
    assert tokens_of(read_conll(path)) == [["Harry"]]


def test_crlf_line_ends(tmp_path):
    path = write(tmp_path, b"Harry\tB-PER\r\nPotter\tI-PER\r\n\r\nRon B-PER\r\n")
    c = read_conll(path)
    assert tokens_of(c) == [["Harry", "Potter"], ["Ron"]]
    assert tags_of(c) == [["B-PER", "I-PER"], ["B-PER"]]
    assert all("\r" not in row for s in c.sentences for row in s.lines)


def test_empty_and_whitespace_tokens_btc(tmp_path):
    path = write(tmp_path, "hi\tO\n\tO\n \tO\n\u00a0\tO\nBob\tB-PER\n")
    c = read_conll(path)
    assert tokens_of(c) == [["hi", "", " ", "\u00a0", "Bob"]]
    assert tags_of(c) == [["O", "O", "O", "O", "B-PER"]]


def test_empty_token_at_sentence_start(tmp_path):
    path = write(tmp_path, "a\tO\n\n\tB-PER\nb\tI-PER\n")
    c = read_conll(path)
    assert tokens_of(c) == [["a"], ["", "b"]]
    assert tags_of(c) == [["O"], ["B-PER", "I-PER"]]
    assert c.sentences[1].line == 3


def test_trailing_tab_is_ignored(tmp_path):
    path = write(tmp_path, "Harry\tB-PER\t\nPotter\tI-PER\n")
    assert tags_of(read_conll(path)) == [["B-PER", "I-PER"]]


def test_whitespace_only_lines_are_sentence_breaks(tmp_path):
    path = write(tmp_path, "a\tO\n   \nb\tO\n\t\nc\tO\n \t \r\nd\tO\n\n\n\ne\tO")
    c = read_conll(path)
    assert tokens_of(c) == [["a"], ["b"], ["c"], ["d"], ["e"]]
    assert [s.line for s in c.sentences] == [1, 3, 5, 7, 11]


def test_iob1_is_normalised_to_bio(tmp_path):
    path = write(tmp_path, "010 I-MISC\nis O\nby O\nJohn I-PER\nSmith I-PER\nJane B-PER\n"
                           "in O\nNew I-LOC\nYork I-LOC\nTimes I-ORG\n")
    c = read_conll(path)
    assert tags_of(c) == [["B-MISC", "O", "O", "B-PER", "I-PER", "B-PER", "O", "B-LOC",
                           "I-LOC", "B-ORG"]]


def test_bioes_is_normalised_to_bio(tmp_path):
    path = write(tmp_path, "a\tS-PER\nb\tB-LOC\nc\tE-LOC\nd\tU-ORG\n")
    assert tags_of(read_conll(path)) == [["B-PER", "B-LOC", "I-LOC", "B-ORG"]]


def test_binary_corpus(tmp_path):
    path = write(tmp_path, "# the lecture's task\nHarry\t1\nPotter\t1\nand\t0\nHermione\t1\n")
    c = read_conll(path)
    assert c.family == "binary"
    assert tags_of(c) == [["B-ENT", "I-ENT", "O", "B-ENT"]]


def test_sentence_line_and_rows(tmp_path):
    path = write(tmp_path, "\n\nHarry\tNNP\tB-PER\nPotter\tNNP\tI-PER\n\nmet\tVBD\tO\n")
    c = read_conll(path)
    assert [s.line for s in c.sentences] == [3, 6]
    assert c.sentences[0].lines == ["Harry\tNNP\tB-PER", "Potter\tNNP\tI-PER"]
    assert c.sentences[1].lines == ["met\tVBD\tO"]


def test_tag_is_last_column(tmp_path):
    path = write(tmp_path, "Harry NNP B-NP B-PER\nsleeps VBZ B-VP O\n")
    assert tags_of(read_conll(path)) == [["B-PER", "O"]]


def test_without_tags(tmp_path):
    path = write(tmp_path, "Harry\nPotter\n\nmet x\n")
    c = read_conll(path, with_tags=False)
    assert tokens_of(c) == [["Harry", "Potter"], ["met"]]
    assert all(s.tags is None for s in c.sentences)


# ----------------------------------------------------------------------------- errors


def read_error(path, **kwargs):
    with pytest.raises(BadInputError) as info:
        read_conll(path, **kwargs)
    return info.value


def assert_names_line(err, path, line):
    assert err.where == f"{path}:{line}"
    assert str(err).startswith(f"{path}:{line}: ")
    assert isinstance(err, NertagError)


def test_missing_tag_column(tmp_path):
    path = write(tmp_path, "Harry\tB-PER\nPotter\tI-PER\n\nHermione\n")
    err = read_error(path)
    assert_names_line(err, path, 4)
    assert "Hermione" in str(err)


def test_missing_tag_column_tab_only(tmp_path):
    path = write(tmp_path, "a O\nb\t\n")
    assert_names_line(read_error(path), path, 2)


@pytest.mark.parametrize("tag", ["X-FOO", "PER", "B-", "o", "2"])
def test_unknown_tag(tmp_path, tag):
    path = write(tmp_path, f"-DOCSTART- O\n\nHarry\tB-PER\nPotter\t{tag}\n")
    err = read_error(path)
    assert_names_line(err, path, 4)
    assert repr(tag) in str(err)


def test_invalid_utf8(tmp_path):
    path = write(tmp_path, b"ok\tO\n\nbad\xff\tO\nmore\tO\n")
    err = read_error(path)
    assert_names_line(err, path, 3)
    assert "UTF-8" in str(err)


def test_invalid_utf8_on_first_line(tmp_path):
    path = write(tmp_path, b"\xffx\tO\n")
    assert_names_line(read_error(path), path, 1)


@pytest.mark.parametrize(
    "text, line",
    [
        ("a\t0\nb\t1\n\nc\tB-PER\n", 4),  # binary, then BIO
        ("a\tO\nb\tB-PER\nc\t1\n", 3),  # BIO, then binary
        ("a\t1\nb\tO\n", 2),  # letter O in a 0/1 corpus
    ],
)
def test_mixing_binary_and_bio(tmp_path, text, line):
    path = write(tmp_path, text)
    err = read_error(path)
    assert_names_line(err, path, line)
    assert "mixes" in str(err)


def test_mixed_tags_error_even_after_line_count_crlf(tmp_path):
    path = write(tmp_path, b"a\t0\r\n\r\nb\tB-PER\r\n")
    assert_names_line(read_error(path), path, 3)


@pytest.mark.parametrize("data", [b"", b"\n\n  \n\t\n", b"\xef\xbb\xbf", b"-DOCSTART- O\n\n",
                                  b"# just a comment\n"])
def test_no_sentences(tmp_path, data):
    path = write(tmp_path, data)
    err = read_error(path)
    assert err.where == str(path)
    assert str(err).startswith(f"{path}: ")


def test_empty_file_is_fine_without_tags(tmp_path):
    path = write(tmp_path, b"")
    assert read_conll(path, with_tags=False).sentences == []


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.txt")
    err = read_error(path)
    assert err.where == str(path)
    assert str(path) in str(err)


def test_directory(tmp_path):
    err = read_error(str(tmp_path))
    assert err.where == str(tmp_path)
    assert "directory" in str(err)


# ------------------------------------------------------------------------ predictions


def test_read_predictions(tmp_path):
    path = write(
        tmp_path,
        "-DOCSTART- -X- O O O\n\nHarry NNP I-PER B-PER\nPotter NNP I-PER I-PER\n"
        "met VBD O O\n\nLondon\tI-LOC\tB-ORG\n",
    )
    pairs = read_predictions(path)
    assert pairs == [
        (["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
        (["B-LOC"], ["B-ORG"]),
    ]


def test_read_predictions_last_two_columns_and_bioes(tmp_path):
    path = write(tmp_path, "a x y B-LOC S-LOC\nb x y I-LOC O\n")
    assert read_predictions(path) == [(["B-LOC", "I-LOC"], ["B-LOC", "O"])]


def test_read_predictions_binary(tmp_path):
    path = write(tmp_path, "a 1 1\nb 1 0\nc 0 1\n")
    assert read_predictions(path) == [(["B-ENT", "I-ENT", "O"], ["B-ENT", "O", "B-ENT"])]


def test_read_predictions_comment_lines(tmp_path):
    path = write(tmp_path, "# id abc domain=test\nsonny _ _ B-PER B-PER\n")
    assert read_predictions(path) == [(["B-PER"], ["B-PER"])]


def test_read_predictions_multiconer_comment_line(tmp_path):
    path = write(tmp_path, "# id abc\tdomain=dev\nsonny _ _ B-PER B-PER\n")
    assert read_predictions(path) == [(["B-PER"], ["B-PER"])]


def test_read_predictions_hash_token_in_five_columns(tmp_path):
    path = write(tmp_path, "# _ _ O O\ntrending _ _ O O\n")
    assert read_predictions(path) == [(["O", "O"], ["O", "O"])]


def test_read_predictions_too_few_columns(tmp_path):
    path = write(tmp_path, "a O O\n\nb O\n")
    with pytest.raises(BadInputError) as info:
        read_predictions(path)
    assert_names_line(info.value, path, 3)


@pytest.mark.parametrize(
    "text, line",
    [
        ("a O O\nb O PER\n", 2),  # unknown predicted tag
        ("a X-FOO O\n", 1),  # unknown gold tag
        ("a O O\n\nb 1 O\n", 3),  # gold mixes binary into BIO
    ],
)
def test_read_predictions_bad_tags(tmp_path, text, line):
    path = write(tmp_path, text)
    with pytest.raises(BadInputError) as info:
        read_predictions(path)
    assert_names_line(info.value, path, line)


def test_read_predictions_empty(tmp_path):
    path = write(tmp_path, "\n\n")
    with pytest.raises(BadInputError) as info:
        read_predictions(path)
    assert info.value.where == str(path)


# ------------------------------------------------------------------ line/CoNLL streams


def all_lines(path):
    return [(first + i, line) for first, lines in iter_line_batches(path)
            for i, line in enumerate(lines)]


def test_iter_line_batches(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbffirst line\r\nsecond\n\n  \nbad \xff byte\nlast")
    assert all_lines(path) == [
        (1, "first line"),
        (2, "second"),
        (3, ""),
        (4, "  "),
        (5, "bad \udcff byte"),
        (6, "last"),
    ]


def test_iter_line_batches_surrogate_round_trips(tmp_path):
    path = write(tmp_path, b"caf\xe9\n")
    [(number, line)] = all_lines(path)
    assert number == 1
    assert line.encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_iter_line_batches_last_line_crlf_without_newline(tmp_path):
    path = write(tmp_path, b"a\r\nb\r")
    assert all_lines(path) == [(1, "a"), (2, "b")]


def test_iter_line_batches_empty_file(tmp_path):
    assert all_lines(write(tmp_path, b"")) == []


def test_iter_line_batches_only_newline(tmp_path):
    assert all_lines(write(tmp_path, b"\n")) == [(1, "")]


def test_iter_line_batches_small_reads(tmp_path, monkeypatch):
    # lines and multi-byte characters cut across reads are put back together
    monkeypatch.setattr(corpus_module, "READ_CHUNK", 3)
    data = "\ufeffé€x\r\nHarry Potter\n\n日本語\nend"
    path = write(tmp_path, data)
    assert all_lines(path) == [(1, "é€x"), (2, "Harry Potter"), (3, ""), (4, "日本語"),
                               (5, "end")]


def test_iter_line_batches_missing_file(tmp_path):
    with pytest.raises(BadInputError):
        all_lines(tmp_path / "nope.txt")


def all_sentences(path, **kwargs):
    return [s for batch in iter_conll_batches(path, **kwargs) for s in batch]


def test_iter_conll_batches(tmp_path):
    path = write(
        tmp_path,
        b"-DOCSTART- -X- O\r\n\r\n# id 1\tdomain=x\r\nHarry NNP\r\nPotter NNP\r\n\r\n"
        b"#\tO\r\n\tO\r\nbad\xff\r\n\r\n\r\nlast\tO",
    )
    sentences = all_sentences(path)
    assert [s.tokens for s in sentences] == [["Harry", "Potter"], ["#", "", "bad\udcff"],
                                             ["last"]]
    assert [s.line for s in sentences] == [4, 7, 12]
    assert sentences[0].lines == ["Harry NNP", "Potter NNP"]
    assert sentences[1].lines == ["#\tO", "\tO", "bad\udcff"]
    assert all(s.tags is None for s in sentences)


# ---------------------------------------------------------------------- real corpora

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

WIKIGOLD = {"LOC", "MISC", "ORG", "PER"}
BTC = {"LOC", "ORG", "PER"}
WNUT = {"corporation", "creative-work", "group", "location", "person", "product"}
GMB = {"art", "eve", "geo", "gpe", "nat", "org", "per", "tim"}
MULTICONER = {"CORP", "CW", "GRP", "LOC", "PER", "PROD"}

# (file, tokens as ../shared/data/README.md gives them, entity types the README lists)
CORPORA = [
    ("wikigold/train.txt", 31_251, WIKIGOLD),
    ("wikigold/dev.txt", 4_329, WIKIGOLD),
    ("wikigold/test.txt", 3_427, WIKIGOLD),
    ("btc/btc.train", 99_933, BTC),
    ("btc/btc.dev", 15_027, BTC),
    ("btc/btc.test", 35_428, BTC),
    ("sec_filings/train.txt", 41_010, WIKIGOLD),
    ("sec_filings/test.txt", 13_246, WIKIGOLD),
    ("wnut17/wnut17train.conll", 62_730, WNUT),
    ("wnut17/emerging.dev.conll", 15_733, WNUT),
    ("wnut17/emerging.test.annotated", 23_394, WNUT),
    ("gmb/train.conll", 839_214, GMB),
    ("gmb/dev.conll", 105_396, GMB),
    ("gmb/test.conll", 103_957, GMB),
    ("multiconer/en_train.conll", 253_539, MULTICONER),
    ("multiconer/en_dev.conll", 13_454, MULTICONER),
]
NAMES = [name for name, _, _ in CORPORA]

@functools.lru_cache(maxsize=None)
def load(name):
    return read_conll(DATA / name)


@pytest.fixture(scope="module", autouse=False)
def data_dir():
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is missing")
    return DATA


@pytest.mark.usefixtures("data_dir")
class TestRealCorpora:
    def test_every_readme_file_is_listed(self):
        readme = (DATA / "README.md").read_text(encoding="utf-8")
        for corpus in ("wikigold", "btc", "sec_filings", "wnut17", "gmb", "multiconer"):
            assert f"`{corpus}/" in readme
        for name in NAMES:
            assert (DATA / name).is_file(), name

    @pytest.mark.parametrize("name, tokens, types", CORPORA, ids=NAMES)
    def test_loads_with_readme_token_count(self, name, tokens, types):
        c = load(name)
        assert c.family == "bio"
        assert abs(c.n_tokens - tokens) <= 0.01 * tokens
        # sentences of a plausible length
        assert 5 <= c.n_tokens / len(c.sentences) <= 60
        assert all(s.tokens and len(s.tokens) == len(s.tags) for s in c.sentences)

    @pytest.mark.parametrize(
        "name, tokens",
        [(name, tokens) for name, tokens, _ in CORPORA],
        ids=NAMES,
    )
    def test_exact_token_count(self, name, tokens):
        assert load(name).n_tokens == tokens

    @pytest.mark.parametrize("name, tokens, types", CORPORA, ids=NAMES)
    def test_types(self, name, tokens, types):
        found = {t[2:] for s in load(name).sentences for t in s.tags if t != "O"}
        if name.startswith("sec_filings"):
            assert {"PER", "LOC", "ORG"} <= found <= types
        else:
            assert found == types

    @pytest.mark.parametrize("name", NAMES)
    def test_tags_are_valid_bio(self, name):
        for s in load(name).sentences:
            prev = "O"
            for tag in s.tags:
                assert tag == "O" or tag[:2] in ("B-", "I-"), (s.line, tag)
                if tag.startswith("I-"):
                    assert prev != "O" and prev[2:] == tag[2:], (s.line, s.tags)
                prev = tag

    def test_wikigold_iob1_normalised(self):
        # wikigold/train.txt opens "010 I-MISC": an IOB1 entity start
        first = load("wikigold/train.txt").sentences[0]
        assert first.tokens[0] == "010"
        assert first.tags[0] == "B-MISC"

    @pytest.mark.parametrize("name", ["btc/btc.dev", "btc/btc.test"])
    def test_btc_keeps_empty_tokens(self, name):
        blank = [t for s in load(name).sentences for t in s.tokens if not t.strip()]
        assert "" in blank

    def test_sec_filings_four_columns(self):
        c = load("sec_filings/train.txt")
        assert all(len(row.split()) == 4 for s in c.sentences for row in s.lines)

    def test_multiconer_comments_skipped(self):
        c = load("multiconer/en_dev.conll")
        assert not any(t.startswith("# id") or t == "domain=dev" for s in c.sentences
                       for t in s.tokens)
        assert len(c.sentences) == sum(
            line.startswith("# id ")
            for line in (DATA / "multiconer/en_dev.conll").read_text("utf-8").splitlines()
        )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["tok", "B-PER", "\t", " ", "\x0b", "\u00a0", "é",
                                          "\u2028", "#", "x y"]),
                         min_size=1, max_size=6).map("".join)
                .filter(lambda row: row.strip() != ""), min_size=1, max_size=8))
def test_first_columns_agree_with_first_column(rows):
    from nertag.conll import first_column
    from nertag.streams import _first_columns

    assert _first_columns(rows) == [first_column(row) for row in rows]


PLAIN_ROWS = st.lists(st.sampled_from(["tok", "Harry", "é", "#", "-DOCSTART", "1,000"]),
                      min_size=64, max_size=300)
ODD_ROWS = st.lists(st.tuples(st.integers(0, 299), st.sampled_from(
    ["x y", "\u00a0x", " q", "x\ty z", "  a\tb", "é\té", "5\u00a0storm", "\tO"])), max_size=6)


@settings(max_examples=200, deadline=None)
@given(PLAIN_ROWS, ODD_ROWS)
def test_first_columns_of_many_rows_with_a_few_odd_ones(rows, odd):
    """A token a line but for a few lines with spaces or tabs: those are found one by one (the
    many-rows path), and every line still gets its first column."""
    from nertag.conll import first_column
    from nertag.streams import _first_columns

    for at, row in odd:
        rows[at % len(rows)] = row
    assert _first_columns(rows) == [first_column(row) for row in rows]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["tok", "", " ", "\t", "\u3000", "\u2028", "-DOCSTART-",
                                 "-DOCSTART- O", "x -DOCSTART-", "#", "a\tb"]), max_size=40))
def test_sentence_ends_agree_with_their_definition(lines):
    """Blank, whitespace-only and -DOCSTART- lines end sentences, whichever way they are
    found (list.index when every blank line is empty, else a line at a time)."""
    from nertag.conll import DOCSTART, _sentence_ends, first_column

    assert _sentence_ends(lines) == [
        i for i, line in enumerate(lines)
        if not line or line.isspace() or (DOCSTART in line and first_column(line) == DOCSTART)]
