import random

import pytest

from bert_reference import FullTokenizer
from wordpiece import WordPieceTokenizer, load_vocab

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
    "x" * 100,  # exactly max_input_chars_per_word: still tokenized
    "x" * 101,  # longer: [UNK]
    "abcd abcde abcdz",  # greedy longest match; no piece for the rest -> [UNK] for the whole word
    "",
    "   ",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_agrees_with_reference_on_edge_cases(vocab_path, text):
    ours = WordPieceTokenizer(vocab_path)
    ref = FullTokenizer(str(vocab_path))
    assert ours.tokenize(text) == ref.tokenize(text)
    assert ours.encode(text) == ref.convert_tokens_to_ids(ref.tokenize(text))


def test_known_answers(vocab_path):
    tok = WordPieceTokenizer(vocab_path)
    assert tok.tokenize("Hello, World!") == ["hello", ",", "world", "!"]
    assert tok.tokenize("unaffables") == ["un", "##aff", "##able", "##s"]
    assert tok.tokenize("Café naïve") == ["cafe", "naive"]
    assert tok.tokenize("我爱x") == ["我", "爱", "x"]
    assert tok.tokenize("x" * 101) == ["[UNK]"]
    assert tok.tokenize("x" * 100) == ["x"] + ["##x"] * 99
    assert tok.tokenize("a\x00b") == ["ab"]
    assert tok.tokenize("abcde") == ["ab", "##cd", "##e"]  # greedy longest match
    assert tok.tokenize("abcdz") == ["[UNK]"]  # no piece for the rest: the whole word is unknown


def test_fuzz_against_reference(vocab_path):
    # ASCII letters and punctuation, accents (precomposed and combining), CJK, controls, Unicode spaces,
    # separators, a format character, unknown symbols, and characters whose lower() changes their length.
    alphabet = list("abcdexABCDE ,.!'()-$^`éÉ\u0301我京\x00\x07\x0b\t\xa0\u2028\u200b☃İ\ufffdßⅫ")
    rng = random.Random(0)
    ours = WordPieceTokenizer(vocab_path)
    ref = FullTokenizer(str(vocab_path))
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
