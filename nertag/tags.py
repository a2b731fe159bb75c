"""Tag schemes: validation, normalisation to BIO (IOB2), and tags -> entity spans.

Accepted forms: the lecture's binary ``0``/``1``; IOB1, IOB2 (BIO), BIOES and BILOU with any type
name (``B-PER``, ``I-geo``, ``S-ORG``, ``L-LOC``, ``U-MISC``) and ``O``. Internally every sentence
is held in BIO (IOB2); binary tags become ``B-ENT``/``I-ENT``.
"""

from itertools import compress, count

OUTSIDE = "O"
BINARY_TYPE = "ENT"
_PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}


def split_tag(tag):
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``. None for a form we do not know."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in _PREFIXES:
        return _PREFIXES[tag[0]], tag[2:]
    return None


def tag_family(tag):
    """'binary' for 0/1, 'bio' for O and prefixed tags, None for an unknown form."""
    if tag in ("0", "1"):
        return "binary"
    return "bio" if split_tag(tag) is not None else None


def binary_to_bio(tags):
    """The lecture's 0/1 labels as BIO: a run of 1s is one entity of type ENT."""
    out, prev = [], "0"
    for tag in tags:
        out.append(OUTSIDE if tag == "0" else ("I-" if prev == "1" else "B-") + BINARY_TYPE)
        prev = tag
    return out


def to_bio(tags):
    """Normalise one sentence of IOB1/IOB2/BIOES/BILOU (or 0/1) tags to IOB2, by conlleval's
    chunk rules: a tag starts an entity when conlleval would start one there."""
    if tags and tags[0] in ("0", "1"):
        return binary_to_bio(tags)
    out = []
    prev_prefix, prev_type = OUTSIDE, ""
    for tag in tags:
        prefix, etype = split_tag(tag)
        if prefix == OUTSIDE:
            out.append(OUTSIDE)
        elif _starts_chunk(prev_prefix, prev_type, prefix, etype):
            out.append("B-" + etype)
        else:
            out.append("I-" + etype)
        prev_prefix, prev_type = prefix, etype
    return out


def _starts_chunk(prev_prefix, prev_type, prefix, etype):
    # conlleval.pl startOfChunk, for the prefixes B, I, E, S, O.
    if prefix in ("B", "S"):
        return True
    if prev_prefix in ("E", "S", OUTSIDE):
        return prefix in ("E", "I")
    return prev_type != etype


def _ends_chunk(prev_prefix, prev_type, prefix, etype):
    # conlleval.pl endOfChunk.
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I"):
        return prefix in ("B", "S", OUTSIDE) or prev_type != etype
    return False


def spans(tags):
    """Entities of one sentence as ``(start, end, type)`` with ``end`` exclusive, by conlleval's
    rules, so IOB1, IOB2 and BIOES tags all give the spans conlleval would score."""
    found = []
    start = None
    prev_prefix, prev_type = OUTSIDE, ""
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, etype = split_tag(tag) or (OUTSIDE, "")
        if start is not None and _ends_chunk(prev_prefix, prev_type, prefix, etype):
            found.append((start, i, prev_type))
            start = None
        if prefix != OUTSIDE and _starts_chunk(prev_prefix, prev_type, prefix, etype):
            start = i
        prev_prefix, prev_type = prefix, etype
    return found


def bio_spans(tags):
    """``spans`` for valid IOB2 (what nertag's decoder emits), in one quick pass over the
    tags that are not O (found at C speed: most are O)."""
    found = []
    start, etype, last = None, None, -2
    for i in compress(count(), map(OUTSIDE.__ne__, tags)):
        tag = tags[i]
        if start is not None and (i != last + 1 or tag[0] == "B" or tag[2:] != etype):
            found.append((start, last + 1, etype))  # ended by an O, a B or another type
            start = None
        if start is None:
            start, etype = i, tag[2:]
        last = i
    if start is not None:
        found.append((start, last + 1, etype))
    return found


def map_types(tags, type_map):
    """Rename entity types of BIO tags (``{"geo": "LOC"}``); a type mapped to ``O`` is dropped.
    An ``I-`` left after a dropped entity becomes ``B-``, so the result stays valid BIO."""
    if not type_map:
        return tags
    out, prev = [], OUTSIDE
    for tag in tags:
        if tag != OUTSIDE:
            new = type_map.get(tag[2:], tag[2:])
            tag = OUTSIDE if new == OUTSIDE else tag[:2] + new
            if tag.startswith("I-") and prev[2:] != tag[2:]:
                tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def entity_types(tag_list):
    """The sorted entity types named by a list of BIO tags."""
    return sorted({t[2:] for t in tag_list if t != OUTSIDE})


def bio_tagset(types):
    """The tag inventory for typed BIO: ``O`` first, then ``B-X``, ``I-X`` for each type."""
    tagset = [OUTSIDE]
    for etype in types:
        tagset += ["B-" + etype, "I-" + etype]
    return tagset


def to_binary(tags, as_text=False):
    """The lecture's binary view of BIO (or 0/1) tags: any entity tag -> 1, ``O`` (or ``0``)
    -> 0; ints, or with ``as_text`` the strings ``"0"``/``"1"``. The one place tags become 0/1."""
    zero, one = ("0", "1") if as_text else (0, 1)
    return [zero if t == OUTSIDE or t == "0" else one for t in tags]


def output_tags(tags, binary):
    """BIO tags as a model speaks them: 0/1 (strings) for a binary model, else unchanged."""
    return to_binary(tags, as_text=True) if binary else tags


def untyped(tags):
    """BIO tags seen as the binary task: each entity a run of B-ENT I-ENT ... (its type and any
    boundary between adjacent entities of the 0/1 view lost, as the lecture's Y loses them)."""
    return binary_to_bio(to_binary(tags, as_text=True))
