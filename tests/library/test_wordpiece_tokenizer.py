"""Our WordPieceTokenizer against google-research/bert's FullTokenizer (tests/fixtures/reference.py), token for token."""

import random

import pytest

from reference import FullTokenizer
from bert_pretraining.text.wordpiece_tokenizer import MAX_INPUT_CHARS_PER_WORD, WordPieceTokenizer, load_vocab

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "hello", "world", "cafe", "naive", "un", "##aff", "##able", "##s", "##ing", "a", "b", "c", "d", "e",
    "##a", "##b", "##c", "##d", "##e", ",", "!", "(", ")", "-", "'", ".", "t", "don", "我", "爱", "北", "京",
    "istanbul", "x", "##x", "ab", "##cd", "$", "^", "`", "Hello", "Café", "é",
]  # fmt: skip


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return path


EDGE_CASES = [
    "Hello, World!",
    "unaffable unaffables",
    "Café naïve HÉLLO",  # accents stripped after lower-casing
    "cafe\u0301",  # combining accent, decomposed already
    "\u0301\u0301 a",  # a token made only of combining marks vanishes
    "我爱北京 天安门",  # CJK: one token per ideograph, unknown ones [UNK]
    "abc中文def",
    "don't (a)-b... $x ^y `z",  # ASCII punctuation including non-Unicode-punctuation symbols
    "a\x00b c\ufffdd e\x07f",  # NUL, U+FFFD and control characters are dropped, joining their neighbours
    "a\x0bb a\x0cb a\x1fb a\x85b",  # controls that Python's str.split() would treat as whitespace
    "a\u200bb",  # format character (Cf), dropped
    "a\xa0b a\u3000b a\u2009b",  # Unicode space separators are whitespace
    "a\u2028b a\u2029b",  # line/paragraph separators: not cleaned, but split by whitespace_tokenize
    "a\tb\nc\rd",
    "☃ snowman ☃x",  # unknown characters and words
    "İstanbul",  # lower() adds a combining dot, which accent stripping removes
    "x" * 200,  # exactly max_input_chars_per_word: still tokenized
    "x" * 201,  # longer: [UNK]
    "abcd abcde abcdz",  # greedy longest match; no piece for the rest -> [UNK] for the whole word
    "",
    "   ",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_agrees_with_reference_on_edge_cases(vocab_path, text):
    ours = WordPieceTokenizer(vocab_path)
    ref = FullTokenizer(vocab_file=str(vocab_path))
    assert ours.tokenize(text) == ref.tokenize(text)
    assert ours.encode(text) == ref.convert_tokens_to_ids(ref.tokenize(text))


def test_known_answers(vocab_path):
    tok = WordPieceTokenizer(vocab_path)
    assert tok.tokenize("Hello, World!") == ["hello", ",", "world", "!"]
    assert tok.tokenize("unaffables") == ["un", "##aff", "##able", "##s"]
    assert tok.tokenize("Café naïve") == ["cafe", "naive"]
    assert tok.tokenize("我爱x") == ["我", "爱", "x"]
    assert MAX_INPUT_CHARS_PER_WORD == 200  # google-research/bert's, in characters
    assert tok.tokenize("x" * 201) == ["[UNK]"]
    assert tok.tokenize("x" * 200) == ["x"] + ["##x"] * 199
    assert tok.tokenize("x" * 150) == ["x"] + ["##x"] * 149
    assert tok.tokenize("a\x00b") == ["ab"]
    assert tok.tokenize("abcde") == ["ab", "##cd", "##e"]  # greedy longest match
    assert tok.tokenize("abcdz") == ["[UNK]"]  # no piece for the rest: the whole word is unknown


def test_fuzz_against_reference(vocab_path):
    # ASCII letters and punctuation, accents (precomposed and combining), CJK, controls, Unicode spaces,
    # separators, a format character, unknown symbols, and characters whose lower() changes their length.
    alphabet = list("abcdexABCDE ,.!'()-$^`éÉ\u0301我京\x00\x07\x0b\t\xa0\u2028\u200b☃İ\ufffdßⅫ")
    rng = random.Random(0)
    ours = WordPieceTokenizer(vocab_path)
    ref = FullTokenizer(vocab_file=str(vocab_path))
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert ours.tokenize(text) == ref.tokenize(text), repr(text)
    # The cache must not change answers on the second sight of a token.
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert ours.tokenize(text) == ours.tokenize(text) == ref.tokenize(text)


def test_case_and_accents_are_separate_settings(vocab_path):
    cased = WordPieceTokenizer(vocab_path, do_lower_case=False)
    assert cased.tokenize("Hello Café") == ["Hello", "Café"]
    assert cased.tokenize("hello") == ["hello"]
    # Reference behaviour: accents stripped exactly when lower-casing ...
    assert WordPieceTokenizer(vocab_path).tokenize("é") == ["e"]
    # ... unless set apart.
    assert WordPieceTokenizer(vocab_path, strip_accents=False).tokenize("Café é") == ["[UNK]", "é"]
    assert WordPieceTokenizer(vocab_path, do_lower_case=False, strip_accents=True).tokenize("Café") == [
        "[UNK]"
    ]
    assert WordPieceTokenizer(vocab_path, do_lower_case=False, strip_accents=True).tokenize("Cafe") == [
        "[UNK]"
    ]


def test_max_input_chars_per_word_is_a_setting(vocab_path):
    assert WordPieceTokenizer(vocab_path, max_input_chars_per_word=3).tokenize("xxxx xxx") == [
        "[UNK]",
        "x",
        "##x",
        "##x",
    ]


def test_load_vocab_like_the_reference(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n  spaced  \nrepeat\n\xff\xferepeat\nlast")
    vocab = load_vocab(path)
    # stripped; invalid bytes dropped; a repeated token keeps its last id; no newline needed at the end
    assert vocab == {"[PAD]": 0, "spaced": 1, "repeat": 3, "last": 4}


def test_missing_unk_is_named(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\n")
    tok = WordPieceTokenizer(path)
    assert tok.encode("a") == [0]
    with pytest.raises(KeyError, match=r"\[UNK\]"):
        tok.encode("zzz")


# The differential test: a vocabulary that spells most of the adversarial text, so that agreement is about pieces
# and not only about [UNK]; every single character also has a `##` form, so long words are splittable.
DIFF_CHARS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
    "éÉüÜñçøßẞıİжЖдДσςΣαΑ"  # Latin, Cyrillic and Greek with case and accents
    "我爱北京中文\u3400\U00020000\U0002a700\U0002b740\U0002b820\uf900\U0002f800"  # CJK and extension blocks
    "かがカガ한국ไทย\u0e34क\u093f\u094d"  # kana (が is か + U+3099), Hangul, Thai and Devanagari marks
    "ＡａＺｚ１２！＂"  # fullwidth forms
    "😀👍\U0001f3fd❤\u20e3🇩🇪👨👩👧"  # emoji, a skin-tone modifier, an enclosing keycap, regional indicators
    "\u0301\u0308\u3099\ufe0f"  # combining marks, a variation selector
    "ﬁⅫⅻǅ\ue000\u0378"  # a ligature, roman numerals, a titlecase letter, private use, unassigned
)
DIFF_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + list(DIFF_CHARS)
    + ["##" + c for c in DIFF_CHARS]
    + list("!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~¿¡«»—…·、。「」")
    + ["hello", "world", "un", "##aff", "##able", "ab", "##ab", "abc", "##abc", "the", "##ing", "кот", "ΟΔΟΣ"]
)
LONG_WORD_LENGTHS = (99, 100, 101, 150, 199, 200, 201, 300)
INGREDIENTS = [
    # controls, NUL, U+FFFD, format characters (zero-width space/non-joiner/joiner, BOM, soft hyphen, tags)
    "\x00", "\x07", "\x1f", "\x7f", "\x85", "\ufffd", "\u200b", "\u200c", "\u200d", "\ufeff", "\xad", "\u2060",
    "\U000e0067",
    # whitespace and other spaces: tab, LF, CR, VT, FF, NBSP, ogham, en/em/thin, narrow NBSP, ideographic, separators
    " ", "\t", "\n", "\r", "\x0b", "\x0c", "\xa0", "\u1680", "\u2002", "\u2003", "\u2009", "\u202f", "\u205f",
    "\u3000", "\u2028", "\u2029", "\u180e",
    # combining marks alone, after letters, and as whole tokens
    "\u0301", "e\u0301", "\u0301\u0308", " \u0301\u0308 ", "\u3099", "か\u3099", "ไ\u0e34", "क\u093f\u094d",
    # CJK, extension blocks, compatibility ideographs, kana, Hangul
    "我爱北京", "中文", "\u3400", "\U00020000", "\U0002a700", "\U0002b740", "\U0002b820", "\uf900", "\U0002f800",
    "が", "カガ", "한국", "中x文",
    # fullwidth forms, emoji, ZWJ sequences, keycaps, flags, skin tones, variation selectors
    "ＡＢＣ", "ａ１２", "！", "＂", "😀", "👍\U0001f3fd", "👨\u200d👩\u200d👧", "❤\ufe0f", "1\ufe0f\u20e3", "🇩🇪",
    "🏴\U000e0067\U000e0062\U000e007f",
    # punctuation, ASCII and Unicode, and `_`
    "_", "__init__", "snake_case", ",", ".", "!", "?", "'", '"', "(", ")", "-", "$", "^", "`", "~", "@", "#",
    "¿", "¡", "«", "»", "—", "…", "·", "、", "。", "「", "」", "\u2018", "\u201c",
    # digits, case, accents, letters whose lower() changes length or context
    "0", "1996", "3.14", "Hello", "HELLO", "hello", "world", "unaffable", "Café", "naïve", "İstanbul", "ıI",
    "Straße", "STRASSE", "ẞ", "ΟΔΟΣ", "οδος", "Жд", "кот", "ﬁ", "Ⅻ", "ǅ", "\ue000", "\u0378", "☃", "\ud800",
    # mixed scripts in one word
    "abcжд", "hello世界", "Caféкот", "x😀y", "a_b-c",
]  # fmt: skip


def long_words():
    """Words of each length around max_input_chars_per_word, of pieces the vocabulary knows."""
    out = []
    for n in LONG_WORD_LENGTHS:
        out += [
            "x" * n,
            ("ab" * n)[:n],
            "é" * n,  # n characters either way: accents stripped or kept
            ("e\u0301" * n)[:n],  # decomposed: about n/2 characters once accents are stripped
            "İ" * n,  # lower-cased to 2n characters, then n once the combining dot is stripped
            "Ж" * n,
            "ａ" * n,
            "😀" * n,
            "x" * (n - 1) + "☃",  # the last character has no piece
            "x" * n + "," + "x" * n,  # punctuation splits it into two words of n
        ]
    return out


def adversarial_lines(count, seed):
    rng = random.Random(seed)
    longs = long_words()
    separators = ["", " ", " ", "  ", "\t", "\xa0", "\u3000", "\u200b", "\x00"]
    lines = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 12)):
            parts.append(rng.choice(longs) if rng.random() < 0.01 else rng.choice(INGREDIENTS))
            parts.append(rng.choice(separators))
        lines.append("".join(parts))
    return lines


