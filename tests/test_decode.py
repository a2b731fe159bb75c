"""Decoding: constrained Viterbi, its shortcut, spans of valid BIO, and the tagging caches."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nertag.decode import allowed_transitions, decode, viterbi
from nertag.features import unknown_features
from nertag.model import Model
from nertag.nn import forward_probs_numpy, input_sums
from nertag.tags import bio_spans, bio_tagset, spans

TAGSET = bio_tagset(["LOC", "PER"])  # O B-LOC I-LOC B-PER I-PER
ALLOWED = allowed_transitions(TAGSET)


def brute_force(logP, allowed):
    """Best valid path by enumeration (tiny cases only)."""
    T, K = logP.shape
    best, best_path = -np.inf, None
    for code in range(K ** T):
        path = [(code // K ** t) % K for t in range(T)]
        ok = allowed[K, path[0]] and all(allowed[a, b] for a, b in zip(path, path[1:]))
        score = sum(logP[t, k] for t, k in enumerate(path))
        if ok and score > best:
            best, best_path = score, path
    return best_path


def test_allowed_transitions():
    K = len(TAGSET)
    i_per = TAGSET.index("I-PER")
    assert not ALLOWED[K, i_per]  # no I- at the start
    assert not ALLOWED[TAGSET.index("O"), i_per]
    assert not ALLOWED[TAGSET.index("B-LOC"), i_per]
    assert ALLOWED[TAGSET.index("B-PER"), i_per] and ALLOWED[i_per, i_per]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(0, 10_000))
def test_viterbi_matches_brute_force(lengths, seed):
    rng = np.random.default_rng(seed)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    logP = np.log(rng.dirichlet(np.ones(5) * 0.3, size=starts[-1]) + 1e-12)
    ids = viterbi(logP, starts, ALLOWED)
    for s, e in zip(starts[:-1], starts[1:]):
        expect = brute_force(logP[s:e], ALLOWED)
        got = list(ids[s:e])
        assert sum(logP[s + t, k] for t, k in enumerate(got)) == \
            sum(logP[s + t, k] for t, k in enumerate(expect))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), st.integers(0, 10_000))
def test_decode_shortcut_equals_full_viterbi(lengths, seed):
    rng = np.random.default_rng(seed)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    P = rng.dirichlet(np.ones(5) * 0.5, size=starts[-1]).astype(np.float32)
    ids, scores = decode(P, starts, ALLOWED)
    full = viterbi(np.log(np.maximum(P, 1e-30)), starts, ALLOWED)
    assert np.array_equal(ids, full)
    np.testing.assert_allclose(scores, P[np.arange(len(ids)), ids])


@given(st.lists(st.sampled_from(TAGSET), max_size=12))
def test_bio_spans_equals_conlleval_spans_on_valid_bio(tags):
    from nertag.tags import to_bio

    valid = to_bio(tags)
    assert bio_spans(valid) == spans(valid)


def test_tag_caches_agree_with_direct_forward():
    features = unknown_features() + ["w:Harry", "l:harry", "w:Potter", "s:Xx"]
    model = Model.new(features, TAGSET, hidden=5, seed=2)
    sentences = [["Harry", "Potter", "met", "Harry"], ["unknown", "words", "here"], ["Potter"]]
    first = model.tag(sentences)
    second = model.tag(list(reversed(sentences)))
    assert [t for t, _ in first] == [t for t, _ in reversed(second)]
    small = Model(model.features, model.tagset, model.weights, model.config)
    small.featurizer.CACHE_LIMIT = 3  # forces the per-type caches to be dropped and rebuilt
    piecewise = [small.tag([s])[0] for s in sentences]
    assert small.featurizer.generation == 2  # dropped before the 2nd and the 3rd sentence
    assert len(small.featurizer.string_features()) == 1
    assert [t for t, _ in piecewise] == [t for t, _ in first]
    np.testing.assert_allclose(np.concatenate([s for _, s in piecewise]),
                               np.concatenate([s for _, s in first]), rtol=1e-6)
    X = model.featurizer.encode([t for s in sentences for t in s])
    starts = np.concatenate([[0], np.cumsum([len(s) for s in sentences])])
    P = forward_probs_numpy(model.weights, starts, input_sums(model.weights["Wax"], X))
    flat_scores = np.concatenate([np.asarray(s) for _, s in first])
    ids, scores = decode(P, starts, model._allowed)
    np.testing.assert_allclose(flat_scores, scores, rtol=1e-6)


@pytest.mark.parametrize("token, shape", [
    ("Harry", "Xx"), ("U.S.", "X.X."), ("1,000", "d,d"), ("McDonald", "XxXx"),
    ("iPhone", "xXx"), ("e-mail", "x-x"), ("2024-01-02", "d-d-d"), ("$5", "$d"),
    ("Zoë", "Xx"), ("ÉCOLE", "X"), ("Straße", "Xx"), ("a b", "x_x"), ("", ""),
    ("a" * 40, "x"), ("A" * 31 + "bc", "Xx"), ("A" * 32 + "bc", "X"),  # the first 32 only
])
def test_word_shape_of_hand_worked_tokens(token, shape):
    from nertag.features import word_shape

    assert word_shape(token) == shape


def test_features_of_a_hand_worked_token():
    from nertag.features import template_columns, token_features

    assert token_features("Harry") == ("w:Harry", "l:harry", "s:Xx", "c:title", "p2:ha",
                                       "p3:har", "x1:y", "x2:ry", "x3:rry", "x4:arry")
    assert token_features("é") == ("w:é", "l:é", "s:x", "c:lower", "p2:é", "p3:é", "x1:é",
                                   "x2:é", "x3:é", "x4:é")
    # a column a template, a row a token: the same features as one token at a time
    tokens = ["Harry", "U.S.", "", "1,000", "O'Brien"]
    assert list(zip(*template_columns(tokens))) == [token_features(t) for t in tokens]


def test_featurizer_grows_past_its_first_table():
    from nertag.features import Featurizer, token_features

    features = unknown_features() + ["w:17", "l:2999", "x1:7"]
    featurizer = Featurizer(features)
    tokens = [str(i) for i in range(3000)] * 2
    X = featurizer.encode(tokens)
    assert X.shape == (6000, len(token_features("x")))
    assert X[17, 0] == features.index("w:17") and X[2999, 1] == features.index("l:2999")
    assert X[3017].tolist() == X[17].tolist()
    assert X[5, 0] == 0  # w:5 unknown -> the w template's unknown row


def brute_force_crf(E, transitions):
    """Best path and marginals of a CRF by enumerating every path (tiny cases)."""
    import itertools

    T, K = E.shape
    paths, scores = [], []
    for path in itertools.product(range(K), repeat=T):
        score = transitions[K, path[0]] + sum(E[t, k] for t, k in enumerate(path)) + sum(
            transitions[a, b] for a, b in zip(path, path[1:]))
        paths.append(path)
        scores.append(score)
    scores = np.array(scores)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    marginals = np.zeros((T, K))
    for path, p in zip(paths, probs):
        for t, k in enumerate(path):
            marginals[t, k] += p
    return list(paths[int(np.argmax(scores))]), marginals


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(0, 10_000))
def test_crf_decoding_and_marginals_match_brute_force(lengths, seed):
    from nertag.decode import crf_marginals, decode_crf

    rng = np.random.default_rng(seed)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    E = rng.normal(0, 2, size=(starts[-1], 5)).astype(np.float32)
    Wyy = rng.normal(0, 1, size=(6, 5))
    transitions = np.where(ALLOWED, Wyy, -np.inf)
    ids, scores = decode_crf(E, starts, ALLOWED, Wyy)
    marginals = crf_marginals(E, starts, transitions)
    for s, e in zip(starts[:-1], starts[1:]):
        best, expect = brute_force_crf(E[s:e].astype(np.float64), transitions)
        assert list(ids[s:e]) == best
        np.testing.assert_allclose(marginals[s:e], expect, atol=1e-9)
    np.testing.assert_allclose(scores, marginals[np.arange(len(ids)), ids])


@pytest.mark.parametrize("token, expected", [
    ("Harry", "title"), ("harry", "lower"), ("HARRY", "upper"), ("H", "title"),
    ("A.", "title"), ("iPhone", "mixed"), ("McDonald", "mixed"), ("1,000", "none"),
    ("U.S.", "upper"), ("Zoë", "title"), ("ÉCOLE", "upper"), ("e-Mail", "mixed"),
    ("", "none"), ("O'Brien", "mixed"), ("naïve", "lower"),
])
def test_case_class_of_hand_worked_tokens(token, expected):
    from nertag.features import case_class

    assert case_class(token) == expected


def test_feature_vocabulary_min_count_cap_and_order():
    from nertag.features import build_features

    corpus = [["a", "a", "b"]]
    # "a" twice gives its 10 features a count of 2; "b" once gives 1, but shares the shape x and
    # the class lower with "a" (3 each). Most frequent first, ties in string order.
    kept = ["c:lower", "s:x", "l:a", "p2:a", "p3:a", "w:a", "x1:a", "x2:a", "x3:a", "x4:a"]
    assert build_features(corpus, min_count=2) == unknown_features() + kept
    assert build_features(corpus, min_count=3) == unknown_features() + kept[:2]
    assert build_features(corpus, min_count=2, max_features=12) == unknown_features() + kept[:2]
    assert build_features(corpus, min_count=1)[-1] == "x4:b"  # all of b's features, count 1
    assert len(build_features(corpus, min_count=1)) == 10 + 2 + 8 + 8


def test_input_sum_cache_grows_across_many_batches():
    features = unknown_features() + ["w:Harry", "l:harry", "x1:7"]
    model = Model.new(features, TAGSET, hidden=3, seed=4)
    sentences = [[f"tok{i}", "Harry", f"w{i}7"] for i in range(1500)]
    piecewise = [r for i in range(0, 1500, 7) for r in model.tag(sentences[i:i + 7])]
    fresh = Model(model.features, model.tagset, model.weights, model.config)
    whole = fresh.tag(sentences)
    assert [t for t, _ in piecewise] == [t for t, _ in whole]
    np.testing.assert_allclose([s for _, sc in piecewise for s in sc],
                               [s for _, sc in whole for s in sc], rtol=1e-5)


def test_viterbi_adds_float32_log_probabilities_in_float64():
    """Without transition scores, a float32 total over a long sentence would break near-ties
    by rounding: the path must be the one float64 arithmetic finds."""
    rng = np.random.default_rng(5)
    tagset = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed = allowed_transitions(tagset)
    for _ in range(10):
        P = (0.2 + rng.normal(0, 1e-3, size=(1000, 5))).astype(np.float32)
        logP = np.log(P / P.sum(axis=1, keepdims=True))
        starts = np.array([0, 1000])
        assert (viterbi(logP, starts, allowed)
                == viterbi(logP.astype(np.float64), starts, allowed)).all()
