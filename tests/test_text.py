"""text.tokenize: tokens with character offsets, close to the CoNLL/Penn conventions."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nertag.tokenize import tokenize


def toks(text):
    return tokenize(text)[0]


def check_offsets(text):
    tokens, starts, ends = tokenize(text)
    assert len(tokens) == len(starts) == len(ends)
    for tok, s, e in zip(tokens, starts, ends, strict=True):
        assert text[s:e] == tok
    return tokens


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Harry Potter met Hermione Granger", ["Harry", "Potter", "met", "Hermione", "Granger"]),
        ("Yesterday, Harry Potter met Hermione Granger.",
         ["Yesterday", ",", "Harry", "Potter", "met", "Hermione", "Granger", "."]),
        ("(London)", ["(", "London", ")"]),
        ("Really?!", ["Really", "?", "!"]),
        ('"Quote"', ['"', "Quote", '"']),
        ("  leading and trailing  ", ["leading", "and", "trailing"]),
        ("tab\tand\nnewline", ["tab", "and", "newline"]),
        ("no\u00a0break", ["no", "break"]),
        ("wait...what--no", ["wait", "...", "what", "--", "no"]),
    ],
)
def test_basic_splitting(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("don't", ["do", "n't"]),
        ("I can't.", ["I", "ca", "n't", "."]),
        ("isn't", ["is", "n't"]),
        ("Harry's wand", ["Harry", "'s", "wand"]),
        ("they're", ["they", "'re"]),
        ("we've", ["we", "'ve"]),
        ("she'll", ["she", "'ll"]),
        ("I'd", ["I", "'d"]),
        ("I'm", ["I", "'m"]),
        ("HARRY'S", ["HARRY", "'S"]),
        ("O'Brien's", ["O'Brien", "'s"]),
        ("O'Brien", ["O'Brien"]),
        ("D'Angelo", ["D'Angelo"]),
    ],
)
def test_clitics(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize("text, expected", [("DON'T", ["DO", "N'T"]), ("CAN'T", ["CA", "N'T"])])
def test_upper_case_negation_clitic(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("U.S. troops", ["U.S.", "troops"]),
        ("the U.S.", ["the", "U.S."]),
        ("U.S.A.", ["U.S.A."]),
        ("U.K.-based", ["U.K.", "-", "based"]),
        ("e.g. this", ["e.g.", "this"]),
    ],
)
def test_abbreviations(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,000.50 dollars", ["1,000.50", "dollars"]),
        ("$1,000.50", ["$", "1,000.50"]),
        ("3.14.", ["3.14", "."]),
        ("at 12:30 on 2024-01-02", ["at", "12:30", "on", "2024-01-02"]),
        ("1/2", ["1/2"]),
        ("42%", ["42", "%"]),
    ],
)
def test_numbers(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("see https://example.com/a?b=1.", ["see", "https://example.com/a?b=1", "."]),
        ("(see http://x.org/a_b)", ["(", "see", "http://x.org/a_b", ")"]),
        ("www.foo.org, ok", ["www.foo.org", ",", "ok"]),
        ("<https://a.b/c>", ["<", "https://a.b/c", ">"]),
    ],
)
def test_urls(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail bob.smith+x@mail.example.co.uk now",
         ["mail", "bob.smith+x@mail.example.co.uk", "now"]),
        ("x@y.z.", ["x@y.z", "."]),
    ],
)
def test_emails(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("@harry_p hi", ["@", "harry_p", "hi"]),
        ("RT @BBCNews: London", ["RT", "@", "BBCNews", ":", "London"]),
        ("#NER rocks", ["#", "NER", "rocks"]),
        ("foo@bar", ["foo", "@", "bar"]),
    ],
)
def test_mentions_and_hashtags(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Jean-Luc Picard", ["Jean-Luc", "Picard"]),
        ("Rolls-Royce's car", ["Rolls-Royce", "'s", "car"]),
        ("Mary-Kate Olsen-Smith", ["Mary-Kate", "Olsen-Smith"]),
        ("-A-", ["-", "A", "-"]),
    ],
)
def test_hyphenated_names(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Cafe\u0301 ok", ["Cafe\u0301", "ok"]),  # decomposed é
        ("e\u0301te\u0301", ["e\u0301te\u0301"]),
        ("Zoe\u0308 Smith", ["Zoe\u0308", "Smith"]),
        ("x\u20dd y", ["x\u20dd", "y"]),  # combining enclosing circle
        ("naïve café", ["naïve", "café"]),  # precomposed
    ],
)
def test_combining_marks_stay_in_their_word(text, expected):
    assert check_offsets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",  # Hindi: hindī bhāṣā
         ["\u0939\u093f\u0928\u094d\u0926\u0940", "\u092d\u093e\u0937\u093e"]),
        ("\u0645\u064f\u062d\u064e\u0645\u0651\u064e\u062f",  # Arabic with vowel marks
         ["\u0645\u064f\u062d\u064e\u0645\u0651\u064e\u062f"]),
    ],
)
def test_combining_marks_of_other_scripts(text, expected):
    assert check_offsets(text) == expected


def test_emoji():
    assert check_offsets("I love NLP 😀!") == ["I", "love", "NLP", "😀", "!"]
    assert check_offsets("😀😀") == ["😀", "😀"]


def test_cjk():
    assert check_offsets("東京タワー に 行く") == ["東京タワー", "に", "行く"]
    assert check_offsets("我爱北京。") == ["我爱北京", "。"]


def test_nul_and_control_characters():
    assert check_offsets("a\x00b") == ["a", "\x00", "b"]
    tokens, starts, ends = tokenize("a\x00b")
    assert (starts, ends) == ([0, 1, 2], [1, 2, 3])


def test_lone_surrogate_is_a_token():
    assert check_offsets("caf\udce9 ok") == ["caf", "\udce9", "ok"]


@pytest.mark.parametrize("text", ["", " ", "\t\n  ", "\u2003\u3000"])
def test_no_tokens(text):
    assert tokenize(text) == ([], [], [])


def test_offsets_exact():
    tokens, starts, ends = tokenize("Hi, Bob's  U.S.")
    assert tokens == ["Hi", ",", "Bob", "'s", "U.S."]
    assert starts == [0, 2, 4, 7, 11]
    assert ends == [2, 3, 7, 9, 15]


@pytest.mark.parametrize(
    "text",
    [
        "Yesterday, Harry Potter met Hermione Granger.",
        "RT @user: check https://t.co/xyz #NLP :-) 😀👍🏽 don't!!",
        "O'Neill's U.S.-based co. paid $1,000.50 on 12/03/2024 -- e-mail a.b@c.de.",
        "\ufeffBOM then text\r\n",
        "👨\u200d👩\u200d👧 family",
        "ʻOkina ‘quoted’ “double” «guillemets»",
        "x\u0301\u0301\u0301 \u0301lone",
    ],
)
def test_offsets_on_assorted_strings(text):
    tokens = check_offsets(text)
    assert all(tokens)


# ---------------------------------------------------------------------------- property


def check_invariants(text):
    tokens, starts, ends = tokenize(text)
    covered = set()
    prev_end = 0
    for tok, s, e in zip(tokens, starts, ends, strict=True):
        assert tok != ""
        assert prev_end <= s < e
        assert text[s:e] == tok
        assert not any(ch.isspace() for ch in tok)
        covered.update(range(s, e))
        prev_end = e
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert i in covered, (text, i)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_property_any_text(text):
    check_invariants(text)


FRAGMENTS = st.sampled_from(
    ["Harry", "O'Brien", "'s", "n't", "don", "'", "’", "-", "--", ".", "...", "U", "S", "1",
     ",", "000", ":", "/", "http", "https://", "www.", "@", "#", "a", "b.c", "+", "\u0301",
     "😀", "東京", " ", "  ", "\t", "\n", "\u00a0", "\x00", "\udcff", "(", ")", "e", "x@y"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=20).map("".join))
def test_property_tricky_fragments(text):
    check_invariants(text)


@given(st.lists(st.sampled_from(list("ab Z9,.'-@#\t é") + ["\u0301", "n't", "U.S."]),
                max_size=30).map("".join) | st.text(max_size=30))
def test_split_tokens_and_offsets_agree_with_tokenize(text):
    from nertag.tokenize import token_offsets, tokenize_lazily

    tokens, starts, ends = tokenize(text)
    assert tokenize_lazily(text)[0] == tokens
    assert token_offsets(text, tokens) == (starts, ends)


ASCII_FRAGMENTS = st.sampled_from(
    ["Harry", "O'Brien", "'s", "n't", "don", "'", "-", "--", ".", "...", "U", "S", "1", ",",
     "000", ":", "/", "http", "https://", "www.", "@", "#", "a", "b.c", "+", "(", ")", "e",
     "x@y", " ", "  ", "\t", "\x1c", "\x00", "_", "Jean-Luc", "2024-01-02", "e.g."]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(ASCII_FRAGMENTS, max_size=25).map("".join))
def test_ascii_fast_path_tokenizes_as_tokenize(text):
    from nertag.tokenize import tokenize_lazily

    assert tokenize_lazily(text)[0] == tokenize(text)[0]