HAND_WRITTEN = [
    "\x00\ufffd\x07",  # nothing but characters that are dropped
    "a\u0301\u0301\u0301",
    "\u0301 \u0308 e\u0301",
    "e\u0301\ufeffx\u200dy\u200cz\u200b",
    "\ufeffHello\ufeff, World\u2060!",
    "\U00020000x\U0002a700y\u3400z\uf900",
    "ＡＢＣ！ａ１２＂",
    "👨\u200d👩\u200d👧 👍\U0001f3fd ❤\ufe0f 1\ufe0f\u20e3 🇩🇪",
    "__init__ snake_case a_b",
    "ΟΔΟΣ ΣΑΣ İstanbul STRASSE ẞ ǅ",
    "a\u1680b\u2002c\u202fd\u205fe\u3000f\u180eg\u2028h\u2029i\x85j",
    "हिन्दी ไทย かが",
    "1996, 3.14 and 40%",
] + [w for n in LONG_WORD_LENGTHS for w in ("x" * n, "é" * n, "İ" * n, ("e\u0301" * n)[:n], ("ab" * n)[:n])]


@pytest.fixture(scope="module")
def diff_vocab_path(tmp_path_factory):
    assert len(set(DIFF_VOCAB)) == len(DIFF_VOCAB)  # the reference renumbers repeated tokens; ours keeps the last
    path = tmp_path_factory.mktemp("diff") / "vocab.txt"
    path.write_text("\n".join(DIFF_VOCAB) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_matches_the_reference_on_adversarial_text(diff_vocab_path, do_lower_case):
    ours = WordPieceTokenizer(diff_vocab_path, do_lower_case=do_lower_case, strip_accents=None)
    ref = FullTokenizer(vocab_file=str(diff_vocab_path), do_lower_case=do_lower_case)
    lines = HAND_WRITTEN + adversarial_lines(3000, seed=17)
    tokens = unknown = 0
    for text in lines:
        expected = ref.tokenize(text)
        assert ours.tokenize(text) == expected, repr(text)
        assert ours.encode(text) == ref.convert_tokens_to_ids(expected), repr(text)
        tokens += len(expected)
        unknown += expected.count("[UNK]")
    # The vocabulary spells most of it, so the agreement is about pieces, not [UNK] alone.
    assert tokens > 30_000 and unknown < 0.1 * tokens, (tokens, unknown)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_long_words_are_pieces_up_to_200_characters(diff_vocab_path, do_lower_case):
    ours = WordPieceTokenizer(diff_vocab_path, do_lower_case=do_lower_case)
    ref = FullTokenizer(vocab_file=str(diff_vocab_path), do_lower_case=do_lower_case)
    for n in LONG_WORD_LENGTHS:
        for word, pieces in (("x" * n, ["x"] + ["##x"] * (n - 1)), (("ab" * n)[:n], None)):
            expected = ["[UNK]"] if n > 200 else (pieces or ref.tokenize(word))
            assert ours.tokenize(word) == ref.tokenize(word) == expected, n
            assert len(expected) == (1 if n > 200 else (n + 1) // 2 if word.startswith("ab") else n)
    # The limit counts characters after lower-casing and accent stripping, as the reference does.
    expected = ["é"] + ["##é"] * 149 if not do_lower_case else ["e"] + ["##e"] * 149
    assert ours.tokenize("é" * 150) == ref.tokenize("é" * 150) == expected
    decomposed = "e\u0301" * 150  # 300 characters; 150 once the marks are stripped
    assert ours.tokenize(decomposed) == ref.tokenize(decomposed)
    assert (ours.tokenize(decomposed) == ["[UNK]"]) is (not do_lower_case)
