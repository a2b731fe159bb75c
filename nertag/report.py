"""What ``nertag eval`` reports beyond the scores: the confusion table of entity types, and the
wrong spans in context, each sentence with its gold and predicted entities side by side.

An item is ``(tokens, gold tags, predicted tags, line)``: one sentence as it is scored, ``line``
the number of its first line in the file (0 when unknown).
"""

from .metrics import MISSED, SPURIOUS, confusion, score, span_matches
from .tags import spans

CONTEXT = 12  # tokens shown on each side of a wrong span

KIND_NAMES = {"boundary": "boundary error", "type": "type error", MISSED: "missed",
              SPURIOUS: "spurious"}


def eval_report(items):
    """The dict ``nertag eval --json`` prints: the scores, and the confusion table under
    ``confusion``."""
    pairs = [(gold, predicted) for _, gold, predicted, _ in items]
    result = score(pairs).as_dict()
    result["confusion"] = confusion(pairs).as_dict()
    return result


def extra_types(result):
    """Types the predictions have and the gold never has (each such entity a false positive)."""
    return sorted(t for t, d in result["per_type"].items() if d["predicted"] and not d["gold"])


def wrong_spans(items, limit, name=None):
    """The first ``limit`` wrong spans, in file order, as dicts: ``where`` (``file:line`` of
    the span's first token when the line is known), ``kind``, ``gold`` and ``predicted``
    (``{"text", "label", "start", "end"}`` in tokens, or None), and ``context``: the sentence
    around the span with the gold and the predicted entities bracketed."""
    found = []
    for tokens, gold, predicted, line in items:
        if len(found) >= limit:
            break
        for kind, g, p in span_matches(gold, predicted):
            if kind == "correct":
                continue
            start = min(s[0] for s in (g, p) if s)
            end = max(s[1] for s in (g, p) if s)
            where = f"{name}:{line + start}" if name and line else name
            lo, hi = max(0, start - CONTEXT), min(len(tokens), end + CONTEXT)
            found.append({
                "where": where, "kind": kind,
                "gold": _span_dict(tokens, g), "predicted": _span_dict(tokens, p),
                "context": {"gold": bracketed(tokens, gold, lo, hi),
                            "predicted": bracketed(tokens, predicted, lo, hi)},
            })
            if len(found) >= limit:
                break
    return found


def _span_dict(tokens, span):
    if span is None:
        return None
    start, end, label = span
    return {"text": " ".join(tokens[start:end]), "label": label, "start": start, "end": end}


def bracketed(tokens, tags, lo=0, hi=None):
    """Tokens ``lo:hi`` joined by spaces, each entity as ``[TYPE words]``; ``...`` marks a cut.
    An entity cut by the window is bracketed on the part shown."""
    hi = len(tokens) if hi is None else hi
    parts = list(tokens[lo:hi])
    for start, end, label in spans(tags):
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        parts[start - lo] = f"[{label} {parts[start - lo]}"
        parts[end - 1 - lo] += "]"
    return " ".join((["..."] if lo else []) + parts + (["..."] if hi < len(tokens) else []))


def format_wrong_span(error):
    """Three lines of text for a wrong span: where and what, then gold and predicted."""
    def side(span):
        return "nothing" if span is None else f"{span['label']} \"{span['text']}\""

    head = f"{error['where']}: " if error["where"] else ""
    return (f"{head}{KIND_NAMES[error['kind']]}: gold {side(error['gold'])}, predicted "
            f"{side(error['predicted'])}\n"
            f"  gold       {error['context']['gold']}\n"
            f"  predicted  {error['context']['predicted']}\n")
