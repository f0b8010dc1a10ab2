"""SentencePiece's training text, and held-out lines it never sees.

With the `bert` conversion (the default), the text is split the way BERT's basic tokenizer will split it when
the pre-training data is made: lower-cased, accents stripped or not, punctuation split off, every CJK
ideograph a word of its own. SentencePiece pieces never cross a space, so every piece it learns is then a
piece of a word BERT will actually see. The `recipe` conversion trains on the normalised text as it is.
"""

import functools
import logging
import os

from atomic import atomic_path
from blocks import transform_lines
from wordpiece import WordPieceTokenizer

# Languages whose combining marks are letters, not accents: Japanese voiced kana, Korean Hangul (NFD splits
# it into jamo), Thai vowels and tones, the vowel signs of Indic scripts, Vietnamese tones.
KEEP_ACCENTS = {"ja", "ko", "th", "hi", "bn", "ta", "te", "ml", "si", "vi"}


def default_strip_accents(setting, lang):
    """`tokenizer.strip_accents: auto` strips accents except for the languages whose marks are letters."""
    return lang not in KEEP_ACCENTS if setting == "auto" else bool(setting)


def bert_words_block(text, do_lower_case, strip_accents):
    """Each line of `text` as the space-joined words of BERT's basic tokenizer."""
    basic = WordPieceTokenizer({}, do_lower_case=do_lower_case, strip_accents=strip_accents)
    cache = {}  # whitespace token -> BERT words; text repeats its tokens, so most lines cost a few lookups

    def words(line):
        out = []
        for token in basic.whitespace_tokens(line):
            split = cache.get(token)
            if split is None:
                split = cache[token] = basic.basic_words(token)
            out.extend(split)
        return " ".join(out)

    return "\n".join(words(line) for line in text.split("\n"))


def _copy_block(text):
    return text


def write_tokenizer_text(src, train_path, heldout_path, *, heldout_lines, conversion, do_lower_case,
                         strip_accents, processes=1):
    """The first `heldout_lines` non-empty lines of `src` go to `heldout_path` as they are; every line after
    them goes to `train_path`, split into BERT's words for the `bert` conversion."""
    held, offset = 0, 0
    with open(src, "rb") as f, atomic_path(heldout_path) as tmp, open(tmp, "wb") as out:
        while held < heldout_lines:
            line = f.readline()
            if not line:
                break
            offset += len(line)
            if line.strip():
                out.write(line)
                held += 1
    if os.path.getsize(src) - offset == 0:
        raise ValueError(
            f"{src} has no lines left to train on after the {held} held-out ones: lower tokenizer.heldout_lines"
        )
    block_fn = (
        functools.partial(bert_words_block, do_lower_case=do_lower_case, strip_accents=strip_accents)
        if conversion == "bert"
        else _copy_block
    )
    lines = transform_lines(src, train_path, block_fn, processes=processes, start=offset, what="tokenizer text")
    logging.info("held out %d lines; %d lines for SentencePiece (%s conversion)", held, lines, conversion)
    return held, lines


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        p = snakemake.params
        write_tokenizer_text(
            snakemake.input[0],
            snakemake.output.train,
            snakemake.output.heldout,
            heldout_lines=p.heldout_lines,
            conversion=p.conversion,
            do_lower_case=p.do_lower_case,
            strip_accents=p.strip_accents,
            processes=snakemake.threads,
        )
