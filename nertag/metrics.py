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


# ------------------------------------------------------------- what the errors are

MISSED = "missed"  # the column of gold entities that no prediction overlaps
SPURIOUS = "spurious"  # the row of predicted entities that overlap no gold entity


def span_matches(gold_tags, predicted_tags):
    """How the gold and predicted entities of one sentence meet, in any scheme conlleval reads:
    ``(kind, gold span, predicted span)`` for each pair of overlapping spans, then each gold
    span no prediction overlaps and each prediction no gold span overlaps, in text order.
    A span is ``(start, end, type)``. Kinds: ``correct`` (same span and type), ``boundary``
    (same type, overlapping but not the same span), ``type`` (overlapping, another type),
    ``missed`` (predicted span None) and ``spurious`` (gold span None). A gold entity that
    two predictions overlap is in two pairs."""
    gold, predicted = spans(gold_tags), spans(predicted_tags)
    found, touched = [], set()
    for g in gold:
        overlapping = [p for p in predicted if p[0] < g[1] and g[0] < p[1]]
        if not overlapping:
            found.append((MISSED, g, None))
        for p in overlapping:
            touched.add(p)
            kind = "correct" if p == g else "boundary" if p[2] == g[2] else "type"
            found.append((kind, g, p))
    found += [(SPURIOUS, None, p) for p in predicted if p not in touched]
    return sorted(found, key=lambda m: (m[1] or m[2])[:2] + (m[2] or m[1])[:2])


@dataclass
class Confusion:
    """A confusion table of entity types over overlapping gold and predicted spans. Rows are
    gold types and ``spurious`` (a prediction overlapping no gold entity); columns predicted
    types and ``missed`` (a gold entity no prediction overlaps). The diagonal counts exact
    matches only: same type, other boundaries is a boundary error, counted apart, by type."""

    cells: dict = field(default_factory=dict)  # (row, column) -> count
    boundary: dict = field(default_factory=dict)  # type -> count

    def add(self, gold_tags, predicted_tags):
        for kind, g, p in span_matches(gold_tags, predicted_tags):
            if kind == "boundary":
                self.boundary[g[2]] = self.boundary.get(g[2], 0) + 1
                continue
            cell = (g[2] if g else SPURIOUS, p[2] if p else MISSED)
            self.cells[cell] = self.cells.get(cell, 0) + 1

    @property
    def types(self):
        return sorted({t for cell in self.cells for t in cell} - {MISSED, SPURIOUS}
                      | set(self.boundary))

    def as_dict(self):
        """``{"types", "table": {row: {column: count}}, "boundary": {type: count}, and the
        totals "correct", "type_errors", "boundary_errors", "missed", "spurious"}``; every
        cell is there, zeros included."""
        types, get = self.types, self.cells.get
        table = {row: {col: get((row, col), 0) for col in types + [MISSED]} for row in types}
        table[SPURIOUS] = {col: get((SPURIOUS, col), 0) for col in types}
        return {
            "types": types,
            "table": table,
            "boundary": {t: self.boundary.get(t, 0) for t in types},
            "correct": sum(table[t][t] for t in types),
            "type_errors": sum(n for (r, c), n in self.cells.items()
                               if r != c and SPURIOUS != r and c != MISSED),
            "boundary_errors": sum(self.boundary.values()),
            "missed": sum(table[t][MISSED] for t in types),
            "spurious": sum(table[SPURIOUS].values()),
        }


def confusion(pairs):
    """The Confusion of an iterable of (gold tags, predicted tags) sentence pairs."""
    table = Confusion()
    for gold, predicted in pairs:
        table.add(gold, predicted)
    return table
