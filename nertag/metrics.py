"""Entity-level scoring by conlleval's rules: an entity counts when its span and type match
exactly. Also the untyped span score (the binary task) and token accuracy."""

from dataclasses import dataclass, field

from .tags import spans


@dataclass
class PRF:
    """Counts of one class: true positives, predicted and gold entities."""

    tp: int = 0
    predicted: int = 0
    gold: int = 0

    @property
    def precision(self):
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self):
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self):
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self):
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "predicted": self.predicted,
            "gold": self.gold,
        }


@dataclass
class Scorer:
    """Accumulates sentences of (gold tags, predicted tags), in any scheme conlleval reads."""

    overall: PRF = field(default_factory=PRF)
    untyped: PRF = field(default_factory=PRF)
    per_type: dict = field(default_factory=dict)
    tokens: int = 0
    tokens_correct: int = 0
    sentences: int = 0

    def add(self, gold_tags, predicted_tags):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError("gold and predicted tags differ in length")
        self.sentences += 1
        self.tokens += len(gold_tags)
        self.tokens_correct += sum(g == p for g, p in zip(gold_tags, predicted_tags))
        gold, predicted = set(spans(gold_tags)), set(spans(predicted_tags))
        self._count(self.overall, gold, predicted)
        self._count(self.untyped, {s[:2] for s in gold}, {s[:2] for s in predicted})
        for etype in {s[2] for s in gold | predicted}:
            counts = self.per_type.setdefault(etype, PRF())
            self._count(counts, {s for s in gold if s[2] == etype},
                        {s for s in predicted if s[2] == etype})

    @staticmethod
    def _count(counts, gold, predicted):
        counts.tp += len(gold & predicted)
        counts.gold += len(gold)
        counts.predicted += len(predicted)

    @property
    def token_accuracy(self):
        return self.tokens_correct / self.tokens if self.tokens else 0.0

    def as_dict(self):
        return {
            **{k: v for k, v in self.overall.as_dict().items()},
            "per_type": {t: self.per_type[t].as_dict() for t in sorted(self.per_type)},
            "untyped": self.untyped.as_dict(),
            "token_accuracy": self.token_accuracy,
            "tokens": self.tokens,
            "sentences": self.sentences,
        }


def score(pairs):
    """Score an iterable of (gold tags, predicted tags) sentence pairs."""
    scorer = Scorer()
    for gold, predicted in pairs:
        scorer.add(gold, predicted)
    return scorer
