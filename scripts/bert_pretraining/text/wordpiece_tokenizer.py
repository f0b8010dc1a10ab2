"""BERT's basic + WordPiece tokenizer (google-research/bert `tokenization.py` semantics), made fast.

The rules are the reference's, character for character: invalid characters (NUL, U+FFFD, control characters)
dropped, whitespace normalised, CJK ideographs split into single tokens, optional lower-casing, optional accent
stripping (NFD, drop combining marks), punctuation split off, then greedy longest-match-first WordPiece with
`##` continuation pieces and `[UNK]` for words longer than `max_input_chars_per_word` or with no match.

Speed comes from caching: a line is split on whitespace once, and each distinct whitespace token is tokenized
by the reference rules only the first time it is seen. Plain printable-ASCII lines (the pipeline's normalised
text) skip the per-character cleaning, which cannot change them.
"""

import re
import unicodedata
from typing import NamedTuple


class SpecialTokens(NamedTuple):
    """BERT's control symbols by role; as a tuple, vocab.txt's first lines in this order ([PAD] is id 0)."""

    pad: str
    unk: str
    cls: str
    sep: str
    mask: str


# The one spelling of the control symbols: the vocabulary writes them, the examples and the exports use them.
SPECIAL_TOKENS = SpecialTokens(pad="[PAD]", unk="[UNK]", cls="[CLS]", sep="[SEP]", mask="[MASK]")

# google-research/bert's WordpieceTokenizer default: longer words (in characters) become [UNK] whole.
MAX_INPUT_CHARS_PER_WORD = 200

# Anything outside printable ASCII, tab, LF and CR may be changed by the character cleaning (control characters
# vanish and join their neighbours, other whitespace becomes a space, CJK gets spaces around it).
_NEEDS_CLEANING = re.compile(r"[^\t\n\r\x20-\x7e]")


def load_vocab(path):
    """Token -> id, as the reference reads vocab.txt: one token per line, stripped; a repeated token keeps its last id."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "ignore")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another token
    vocab = {}
    for index, token in enumerate(lines):
        vocab[token.strip()] = index
    return vocab


def is_whitespace(char):
    if char in " \t\n\r":
        return True
    return unicodedata.category(char) == "Zs"


def is_control(char):
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def is_punctuation(char):
    cp = ord(char)
    # All non-letter/number ASCII counts as punctuation ("^", "$", "`" are not Unicode punctuation).
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def clean_text(text):
    """Drop NUL, U+FFFD and control characters; every whitespace character becomes a space; space out CJK."""
    out = []
    for char in text:
        cp = ord(char)
        if cp == 0 or cp == 0xFFFD or is_control(char):
            continue
        if is_whitespace(char):
            out.append(" ")
        elif is_cjk(cp):
            out.append(f" {char} ")
        else:
            out.append(char)
    return "".join(out)


def strip_accents(text):
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def split_on_punctuation(text):
    out = []
    start_new_word = True
    for char in text:
        if is_punctuation(char):
            out.append(char)
            start_new_word = True
        else:
            if start_new_word:
                out.append("")
            start_new_word = False
            out[-1] += char
    return out


class WordPieceTokenizer:
    """BERT's FullTokenizer: `tokenize(text)` gives word pieces, `encode(text)` their ids."""

    def __init__(
        self,
        vocab,
        *,
        do_lower_case=True,
        strip_accents=None,
        unk_token=SPECIAL_TOKENS.unk,
        max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD,
    ):
        """`vocab` is a path to vocab.txt or a token -> id dict; `strip_accents=None` follows `do_lower_case`,
        as in the reference, where accents are stripped exactly when text is lower-cased."""
        self.vocab = (
            load_vocab(vocab)
            if isinstance(vocab, (str, bytes)) or hasattr(vocab, "__fspath__")
            else dict(vocab)
        )
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = self.do_lower_case if strip_accents is None else bool(strip_accents)
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        self._piece_cache = {}  # whitespace token -> tuple of word pieces
        self._id_cache = {}  # whitespace token -> tuple of ids

    # The reference, step by step.
    def basic_tokenize(self, text):
        tokens = []
        for token in clean_text(text).split():
            tokens.extend(self.basic_words(token))
        return tokens

    def basic_words(self, token):
        """The basic tokenizer's words for one whitespace token of cleaned text."""
        if token.isascii() and token.isalnum():
            # No accents, no punctuation: the rules below would only lower-case it.
            return [token.lower() if self.do_lower_case else token]
        if self.do_lower_case:
            token = token.lower()
        if self.strip_accents:
            token = strip_accents(token)
        # Re-splitting drops the empty strings left by a token made only of combining marks.
        return " ".join(split_on_punctuation(token)).split()

    def wordpiece(self, word):
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            piece = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def _pieces(self, token):
        """Word pieces of one whitespace token of cleaned text (cached)."""
        pieces = self._piece_cache.get(token)
        if pieces is None:
            pieces = tuple(p for word in self.basic_words(token) for p in self.wordpiece(word))
            self._piece_cache[token] = pieces
        return pieces

    def whitespace_tokens(self, text):
        return clean_text(text).split() if _NEEDS_CLEANING.search(text) else text.split()

    def tokenize(self, text):
        out = []
        for token in self.whitespace_tokens(text):
            out.extend(self._pieces(token))
        return out

    def encode(self, text):
        """Ids of `tokenize(text)`; KeyError names the missing token (only `[UNK]` can be missing)."""
        words = self.whitespace_tokens(text)
        cache = self._id_cache
        try:
            return [i for word in words for i in cache[word]]
        except KeyError:
            for word in words:
                if word not in cache:
                    try:
                        cache[word] = tuple(self.vocab[p] for p in self._pieces(word))
                    except KeyError as missing:
                        raise KeyError(f"{missing.args[0]!r} is not in the vocabulary") from None
            return [i for word in words for i in cache[word]]
