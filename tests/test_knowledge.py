"""nertag.knowledge (vectors, name lists) and tools/build_knowledge.py on a fake source tree."""

import hashlib
import importlib.util
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nertag import knowledge
from nertag.errors import BadInputError
from nertag.knowledge import (
    DATA_DIR,
    MANIFEST_PATH,
    NAMES_PATH,
    Gazetteer,
    Vectors,
    load_gazetteer,
    load_vectors,
    quantise,
    quantise4,
    read_vectors_npy,
    read_vectors_text,
    unpack4,
    write_npz,
)

from .conftest import ROOT


def _build_module():
    spec = importlib.util.spec_from_file_location("build_knowledge",
                                                  ROOT / "tools" / "build_knowledge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------- vectors

WORDS = ["the", ",", "london", "paris", "0", "00", "0,000", "obama", "new", "josé"]


def small_vectors(rng=None):
    rng = rng or np.random.default_rng(3)
    return Vectors.from_matrix(WORDS, rng.normal(size=(len(WORDS), 5)).astype(np.float32),
                               name="small")


def test_quantisation_error_bound():
    rng = np.random.default_rng(0)
    m = (rng.normal(size=(300, 50)) * rng.uniform(0.01, 5, size=(300, 1))).astype(np.float32)
    m[7] = 0
    q, scale = quantise(m)
    assert q.dtype == np.int8 and scale.dtype == np.float32
    err = np.abs(q.astype(np.float32) * scale[:, None] - m)
    assert (err <= scale[:, None] / 2 + 1e-6).all()
    assert not q[7].any()


def test_four_bit_quantisation_error_bound_and_packing():
    rng = np.random.default_rng(2)
    m = (rng.normal(size=(300, 50)) * rng.uniform(0.01, 5, size=(300, 1))).astype(np.float32)
    m[7] = 0
    packed, scale = quantise4(m)
    assert packed.dtype == np.uint8 and packed.shape == (300, 25) and scale.dtype == np.float32
    q = unpack4(packed)
    assert q.dtype == np.int8 and q.min() >= -7 and q.max() <= 7
    err = np.abs(q.astype(np.float32) * scale[:, None] - m)
    assert (err <= scale[:, None] / 2 + 1e-6).all()
    assert not q[7].any()
    # column 2j is the low nibble of byte j, column 2j + 1 the high one
    one = quantise4(np.array([[7.0, -7.0, 0.0, 1.0]]))[0]
    assert one.tolist() == [[15 | (1 << 4), 8 | (9 << 4)]]
    with pytest.raises(ValueError, match="even"):
        quantise4(np.ones((2, 3)))


def test_four_bit_table_loads_looks_up_and_is_carried(tmp_path):
    arrays = small_vectors().save_arrays()
    matrix = small_vectors().matrix()
    del arrays["vec_q"]
    with pytest.raises(ValueError, match="even"):  # small_vectors has 5 columns
        quantise4(matrix)
    padded = np.hstack([matrix, np.zeros((len(matrix), 1), np.float32)])
    arrays["vec_q4"], arrays["vec_scale"] = quantise4(padded)
    v = Vectors.from_arrays(arrays)
    assert v.dim == 6 and len(v) == len(WORDS) and v.words == WORDS
    # the rows asked for are unpacked alone, and agree with the whole table
    rows = v.lookup(WORDS[:3])
    whole = v.matrix()
    np.testing.assert_allclose(v.unit_rows(rows) * np.linalg.norm(whole[rows], axis=1)[:, None],
                               whole[rows], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole, padded, atol=np.abs(padded).max() / 14 + 1e-6)
    assert "vec_q4" in v.save_arrays() and "vec_q" not in v.save_arrays()
    v.save(tmp_path / "v4.npz")
    again = load_vectors(tmp_path / "v4.npz")
    np.testing.assert_array_equal(again.matrix(), whole)
    bad = dict(arrays, vec_q4=arrays["vec_q4"].astype(np.int8))
    with pytest.raises(BadInputError, match="wrong shape or type"):
        Vectors.from_arrays(bad)


def test_arrays_round_trip_and_save(tmp_path):
    v = small_vectors()
    arrays = v.save_arrays()
    assert {"vec_words", "vec_order", "vec_q", "vec_scale", "vec_name"} <= set(arrays)
    assert all(a.dtype != object for a in arrays.values())
    back = Vectors.from_arrays(arrays)
    assert back.words == WORDS and back.dim == 5 and len(back) == len(WORDS)
    np.testing.assert_allclose(back.matrix(), v.matrix(), atol=np.abs(v.matrix()).max() / 254)
    sha = v.save(tmp_path / "v.npz")
    again = load_vectors(tmp_path / "v.npz")
    assert again.sha256 == sha == back.sha256 == hashlib.sha256(
        (tmp_path / "v.npz").read_bytes()).hexdigest()
    assert again.name == "small" and again.words == WORDS
    np.testing.assert_array_equal(again.matrix(), back.matrix())
    # deterministic bytes
    v.save(tmp_path / "w.npz")
    assert (tmp_path / "w.npz").read_bytes() == (tmp_path / "v.npz").read_bytes()
    with pytest.raises(BadInputError):
        Vectors.from_arrays({"vec_words": arrays["vec_words"]})


def test_lookup_hits_misses_case_and_normalisation():
    v = small_vectors()
    got = v.lookup(["The", "LONDON", '"Paris"', "(obama).", "7", "42", "3,512", "josé", "JOSÉ",
                    "zzz", "", "...", "londonx", "a" * 100, "new\0"])
    want = [0, 2, 3, 7, 4, 5, 6, 9, 9, -1, -1, -1, -1, -1, -1]
    assert got.dtype == np.int64 and got.tolist() == want
    assert v.lookup([]).shape == (0,)
    assert v.lookup([","]).tolist() == [1]  # a word of punctuation is found as itself


def test_lookup_many_strings_is_vectorised():
    v = small_vectors()
    strings = WORDS * 1000 + ["nope"] * 1000
    rows = v.lookup(strings)
    assert len(rows) == 11000 and (rows[:10000] >= 0).all() and (rows[10000:] == -1).all()


def test_repeated_word_keeps_first_row():
    v = Vectors.from_matrix(["a", "b", "a"], np.eye(3, dtype=np.float32))
    assert v.lookup(["a", "b"]).tolist() == [0, 1]


def write_text_vectors(path, rows, header=True):
    lines = [f"{len(rows)} {len(rows[0][1])}"] if header else []
    lines += [w + " " + " ".join(str(x) for x in vec) for w, vec in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_read_vectors_text(tmp_path):
    for header in (True, False):
        path = tmp_path / f"v{header}.txt"
        write_text_vectors(path, [("Harry", [1.0, 0.0, 2.0]), ("zzz", [0.5, 0.5, 0.5])], header)
        v = read_vectors_text(str(path))
        assert v.words == ["Harry", "zzz"] and v.dim == 3
        np.testing.assert_array_equal(v.matrix()[0], [1, 0, 2])
        assert v.lookup(["harry", "zzz"]).tolist() == [-1, 1]  # lookup lower-cases queries
    assert read_vectors_text(str(path), limit=1).words == ["Harry"]


@pytest.mark.parametrize("text, fragment, line", [
    ("2 3\nharry 1 2 3\npotter 1 2\n", "expected a word and 3 numbers", 3),
    ("harry 1 2 x\n", "not a number", 1),
    ("harry 1 nan\n", "NaN", 1),
    ("", "no word vectors", None),
])
def test_read_vectors_text_errors_name_file_and_line(tmp_path, text, fragment, line):
    path = tmp_path / "v.txt"
    path.write_text(text)
    with pytest.raises(BadInputError) as err:
        read_vectors_text(str(path))
    assert fragment in str(err.value)
    assert (f"{path}:{line}" if line else str(path)) in str(err.value)


def test_read_vectors_npy(tmp_path):
    np.save(tmp_path / "m.npy", np.arange(6, dtype=np.float64).reshape(3, 2))
    (tmp_path / "w.txt").write_text("a\nb\nc\n", encoding="utf-8")
    v = read_vectors_npy(tmp_path / "m.npy", tmp_path / "w.txt")
    assert v.words == ["a", "b", "c"] and v.matrix().dtype == np.float32
    assert v.lookup(["C"]).tolist() == [2]
    (tmp_path / "w2.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="2 words for 3"):
        read_vectors_npy(tmp_path / "m.npy", tmp_path / "w2.txt")
    (tmp_path / "w3.txt").write_text("a\n\nc\n", encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        read_vectors_npy(tmp_path / "m.npy", tmp_path / "w3.txt")
    assert f"{tmp_path / 'w3.txt'}:2" in str(err.value)
    np.save(tmp_path / "bad.npy", np.zeros(3))
    with pytest.raises(BadInputError, match="matrix"):
        read_vectors_npy(tmp_path / "bad.npy", tmp_path / "w.txt")


def test_load_vectors_rejects_other_files(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(BadInputError):
        load_vectors(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", a=np.zeros(2))
    with pytest.raises(BadInputError, match="not a word-vector table"):
        load_vectors(tmp_path / "y.npz")


def _four_bit_arrays():
    arrays = {k[len("vec_"):]: v for k, v in small_vectors().save_arrays().items()}
    del arrays["q"]
    arrays["q4"], arrays["scale"] = quantise4(np.ones((len(WORDS), 6), np.float32))
    return arrays


@pytest.mark.parametrize("change", [
    lambda a: a.update(q4=a["q4"].astype(np.float32)),  # rows of another type
    lambda a: a.update(q4=a["q4"].reshape(-1)),  # 1-D rows
    lambda a: a.update(scale=a["scale"][:-1]),  # fewer scales than rows
    lambda a: a.update(q4=a["q4"][:-1], scale=a["scale"][:-1]),  # a word past the last row
    lambda a: a.update(q=np.zeros((len(WORDS), 6), np.int8)),  # both kinds of rows
])
def test_load_vectors_checks_the_arrays_like_a_model_file(tmp_path, change):
    arrays = _four_bit_arrays()
    assert len(load_vectors_from(tmp_path, arrays)) == len(WORDS)  # sound before the change
    change(arrays)
    with pytest.raises(BadInputError, match="word-vector arrays") as err:
        load_vectors_from(tmp_path, arrays)
    assert str(tmp_path / "v.npz") in str(err.value)


def load_vectors_from(tmp_path, arrays):
    write_npz(tmp_path / "v.npz", arrays)
    return load_vectors(tmp_path / "v.npz")


def test_a_four_bit_lookup_unpacks_only_the_rows_asked_for(tmp_path, monkeypatch):
    load_vectors_from(tmp_path, _four_bit_arrays())
    v = load_vectors(tmp_path / "v.npz")
    unpacked = []
    real = knowledge.unpack4
    monkeypatch.setattr(knowledge, "unpack4", lambda p: unpacked.append(len(p)) or real(p))
    v.unit_rows(v.lookup(["paris", "nowhere", "london"]))
    assert unpacked == [2]
    v.save_arrays()  # carried as they are: nothing unpacked either
    assert unpacked == [2]


# ---------------------------------------------------------------------------- gazetteer

GAZ = Gazetteer({
    "new york": ("LOC",), "new york city": ("LOC",), "york": ("LOC", "PER_LAST"),
    "john": ("PER_FIRST",), "city hall": ("ORG",), "york city hall": ("ORG",),
    "bank of america": ("ORG",), "america": ("LOC",), "a b c d e f": ("LOC",),
})


def test_match_longest_wins_and_positions():
    toks = "I love New York City Hall and John".split()
    got = GAZ.match(toks)
    # "new york city" (LOC) and "york city hall" (ORG) are both 3 long: York and City get both
    assert got == [[], [], ["LOC-B"], ["LOC-I", "ORG-B"], ["LOC-E", "ORG-I"], ["ORG-E"], [],
                   ["PER_FIRST-S"]]
    assert GAZ.match(["York"]) == [["LOC-S", "PER_LAST-S"]]
    assert GAZ.match("BANK of AMERICA".split()) == [["ORG-B"], ["ORG-I"], ["ORG-E"]]
    assert GAZ.match(["america"]) == [["LOC-S"]]
    assert GAZ.match("a b c d e f".split()) == [["LOC-B"]] + [["LOC-I"]] * 4 + [["LOC-E"]]
    assert GAZ.match("a b c d e".split()) == [[]] * 5
    assert GAZ.match([]) == []
    assert GAZ.match(["new york", "city"]) == [[], []]  # a token holding a space never matches
    assert GAZ.token_types(["YORK", "new york", "zz"]) == [("LOC", "PER_LAST"), ("LOC",), ()]


def naive_match(gaz, tokens):
    """Brute force: every span of 1..6 tokens, the longest covering each token."""
    low = [t.lower() for t in tokens]
    best = [0] * len(tokens)
    feats = [set() for _ in tokens]
    for i in range(len(tokens)):
        for n in range(1, 7):
            span = low[i:i + n]
            if len(span) < n or not all(w.split() == [w] for w in span):
                continue
            types = gaz.entries.get(" ".join(span))
            if not types:
                continue
            for p in range(i, i + n):
                pos = "S" if n == 1 else "B" if p == i else "E" if p == i + n - 1 else "I"
                new = {f"{t}-{pos}" for t in types}
                if n > best[p]:
                    best[p], feats[p] = n, new
                elif n == best[p]:
                    feats[p] |= new
    return [sorted(f) for f in feats]


ODD = st.sampled_from(["new", "York", "CITY", "hall", "john", "é", "e\u0301",
                       "\u05e9\u05dc\u05d5\u05dd",
                       "\U0001F600", "", " ", "\u00a0", "\t", "İ", "ß", "a", "b", "c", "d", "e",
                       "f", "bank", "of", "America", "new york", "\u200f", "\u0301"])
ODD_GAZ = Gazetteer({
    **GAZ.entries, "é": ("LOC",), "\u05e9\u05dc\u05d5\u05dd": ("PER_LAST",),
    "\U0001F600 john": ("ORG",), "i̇": ("PER_FIRST",), "ß": ("LOC",), "e\u0301": ("ORG",),
})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ODD, st.text(max_size=4)), max_size=30))
def test_match_equals_brute_force_on_odd_unicode(tokens):
    for gaz in (GAZ, ODD_GAZ):
        got = gaz.match(tokens)
        assert len(got) == len(tokens)
        assert got == naive_match(gaz, tokens)
        assert len(gaz.token_types(tokens)) == len(tokens)


def test_gazetteer_arrays_and_text_round_trip(tmp_path):
    arrays = ODD_GAZ.to_arrays()
    assert all(a.dtype.kind == "S" for a in arrays.values())
    back = Gazetteer.from_arrays(arrays)
    assert back.entries == ODD_GAZ.entries and back.sha256 == ODD_GAZ.sha256
    path = tmp_path / "names.tsv"
    path.write_text(ODD_GAZ.to_text(), encoding="utf-8")
    loaded = load_gazetteer(path)
    assert loaded.entries == ODD_GAZ.entries and loaded.sha256 == ODD_GAZ.sha256


@pytest.mark.parametrize("line", ["London\tLOC", "london", "a  b\tLOC", "a\u00a0b\tLOC",
                                  "1 2 3 4 5 6 7\tLOC"])
def test_bad_name_lines_name_file_and_line(tmp_path, line):
    path = tmp_path / "names.tsv"
    path.write_text(f"paris\tLOC\n{line}\n", encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        load_gazetteer(path)
    assert f"{path}:2" in str(err.value)


# ---------------------------------------------------------------------------- shipped tables

def test_shipped_tables_match_manifest():
    with open(MANIFEST_PATH, encoding="utf-8") as f:
        manifest = json.load(f)
    tables = manifest["tables"]
    vectors, gaz = load_vectors(), load_gazetteer()
    assert vectors.sha256 == tables["vectors.npz"]["sha256"]
    assert gaz.sha256 == tables["names.tsv"]["sha256"]
    assert len(vectors) == tables["vectors.npz"]["rows"] and vectors.dim == 50
    import os

    from nertag.modelfile import default_model_path

    # what installs: the tables and the default model stay within 40 MB together
    shipped = [os.path.join(DATA_DIR, f) for f in os.listdir(DATA_DIR)] + [default_model_path()]
    assert sum(map(os.path.getsize, shipped)) <= 40_000_000
    assert os.path.getsize(NAMES_PATH) <= 3_000_000
    for source in manifest["sources"].values():
        assert source["licence"] and source["credit"] and source["files"]
    assert "GeoNames" in manifest["sources"]["geonames"]["credit"]
    rows = vectors.lookup(["the", "London", "qqqqzzzzxxxx"])
    assert rows[0] == 0 and rows[1] > 0 and rows[2] == -1
    assert vectors.words[0] == "the"
    types = gaz.token_types(["london", "john", "the", "may", "new", "Paris"])
    assert "LOC" in types[0] and "PER_FIRST" in types[1] and types[2] == () == types[3]
    assert types[4] == () and "LOC" in types[5]
    assert gaz.match("He flew to New York".split())[3:] == [["LOC-B"], ["LOC-E"]]


# ---------------------------------------------------------------------------- the build

def fake_sources(tmp_path, rng):
    glove_words = ["the", ",", "new", "may", "london", "york", "john", "paris", "bill", "china",
                   "http://www.example.com/a/long/url", "mark", "apple", "smith"]
    npy = tmp_path / "glove.npy"
    np.save(npy, rng.normal(size=(len(glove_words), 4)).astype(np.float32))
    words = tmp_path / "glove_words.txt"
    words.write_text("\n".join(glove_words) + "\n", encoding="utf-8")
    census = []
    for name, rows in (("dist.female.first", ["MAY 0.029 1 1", "MARY 2.6 2 2"]),
                       ("dist.male.first", ["JOHN 3.271 1 1", "BILL 0.02 2 2", "MARK 0.9 3 3"]),
                       ("dist.all.last", ["SMITH 1.006 1 1", "NEW 0.004 2 2", "LONDON 0.007 3 3",
                                          "THE 0.001 4 4"])):
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n")
        census.append(str(path))
    geo = tmp_path / "geo"
    geo.mkdir()
    (geo / "cities15000.json").write_text(json.dumps({
        "1": {"name": "London", "population": 8_000_000, "alternatenames": ["Londres", "lndn"]},
        "2": {"name": "New York City", "population": 8_000_000, "alternatenames": []},
        "3": {"name": "São Paulo", "population": 12_000_000, "alternatenames": []},
        "4": {"name": "Bill", "population": 20_000, "alternatenames": []}}))
    (geo / "countries.json").write_text(json.dumps({"CN": {"name": "China"}}))
    (geo / "us_states.json").write_text(json.dumps({"NY": {"name": "New York"}}))
    (geo / "us_counties.json").write_text(json.dumps([{"name": "Kings County"}]))
    indices = tmp_path / "indices_data.py"
    indices.write_text('"""fake"""\nINDICES = {"X": {"name": "X", "companies": '
                       '[{"name": "Apple Inc."}, {"name": "The Acme Holdings plc"}]}}\n')
    wordnet = tmp_path / "wordnet"
    wordnet.mkdir()
    data = {"noun": ["00000001 05 n 02 bill 0 mark 0 000 | x", "00000002 05 n 01 China 0 000 | x",
                     "00000003 05 n 02 china 0 apple 0 000 | x",
                     "00000004 05 n 01 London 0 000 | x", "00000005 05 n 01 john 0 000 | x"],
            "verb": ["00000001 05 v 01 may 0 000 | x"], "adj": ["00000001 05 a 01 new(a) 0 | x"],
            "adv": []}
    for pos, lines in data.items():
        (wordnet / f"data.{pos}").write_text("  licence header\n" + "\n".join(lines) + "\n")
        lemmas = sorted({ln.split()[4].split("(")[0].lower() for ln in lines})
        (wordnet / f"index.{pos}").write_text("  licence header\n"
                                              + "".join(f"{w} n 1 0 1 0 0\n" for w in lemmas))
    return (str(npy), str(words)), census, str(geo), str(indices), str(wordnet)


def test_build_keeps_words_of_at_most_16_bytes_in_four_bits():
    build = _build_module()
    words = ["a", "x" * 16, "y" * 17, "\u00e9" * 8, "\u00e9" * 9, "b"]  # é is 2 UTF-8 bytes
    matrix = np.random.default_rng(4).normal(size=(len(words), 4)).astype(np.float32)
    vectors = build.slice_vectors(words, matrix, 5, "fake")
    assert vectors.words == ["a", "x" * 16, "\u00e9" * 8]  # the first 5, less the long ones
    arrays = vectors.save_arrays()
    assert arrays["vec_q4"].dtype == np.uint8 and arrays["vec_q4"].shape == (3, 2)
    assert "vec_q" not in arrays
    np.testing.assert_allclose(vectors.matrix(), matrix[[0, 1, 3]],
                               atol=np.abs(matrix).max() / 14 + 1e-6)


def test_build_on_fake_sources(tmp_path):
    build = _build_module()
    glove, census, geo, indices, wordnet = fake_sources(tmp_path, np.random.default_rng(1))
    out = tmp_path / "out"
    manifest = build.build(str(out), glove, census, geo, indices, wordnet, n_words=12,
                           versions={"names": "0.3.0"})
    vectors = load_vectors(out / "vectors.npz")
    assert manifest["tables"]["vectors.npz"]["sha256"] == vectors.sha256
    # the first 12 words less the over-long URL
    assert len(vectors) == 11 and "http://www.example.com/a/long/url" not in vectors.words
    assert vectors.lookup(["London", "smith"]).tolist() == [4, -1]
    source = np.load(glove[0])
    err = np.abs(vectors.matrix()[4] - source[4]).max()
    assert err <= np.abs(source[4]).max() / 14 + 1e-6  # 4-bit rows
    gaz = load_gazetteer(out / "names.tsv")
    assert gaz.sha256 == manifest["tables"]["names.tsv"]["sha256"]
    t = dict(zip(["london", "john", "the", "may", "new", "bill", "mark", "china", "smith",
                  "mary", "apple"],
                 gaz.token_types(["london", "john", "the", "may", "new", "bill", "mark", "china",
                                  "smith", "mary", "apple"])))
    assert t["london"] == ("LOC", "PER_LAST")  # not common (WordNet writes it capitalised)
    assert t["john"] == ("COMMON", "PER_FIRST")  # common (lower-case lemma) but strong
    assert t["mark"] == ("COMMON", "PER_FIRST") and t["china"] == ("COMMON", "LOC")
    assert t["the"] == t["may"] == t["new"] == t["bill"] == t["apple"] == ()
    # a frequent word that WordNet does not know is common too; a strong surname keeps it
    assert t["smith"] == ("COMMON", "PER_LAST") and t["mary"] == ("PER_FIRST",)
    assert gaz.match("in new york city".split()) == [[], ["LOC-B"], ["LOC-I"], ["LOC-E"]]
    assert gaz.token_types(["londres", "lndn"]) == [("LOC",), ()]
    assert gaz.match("sao paulo".split()) == [["LOC-B"], ["LOC-E"]]
    assert gaz.match("são paulo".split()) == [["LOC-B"], ["LOC-E"]]
    assert gaz.match(["acme"]) == [["ORG-S"]] and gaz.match("apple inc .".split())[0] == ["ORG-B"]
    assert gaz.match("acme holdings".split()) == [["ORG-B"], ["ORG-E"]]
    assert gaz.match("kings county".split()) == [["LOC-B"], ["LOC-E"]]
    src = manifest["sources"]
    assert src["names"]["version"] == "0.3.0" and len(src["names"]["files"]) == 3
    assert src["geonames"]["licence"].startswith("CC-BY-4.0") and "wordnet" in src
    # same input, same bytes
    again = build.build(str(tmp_path / "again"), glove, census, geo, indices, wordnet, n_words=12)
    for name in ("vectors.npz", "names.tsv"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes()
    assert again["tables"] == manifest["tables"]
