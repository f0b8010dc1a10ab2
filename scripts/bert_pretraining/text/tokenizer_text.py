"""SentencePiece's training text, held-out lines it never sees, and the characters of the text.

With the `bert` conversion (the default), the text is split the way BERT's basic tokenizer will split it when
the pre-training data is made: lower-cased, accents stripped or not, punctuation split off, every CJK
ideograph a word of its own. SentencePiece pieces never cross a space, so every piece it learns is then a
piece of a word BERT will actually see. The `recipe` conversion trains on the normalised text as it is.

The sentences SentencePiece learns from are sampled here, seeded, rather than by SentencePiece: its own
sampling differs from one process to the next, and reading the whole corpus into it costs memory that grows
with the corpus. The character counts cover every training line, sampled or not, so that `wordpiece_vocab`
can give an entry to characters SentencePiece never saw or chose to drop.
"""

import collections
import logging
import multiprocessing
import os

import numpy as np

from bert_pretraining.atomic import atomic_path
from bert_pretraining.text.blocks import block_ranges, read_text
from bert_pretraining.logs import PipelineError
from bert_pretraining.progress import Progress
from bert_pretraining.text.chars import write_chars
from bert_pretraining.text.wordpiece_tokenizer import WordPieceTokenizer


class TextError(PipelineError):
    """The corpus gives SentencePiece nothing to learn from; the message says what is wrong with it."""


def bert_words(line, basic, cache):
    """One line as the space-joined words of BERT's basic tokenizer; `cache` maps whitespace tokens to words."""
    out = []
    for token in basic.whitespace_tokens(line):
        split = cache.get(token)
        if split is None:
            split = cache[token] = basic.basic_words(token)
        out.extend(split)
    return " ".join(out)


def _count_block(args):
    """Non-empty lines of one block, and its characters."""
    path, start, end = args
    with open(path, "rb") as f:
        f.seek(start)
        text = read_text(f.read(end - start))
    lines = sum(1 for line in text.split("\n") if line)
    return lines, collections.Counter(text.replace("\n", ""))


def _convert_block(args):
    """The selected non-empty lines of one block (indices among its non-empty lines), converted."""
    path, start, end, selected, conversion, do_lower_case, strip_accents = args
    with open(path, "rb") as f:
        f.seek(start)
        lines = [line for line in read_text(f.read(end - start)).split("\n") if line]
    chosen = lines if selected is None else [lines[i] for i in selected]
    if conversion == "bert":
        basic = WordPieceTokenizer({}, do_lower_case=do_lower_case, strip_accents=strip_accents)
        cache = {}  # text repeats its tokens, so most lines cost a few lookups
        chosen = [bert_words(line, basic, cache) for line in chosen]
    return "".join(line + "\n" for line in chosen if line).encode("utf-8")


def sample_per_block(counts, size, seed):
    """For each block of `counts[b]` lines, the sorted indices of its lines in a uniform sample of `size` lines
    of all of them (None: take every line). Exact size, and the same for the same counts, size and seed."""
    total = sum(counts)
    if not size or size >= total:
        return [None] * len(counts)
    rng = np.random.default_rng(seed)
    left, need, out = total, size, []
    for count in counts:
        # How many of this block's lines a uniform sample of `need` from `left` takes: hypergeometric.
        take = int(rng.hypergeometric(count, left - count, need)) if need and left > count else min(need, count)
        out.append(np.sort(rng.choice(count, take, replace=False)).tolist())
        left, need = left - count, need - take
    return out


def first_per_block(counts, size):
    """The first `size` lines, as `sample_per_block` gives its selection."""
    if not size:
        return [None] * len(counts)
    out = []
    for count in counts:
        take = min(count, size)
        out.append(None if take == count else list(range(take)))
        size -= take
    return out


def bert_chars(counts, do_lower_case, strip_accents):
    """Character counts of text, as the characters BERT's basic tokenizer turns them into."""
    basic = WordPieceTokenizer({}, do_lower_case=do_lower_case, strip_accents=strip_accents)
    out = collections.Counter()
    for char, count in counts.items():
        for word in basic.basic_tokenize(char):
            for c in word:
                out[c] += count
    return out


def split_heldout(src, heldout_path, heldout_lines):
    """Copy the first `heldout_lines` non-empty lines of `src`; returns (lines held out, byte offset after them)."""
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
    return held, offset


def write_tokenizer_text(src, train_path, heldout_path, chars_path, *, heldout_lines, input_sentence_size,
                         shuffle_input_sentence, seed, conversion, do_lower_case, strip_accents, processes):
    """The first `heldout_lines` non-empty lines of `src` go to `heldout_path` as they are. Of the non-empty
    lines after them, `input_sentence_size` (0: all) go to `train_path`, sampled with `seed` (or the first
    ones), split into BERT's words for the `bert` conversion; `chars_path` counts the characters of all of
    them. Returns (held-out lines, training lines available, lines written)."""
    held, offset = split_heldout(src, heldout_path, heldout_lines)
    ranges = block_ranges(src, offset)
    pool = multiprocessing.Pool(processes) if processes > 1 and len(ranges) > 1 else None
    imap = pool.imap if pool else map
    try:
        progress = Progress("counting lines and characters", total=os.path.getsize(src) - offset, unit="MB",
                            scale=1e6)
        counts, chars = [], collections.Counter()
        for (start, end), (lines, block_chars) in zip(ranges, imap(_count_block, [(src, a, b) for a, b in ranges])):
            counts.append(lines)
            chars.update(block_chars)
            progress.update(end - start)
        available = sum(counts)
        if not available:
            raise TextError(
                f"{src} has no text to learn a vocabulary from after the {held} held-out lines: the corpus has "
                f"no line with a word in it (\\w+) beyond those; point corpus.source at text, one sentence a line"
                + (", or lower tokenizer.heldout_lines" if held else "")
            )
        selection = (
            sample_per_block(counts, input_sentence_size, seed)
            if shuffle_input_sentence
            else first_per_block(counts, input_sentence_size)
        )
        jobs = [(src, a, b, sel, conversion, do_lower_case, strip_accents) for (a, b), sel in zip(ranges, selection)]
        progress = Progress("tokenizer text", total=len(jobs), unit="blocks")
        written = 0
        with atomic_path(train_path) as tmp, open(tmp, "wb") as out:
            for data in imap(_convert_block, jobs):
                out.write(data)
                written += data.count(b"\n")
                progress.update(1)
    finally:
        if pool:
            pool.close()
            pool.join()
    write_chars(bert_chars(chars, do_lower_case, strip_accents) if conversion == "bert" else chars, chars_path)
    logging.info(
        "held out %d lines; SentencePiece gets %s of the %s training lines (%s, %s conversion); %d characters",
        held, f"{written:,}", f"{available:,}", "sampled" if shuffle_input_sentence else "the first ones",
        conversion, len(chars),
    )
    return held, available, written
