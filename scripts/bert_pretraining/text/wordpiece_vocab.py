"""Recipe step 5: turn SentencePiece's vocabulary into BERT's WordPiece `vocab.txt`.

`recipe`: the recipe's conversion as it is. `bert` (default): the same conversion, made to agree with BERT's
greedy longest-match WordPiece: every character of the training text (all that SentencePiece kept, and those
it dropped that make up at least `min_char_frequency` of the text) gets a word-initial entry (`a`) and a
continuation entry (`##a`); CJK ideographs and punctuation, always words of their own, need only the first.
BERT's common punctuation gets an entry too, for raw text fed to the exported tokenizer. So a word made of
known characters never becomes `[UNK]`. The lowest-scoring pieces make room for them.

`vocab.txt` always has exactly `vocab_size` lines and the recipe's `num_placeholders - 4` placeholders: for
the `bert` conversion SentencePiece learns one piece more than the recipe asks, since its bare `▁` piece
converts to nothing.
"""

import logging
import math

from bert_pretraining.atomic import atomic_path
from bert_pretraining.logs import PipelineError
from bert_pretraining.text.chars import read_chars
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS, is_cjk, is_punctuation

CONTROL_SYMBOLS = list(SPECIAL_TOKENS)  # vocab.txt's first lines, in BERT's order
WORD_START = "\u2581"  # SentencePiece's "▁"
# BERT splits these off as words of their own: every ASCII one, and the typographic ones common in prose.
PUNCTUATION = [chr(c) for c in range(33, 127) if is_punctuation(chr(c))] + list("¡«·»¿‐–—‘’‚“”„…")


class VocabError(PipelineError):
    pass


def three_digits(x, up):
    """`x` to three significant digits, rounded up or down, so that advice quoting it stays on the right side."""
    exponent = math.floor(math.log10(x)) - 2
    return f"{(math.ceil if up else math.floor)(x / 10**exponent) * 10**exponent:.3g}"


def sentencepiece_pieces(vocab_size, num_placeholders, conversion):
    """Pieces SentencePiece learns for a vocab.txt of `vocab_size` lines (the first piece is `<unk>`)."""
    return vocab_size - num_placeholders + (conversion == "bert")


def smallest_vocab_size(num_placeholders):
    """The fewest vocab.txt lines the workflow accepts: the control symbols, the placeholders and room for word
    pieces (checked when the workflow starts, rules/common.smk)."""
    return num_placeholders + len(CONTROL_SYMBOLS) + 1


def read_sentencepiece_vocab(path):
    """The pieces of a `.vocab` file (text before the tab), in score order, without the leading `<unk>`."""
    with open(path, encoding="utf-8") as f:
        pieces = [line.split("\t")[0] for line in f]
    return pieces[1:]


def wordpiece_token(piece):
    """`▁cafe` -> `cafe` (starts a word); `xious` -> `##xious` (continues one)."""
    return piece[1:] if piece.startswith(WORD_START) else "##" + piece


def char_forms(char):
    """The entries a character needs: CJK ideographs and punctuation are always whole words."""
    return (char,) if is_cjk(ord(char)) or is_punctuation(char) else (char, "##" + char)


def required_chars(pieces, char_counts, min_char_frequency):
    """SentencePiece's alphabet, every character of the text at `min_char_frequency` or above, and PUNCTUATION."""
    floor = min_char_frequency * sum(char_counts.values()) * (1 - 1e-9)  # a quoted frequency still counts
    chars = {c for p in pieces for c in p.replace(WORD_START, "")}
    chars.update(c for c, n in char_counts.items() if n >= floor)
    return chars | set(PUNCTUATION)


def covering_tokens(pieces, slots, chars):
    """The converted pieces, best first, and every form of `chars`, in at most `slots` tokens."""
    learned = []
    seen = set()
    for token in map(wordpiece_token, pieces):
        if token not in ("", "##") and token not in seen:  # "▁" alone converts to an empty token
            learned.append(token)
            seen.add(token)
    required = {form for c in chars for form in char_forms(c)}
    room = slots - len(required)
    kept = [t for t in learned if t in required or (room := room - 1) >= 0]
    return kept + sorted(required - set(kept))


def _frequency_that_fits(pieces, char_counts, slots):
    """The smallest min_char_frequency whose characters' forms fit in `slots` (None: not even SentencePiece's)."""
    total = sum(char_counts.values())
    for count in sorted(set(char_counts.values())):
        frequency = count / total
        if len({f for c in required_chars(pieces, char_counts, frequency) for f in char_forms(c)}) <= slots:
            return frequency
    return None


def bert_vocab(pieces, *, vocab_size, num_placeholders, conversion, char_counts, min_char_frequency):
    """Control symbols, the tokens, then [UNUSED_i] placeholders: exactly `vocab_size` lines.

    The tokens fill the slots the recipe gives them: vocab_size - num_placeholders - 1 (SentencePiece learned
    vocab_size - num_placeholders pieces, the first of them <unk>).
    """
    slots = vocab_size - num_placeholders - 1
    if conversion == "bert":
        chars = required_chars(pieces, char_counts, min_char_frequency)
        forms = sum(len(char_forms(c)) for c in chars)
        if forms > slots:
            fits = _frequency_that_fits(pieces, char_counts, slots)
            raise VocabError(
                f"the text's {len(chars)} characters need {forms} word-start and continuation tokens, more than "
                f"the {slots} word-piece slots of tokenizer.vocab_size {vocab_size}: set tokenizer.vocab_size to at "
                f"least {forms + num_placeholders + 1}"
                + (f", or tokenizer.min_char_frequency to at least {three_digits(fits, up=True)}" if fits else "")
                + ", or lower tokenizer.character_coverage"
            )
        tokens = covering_tokens(pieces, slots, chars)
    else:
        tokens = [wordpiece_token(p) for p in pieces]
    if len(tokens) < slots:
        raise VocabError(
            f"the corpus is too small for tokenizer.vocab_size: it yields only {len(tokens)} tokens for "
            f"{slots} slots; set tokenizer.vocab_size to at most {len(tokens) + num_placeholders + 1} "
            f"(or give it more text: corpus.max_lines / corpus.source)"
        )
    vocab = CONTROL_SYMBOLS + tokens[:slots]
    if len(vocab) > vocab_size:
        raise VocabError(
            f"{len(vocab)} tokens do not fit in tokenizer.vocab_size = {vocab_size}; "
            f"raise tokenizer.num_placeholders to at least 4"
        )
    return vocab + [f"[UNUSED_{i}]" for i in range(vocab_size - len(vocab))]


def write_bert_vocab(sentencepiece_vocab_path, chars_path, vocab_path, **settings):
    """vocab.txt from tokenizer.vocab and tokenizer/chars.tsv; `settings` are `bert_vocab`'s."""
    vocab = bert_vocab(read_sentencepiece_vocab(sentencepiece_vocab_path), char_counts=read_chars(chars_path),
                       **settings)
    with atomic_path(vocab_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(token + "\n" for token in vocab)
    learned = set(map(wordpiece_token, read_sentencepiece_vocab(sentencepiece_vocab_path)))
    placeholders = sum(t.startswith("[UNUSED_") for t in vocab)
    logging.info(
        "vocab.txt: %d lines: %d control symbols, %d converted pieces, %d character and punctuation entries "
        "SentencePiece did not learn, %d placeholders",
        len(vocab), len(CONTROL_SYMBOLS), sum(t in learned for t in vocab),
        len(vocab) - len(CONTROL_SYMBOLS) - placeholders - sum(t in learned for t in vocab), placeholders,
    )
    return vocab
