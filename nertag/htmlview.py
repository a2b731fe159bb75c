"""The HTML view: a self-contained page (inline CSS, no script, nothing fetched from elsewhere)
with one paragraph a record, each entity marked in the colour of its type, its label beside it
and its score in a tooltip, and a legend of the types.

The page is written as a stream: ``page_header`` first, then a ``paragraph`` for each record as
it comes, then ``PAGE_FOOTER``; with no record between them it is still a valid page.
"""

import math
import re
import zlib
from html import escape

# the colours of the usual types (light enough for black text); any other type gets a hue of
# its own, the same on every run and machine
COLOURS = {"PER": "#c9b8ff", "LOC": "#ffcf8a", "ORG": "#8fe3e3", "MISC": "#d4ee8c",
           "ENT": "#ffe97a"}

_STYLE = """\
body{font:16px/1.8 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;\
background:#fff;max-width:56em;margin:1.5em auto;padding:0 1.2em}
header{border-bottom:1px solid #ddd;margin-bottom:1.2em;padding-bottom:.6em}
h1{font-size:1.2em;margin:0 0 .4em}
ul.legend{list-style:none;margin:0;padding:0}
ul.legend li{display:inline-block;margin:0 .9em .3em 0}
p.nertag{margin:0 0 .9em;white-space:pre-wrap;overflow-wrap:anywhere}
mark{color:inherit;padding:.12em .3em;border-radius:.35em;box-decoration-break:clone;\
-webkit-box-decoration-break:clone}
"""

_LABEL_STYLE = "font-size:.7em;font-weight:700;margin-left:.3em;opacity:.8"


def label_colour(label):
    """The background colour of an entity type."""
    if label in COLOURS:
        return COLOURS[label]
    hue = zlib.crc32(label.encode("utf-8", "surrogatepass")) % 360
    return f"hsl({hue},80%,82%)"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(text):
    """Text as HTML: escaped, and bytes that were not UTF-8 shown as U+FFFD (the page is
    UTF-8)."""
    return escape(_SURROGATE.sub("\ufffd", text), quote=True)


def mark(text, label, score=None):
    """One entity: its text on its type's colour, the label beside it, the score in a tooltip."""
    tooltip = label if score is None or not math.isfinite(score) else f"{label} {score:.4f}"
    return (f'<mark style="background:{label_colour(label)}" title="{_text(tooltip)}">'
            f'{_text(text)}<span style="{_LABEL_STYLE}">{_text(label)}</span></mark>')


def paragraph(text, entities):
    """A record as a paragraph: ``entities`` are ``(start, end, label, score)`` with character
    offsets into ``text``, in order, not overlapping. An empty text is an empty paragraph."""
    out, at = ['<p class="nertag">'], 0
    for start, end, label, score in entities:
        out += [_text(text[at:start]), mark(text[start:end], label, score)]
        at = end
    out += [_text(text[at:]), "</p>\n"]
    return "".join(out)


def page_header(labels, title="nertag"):
    """The start of a page, its legend listing ``labels``."""
    legend = "".join(f'<li><mark style="background:{label_colour(label)}">{_text(label)}'
                     f"</mark></li>" for label in labels)
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            # nothing is fetched and no script runs, whatever the text holds
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            'style-src \'unsafe-inline\'; img-src data:">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_text(title)}</title>\n<style>\n{_STYLE}</style>\n</head>\n<body>\n"
            f'<header><h1>{_text(title)}</h1><ul class="legend">{legend}</ul></header>\n'
            "<main>\n")


PAGE_FOOTER = "</main>\n</body>\n</html>\n"


def render_page(paragraphs, labels, title="nertag"):
    """A whole page of ready paragraphs."""
    return page_header(labels, title) + "".join(paragraphs) + PAGE_FOOTER
