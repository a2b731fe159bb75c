"""The HTML view: `nertag tag --format html`, `Doc.to_html()` and `nertag.render_html`. The
page is parsed with html.parser (structure, escaping, text kept); one test renders it in
headless Chromium when a browser is installed."""

import io
import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

import nertag
from nertag.cli import cli
from nertag.htmlview import COLOURS, paragraph

VOID = {"meta", "br", "img", "link", "input", "hr"}
LINES = ["Harry Potter met Hermione Granger in London .", "",
         '<script>alert("x")</script> Ada Lovelace & "Babbage" <b>wrote</b>']


class Page(HTMLParser):
    """A page's structure: tags checked to nest and close, each paragraph's text with and
    without its entity labels, each mark's label, colour and tooltip, and the legend."""

    def __init__(self, source):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.paragraphs, self.marks, self.legend = [], [], [], [], []
        self.doctype, self.attributes, self.style = None, [], ""
        self.feed(source)
        self.close()
        assert self.stack == [], f"unclosed: {self.stack}"

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.attributes += list(attrs)
        if tag == "p":
            self.paragraphs.append({"text": "", "shown": ""})
        elif tag == "mark" and "li" not in self.stack:
            self.marks.append({"style": attrs["style"], "title": attrs.get("title"),
                               "text": "", "label": ""})
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data):
        if "style" in self.stack:
            self.style += data
        elif "li" in self.stack:
            self.legend.append(data)
        elif "p" in self.stack:
            para = self.paragraphs[-1]
            para["shown"] += data
            if "span" in self.stack:
                self.marks[-1]["label"] += data
            else:
                para["text"] += data
                if "mark" in self.stack:
                    self.marks[-1]["text"] += data


def tag_html(model_path, lines):
    result = CliRunner().invoke(cli, ["tag", "-m", str(model_path), "-f", "html"],
                                input="".join(line + "\n" for line in lines))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_page_structure_and_text_kept(sample_model_path):
    source = tag_html(sample_model_path, LINES)
    page = Page(source)
    assert page.doctype == "DOCTYPE html"
    assert source.startswith("<!DOCTYPE html>\n") and source.endswith("</html>\n")
    # one paragraph a record, each with the input line as its text (labels aside)
    assert [p["text"] for p in page.paragraphs] == LINES
    assert [(m["text"], m["label"]) for m in page.marks][:3] == [
        ("Harry Potter", "PER"), ("Hermione Granger", "PER"), ("London", "LOC")]
    for m in page.marks:
        label, score = m["title"].split()
        assert label == m["label"] and 0 < float(score) <= 1
        assert m["style"] == f"background:{COLOURS[label]}"
    assert page.legend == ["LOC", "MISC", "ORG", "PER"]
    # self-contained: no script, nothing linked or fetched
    assert {"script", "link", "img", "iframe", "object"}.isdisjoint(page.tags)
    assert {"src", "href"}.isdisjoint(page.attributes)
    assert "url(" not in page.style and "@import" not in page.style


def test_input_markup_stays_text(sample_model_path):
    source = tag_html(sample_model_path, LINES)
    # whatever the model marks, the markup of the input is the paragraph's text, not tags
    assert Page(source).paragraphs[2]["text"] == LINES[2]
    assert "&lt;script" in source
    assert "<script" not in source and "<b>" not in source
    assert paragraph('a "b" <i>', []) == '<p class="nertag">a &quot;b&quot; &lt;i&gt;</p>\n'
    # bytes that were not UTF-8 become U+FFFD, so the page stays UTF-8
    assert paragraph("caf\udce9", []) == '<p class="nertag">caf\ufffd</p>\n'


def test_empty_input_is_a_valid_page(sample_model_path):
    page = Page(tag_html(sample_model_path, []))
    assert page.paragraphs == [] and page.legend == ["LOC", "MISC", "ORG", "PER"]
    assert "main" in page.tags


def test_render_html_equals_the_cli_page(sample_model_path):
    tagger = nertag.load(sample_model_path)
    docs = list(tagger.pipe(LINES))
    assert nertag.render_html(docs, labels=tagger.labels) == tag_html(sample_model_path, LINES)
    assert docs[0].to_html().startswith(
        '<p class="nertag"><mark style="background:#c9b8ff" title="PER ')
    # without labels, the legend lists the types found
    found = sorted({e.label for doc in docs for e in doc.entities})
    assert found and Page(nertag.render_html(docs, title="<t>")).legend == found


def test_header_and_footer_once_when_two_processes_tag(sample_model_path, tmp_path,
                                                       monkeypatch):
    from nertag import streams
    from nertag.modelfile import load_model

    model = load_model(sample_model_path)
    path = tmp_path / "in.txt"
    path.write_text("Harry Potter met Ada Lovelace in London .\n" * 300)
    outputs = []
    for split_bytes in (1 << 40, 1000):  # never split, then split
        monkeypatch.setattr(streams, "SPLIT_BYTES", split_bytes)
        out = io.BytesIO()
        streams.tag_stream(model, out, path=str(path), output_format="html")
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    assert len(Page(outputs[0].decode()).paragraphs) == 300


# ------------------------------------------------------------------ a real browser

def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium installed (apt-get install chromium)")


def _chromium(browser, tmp_path, *args):
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=True)


def png_pixels(path):
    """(width, height, set of RGB colours) of an 8-bit RGB or RGBA PNG, unfiltered by hand."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, idat = 8, {}, b""
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + size]
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        at += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, prev, seen = zlib.decompress(idat), width * bpp, bytearray(width * bpp), set()
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) *
                                                         (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + a) & 255
            elif kind == 2:
                row[i] = (row[i] + b) & 255
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        seen.update(tuple(row[i:i + 3]) for i in range(0, stride, bpp))
        prev = row
    return width, height, seen


def test_renders_in_headless_chromium(sample_model_path, tmp_path):
    browser = _browser()
    page = tmp_path / "page.html"
    page.write_text(tag_html(sample_model_path, LINES))
    # the DOM the browser built: the marks are there and the input's <script> is text
    dom = _chromium(browser, tmp_path, "--dump-dom", page.as_uri()).stdout
    assert dom.count("<mark") == 4 + len(Page(page.read_text()).marks)  # legend + entities
    assert "<script" not in dom and "&lt;script" in dom
    # and painted: the type colours are on the screenshot
    shot = tmp_path / "shot.png"
    _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=800,400",
              "--hide-scrollbars", page.as_uri())
    width, height, colours = png_pixels(shot)
    assert (width, height) == (800, 400)
    for label in ("PER", "LOC"):
        hex_colour = COLOURS[label]
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, label
    assert os.path.getsize(shot) > 1000
