"""metrics.py: entity-level P/R/F1 by conlleval's rules, the untyped span score and token
accuracy, checked against counts worked out by hand."""

import pytest

from nertag.metrics import PRF, Scorer, score


def T(s):
    return s.split()


# Three sentences, worked by hand:
#   s1 gold  B-PER I-PER O B-LOC O   -> PER(0,2) LOC(3,4)
#      pred  B-PER I-PER O B-ORG O   -> PER(0,2) ORG(3,4)     typed TP: PER(0,2)
#   s2 gold  B-ORG O B-PER           -> ORG(0,1) PER(2,3)
#      pred  B-ORG O O               -> ORG(0,1)              typed TP: ORG(0,1)
#   s3 gold  O O                     -> -
#      pred  B-LOC O                 -> LOC(0,1)              (a false positive)
# typed: gold 4, predicted 4, TP 2.  untyped: TP 3 (s1's (3,4) has the right span, wrong type).
# per type: PER gold 2 pred 1 tp 1; LOC gold 1 pred 1 tp 0; ORG gold 1 pred 2 tp 1.
# tokens: 10, correct 4 + 2 + 1 = 7.
EXAMPLE = [
    (T("B-PER I-PER O B-LOC O"), T("B-PER I-PER O B-ORG O")),
    (T("B-ORG O B-PER"), T("B-ORG O O")),
    (T("O O"), T("B-LOC O")),
]


@pytest.fixture
def example():
    return score(EXAMPLE)


def test_overall_counts_and_prf(example):
    o = example.overall
    assert (o.tp, o.predicted, o.gold) == (2, 4, 4)
    assert o.precision == pytest.approx(0.5)
    assert o.recall == pytest.approx(0.5)
    assert o.f1 == pytest.approx(0.5)


def test_per_type(example):
    pt = example.per_type
    assert sorted(pt) == ["LOC", "ORG", "PER"]
    assert (pt["PER"].tp, pt["PER"].predicted, pt["PER"].gold) == (1, 1, 2)
    assert (pt["LOC"].tp, pt["LOC"].predicted, pt["LOC"].gold) == (0, 1, 1)
    assert (pt["ORG"].tp, pt["ORG"].predicted, pt["ORG"].gold) == (1, 2, 1)
    assert pt["PER"].precision == pytest.approx(1.0)
    assert pt["PER"].recall == pytest.approx(0.5)
    assert pt["PER"].f1 == pytest.approx(2 / 3)
    assert pt["ORG"].precision == pytest.approx(0.5)
    assert pt["ORG"].recall == pytest.approx(1.0)
    assert pt["ORG"].f1 == pytest.approx(2 / 3)
    assert pt["LOC"].f1 == 0.0


def test_untyped(example):
    u = example.untyped
    assert (u.tp, u.predicted, u.gold) == (3, 4, 4)
    assert u.precision == pytest.approx(0.75)
    assert u.recall == pytest.approx(0.75)
    assert u.f1 == pytest.approx(0.75)


def test_token_accuracy_and_counts(example):
    assert example.tokens == 10
    assert example.tokens_correct == 7
    assert example.token_accuracy == pytest.approx(0.7)
    assert example.sentences == 3


def test_as_dict(example):
    d = example.as_dict()
    assert d["precision"] == pytest.approx(0.5)
    assert d["recall"] == pytest.approx(0.5)
    assert d["f1"] == pytest.approx(0.5)
    assert (d["tp"], d["predicted"], d["gold"]) == (2, 4, 4)
    assert list(d["per_type"]) == ["LOC", "ORG", "PER"]
    assert d["per_type"]["ORG"]["predicted"] == 2
    assert d["untyped"]["tp"] == 3
    assert d["token_accuracy"] == pytest.approx(0.7)
    assert (d["tokens"], d["sentences"]) == (10, 3)


def test_wrong_type_is_untyped_tp_but_typed_fp_and_fn():
    s = score([(T("B-PER I-PER"), T("B-ORG I-ORG"))])
    assert (s.overall.tp, s.overall.predicted, s.overall.gold) == (0, 1, 1)
    assert (s.untyped.tp, s.untyped.predicted, s.untyped.gold) == (1, 1, 1)
    assert s.per_type["PER"].gold == 1 and s.per_type["PER"].predicted == 0
    assert s.per_type["ORG"].gold == 0 and s.per_type["ORG"].predicted == 1
    assert s.overall.f1 == 0.0
    assert s.untyped.f1 == 1.0


def test_wrong_boundary_is_no_match_at_all():
    # a partial overlap is neither a typed nor an untyped hit
    s = score([(T("B-PER I-PER O"), T("B-PER O O"))])
    assert s.overall.tp == 0 and s.untyped.tp == 0
    assert s.overall.precision == 0.0 and s.overall.recall == 0.0


def test_empty_predictions():
    s = score([(T("B-PER I-PER O B-LOC"), T("O O O O"))])
    assert s.overall.predicted == 0
    assert s.overall.gold == 2
    assert s.overall.precision == 0.0
    assert s.overall.recall == 0.0
    assert s.overall.f1 == 0.0
    assert s.token_accuracy == pytest.approx(0.25)


def test_nothing_at_all():
    s = score([(T("O O"), T("O O"))])
    assert (s.overall.precision, s.overall.recall, s.overall.f1) == (0.0, 0.0, 0.0)
    assert s.per_type == {}
    assert s.token_accuracy == 1.0
    assert Scorer().token_accuracy == 0.0


def test_perfect():
    s = score([(T("B-PER I-PER O B-LOC"), T("B-PER I-PER O B-LOC"))])
    assert s.overall.f1 == 1.0 and s.untyped.f1 == 1.0 and s.token_accuracy == 1.0


def test_iob1_gold_vs_iob2_predictions_of_the_same_entities():
    # conlleval scores entities: the same entities in two schemes are a perfect match
    gold = T("I-PER I-PER B-PER O I-LOC I-ORG")
    pred = T("B-PER I-PER B-PER O B-LOC B-ORG")
    s = score([(gold, pred)])
    assert (s.overall.tp, s.overall.predicted, s.overall.gold) == (4, 4, 4)
    assert s.overall.f1 == 1.0
    assert s.untyped.f1 == 1.0


def test_bioes_predictions_vs_iob2_gold():
    s = score([(T("B-LOC I-LOC O B-PER"), T("B-LOC E-LOC O S-PER"))])
    assert s.overall.f1 == 1.0


def test_two_adjacent_entities_vs_one_merged():
    # gold: two PER entities side by side; predicted: one PER over both
    s = score([(T("B-PER B-PER"), T("B-PER I-PER"))])
    assert (s.overall.tp, s.overall.predicted, s.overall.gold) == (0, 1, 2)
    assert s.overall.precision == 0.0


def test_accumulates_over_sentences():
    # entities at the same offsets in different sentences are different entities
    s = Scorer()
    s.add(T("B-PER O"), T("B-PER O"))
    s.add(T("B-PER O"), T("O O"))
    assert (s.overall.tp, s.overall.predicted, s.overall.gold) == (1, 1, 2)
    assert s.overall.precision == 1.0
    assert s.overall.recall == 0.5
    assert s.overall.f1 == pytest.approx(2 / 3)


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        Scorer().add(T("O O"), T("O"))


def test_prf_f1_is_harmonic_mean():
    c = PRF(tp=3, predicted=4, gold=6)
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(0.5)
    assert c.f1 == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert PRF().f1 == 0.0


# ------------------------------------------------------------------ span_matches, Confusion
# Worked by hand (token indices, end exclusive):
#   gold  B-PER I-PER O B-LOC I-LOC I-LOC O B-ORG O    O     -> PER(0,2) LOC(3,6) ORG(7,8)
#   pred  B-PER I-PER O B-LOC I-LOC O     O B-LOC O    B-PER -> PER(0,2) LOC(3,5) LOC(7,8)
#                                                                PER(9,10)
#   PER(0,2)/PER(0,2) correct; LOC(3,6)/LOC(3,5) boundary; ORG(7,8)/LOC(7,8) type;
#   PER(9,10) spurious.
SENTENCE = (T("B-PER I-PER O B-LOC I-LOC I-LOC O B-ORG O O"),
            T("B-PER I-PER O B-LOC I-LOC O O B-LOC O B-PER"))


def test_span_matches_each_kind():
    from nertag.metrics import span_matches

    assert span_matches(*SENTENCE) == [
        ("correct", (0, 2, "PER"), (0, 2, "PER")),
        ("boundary", (3, 6, "LOC"), (3, 5, "LOC")),
        ("type", (7, 8, "ORG"), (7, 8, "LOC")),
        ("spurious", None, (9, 10, "PER")),
    ]


def test_span_matches_missed_and_one_gold_two_predictions():
    from nertag.metrics import span_matches

    # gold ORG(0,4) "New York City Council"; predicted LOC(0,2) and ORG(2,4); gold PER(5,6)
    # is predicted by nothing. IOB1 gold is read as conlleval reads it.
    gold = T("I-ORG I-ORG I-ORG I-ORG O I-PER")
    pred = T("B-LOC I-LOC B-ORG I-ORG O O")
    assert span_matches(gold, pred) == [
        ("type", (0, 4, "ORG"), (0, 2, "LOC")),
        ("boundary", (0, 4, "ORG"), (2, 4, "ORG")),
        ("missed", (5, 6, "PER"), None),
    ]
    assert span_matches(T("O O"), T("O O")) == []


def test_confusion_table_counts_type_errors_and_boundaries_apart():
    from nertag.metrics import confusion

    table = confusion([SENTENCE, (T("B-PER O B-LOC"), T("B-PER O O"))]).as_dict()
    # sentence 2: PER(0,1) correct, LOC(2,3) missed
    assert table["types"] == ["LOC", "ORG", "PER"]
    assert table["table"] == {
        "LOC": {"LOC": 0, "ORG": 0, "PER": 0, "missed": 1},
        "ORG": {"LOC": 1, "ORG": 0, "PER": 0, "missed": 0},
        "PER": {"LOC": 0, "ORG": 0, "PER": 2, "missed": 0},
        "spurious": {"LOC": 0, "ORG": 0, "PER": 1},
    }
    assert table["boundary"] == {"LOC": 1, "ORG": 0, "PER": 0}
    assert (table["correct"], table["type_errors"], table["boundary_errors"], table["missed"],
            table["spurious"]) == (2, 1, 1, 1, 1)


def test_confusion_diagonal_equals_true_positives():
    from nertag.metrics import confusion

    pairs = EXAMPLE + [SENTENCE]
    table = confusion(pairs).as_dict()
    scores = score(pairs)
    assert table["correct"] == scores.overall.tp
    for t in table["types"]:
        assert table["table"][t][t] == scores.per_type[t].tp
