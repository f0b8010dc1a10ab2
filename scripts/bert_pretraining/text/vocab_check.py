"""How well vocab.txt covers held-out text, counted with the tokenizer the pre-training data is made with.

Writes the `[UNK]` rate and WordPiece tokens per word as JSON, and stops the run when the `[UNK]` rate is
above the threshold, before hours go into pre-training data full of `[UNK]`.
"""

import json
import logging
from collections import Counter

from bert_pretraining.atomic import atomic_path
from bert_pretraining.text.chars import read_chars
from bert_pretraining.text.wordpiece_vocab import three_digits
from bert_pretraining.logs import PipelineError
from bert_pretraining.text.wordpiece_tokenizer import WordPieceTokenizer


class CoverageError(PipelineError):
    pass


MAX_PIECES_PER_WORD = 5  # the histogram's last bin: this many or more


def vocab_coverage(vocab_path, text_path, *, do_lower_case, strip_accents):
    """Over the non-empty lines of `text_path`: words, WordPiece tokens, [UNK]s, pieces per word, worst words.

    Each distinct word is split once, with the tokenizer (and settings) the pre-training data is made with.
    """
    tokenizer = WordPieceTokenizer(vocab_path, do_lower_case=do_lower_case, strip_accents=strip_accents)
    words = Counter()
    lines = 0
    with open(text_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines += 1
                words.update(tokenizer.basic_tokenize(line))
    tokens = unks = known_words = known_tokens = 0
    per_word, unknown = Counter(), Counter()
    for word, count in words.items():
        pieces = tokenizer.wordpiece(word)
        tokens += len(pieces) * count
        per_word[min(len(pieces), MAX_PIECES_PER_WORD)] += count
        if pieces == [tokenizer.unk_token]:  # WordPiece gives up on a word as a whole
            unks += count
            unknown[word] += count
        else:
            known_words += count
            known_tokens += len(pieces) * count
    n_words = sum(words.values())
    return {
        "heldout_lines": lines,
        "words": n_words,
        "distinct_words": len(words),
        "tokens": tokens,
        "unk_tokens": unks,
        "unk_rate": unks / tokens if tokens else None,
        "tokens_per_word": tokens / n_words if n_words else None,
        # A word that becomes one [UNK] looks cheap; compare vocabularies on the words they can spell.
        "tokens_per_known_word": known_tokens / known_words if known_words else None,
        "pieces_per_word": {str(k): per_word[k] for k in range(1, MAX_PIECES_PER_WORD + 1)},
        "most_common_unknown_words": unknown.most_common(20),
    }


def unknown_advice(unknown_words, tokenizer, *, conversion, char_counts, min_char_frequency):
    """Why the held-out words became [UNK], and the setting that changes it (never one already in force)."""
    if conversion != "bert":
        return "use tokenizer.conversion: bert (every character then gets an entry)"
    total = sum(char_counts.values()) or 1
    long_words, rare, unseen = 0, {}, set()
    for word in unknown_words:
        if len(word) > tokenizer.max_input_chars_per_word:
            long_words += 1
        for c in word:
            if c not in tokenizer.vocab:
                if c in char_counts:
                    rare[c] = char_counts[c] / total
                else:
                    unseen.add(c)
    advice = []
    if rare:
        advice.append(
            f"characters rarer than tokenizer.min_char_frequency ({min_char_frequency:g}) have no entry "
            f"({' '.join(sorted(rare))}): set it to at most {three_digits(min(rare.values()), up=False)}"
        )
    if unseen:
        advice.append(
            f"characters that never occur in the training text ({' '.join(sorted(unseen)[:20])}): give it more "
            f"text (corpus.max_lines / corpus.source)"
        )
    if long_words:
        advice.append(
            f"{long_words} of these words are longer than BERT's {tokenizer.max_input_chars_per_word} characters "
            f"a word (text written without spaces?), which BERT's tokenizer never splits"
        )
    return "; ".join(advice) or "raise tokenizer.vocab_size"


def check_vocab(vocab_path, text_path, chars_path, out_path, *, do_lower_case, strip_accents, max_unk_rate,
                conversion, min_char_frequency):
    stats = vocab_coverage(vocab_path, text_path, do_lower_case=do_lower_case, strip_accents=strip_accents)
    stats["max_unk_rate"] = max_unk_rate
    logging.info("held-out coverage: %s", json.dumps(stats, ensure_ascii=False))
    rate = stats["unk_rate"]
    if rate is not None and rate > max_unk_rate:
        unknown = [w for w, _ in stats["most_common_unknown_words"]]
        tokenizer = WordPieceTokenizer(vocab_path, do_lower_case=do_lower_case, strip_accents=strip_accents)
        advice = unknown_advice(unknown, tokenizer, conversion=conversion, char_counts=read_chars(chars_path),
                                min_char_frequency=min_char_frequency)
        raise CoverageError(
            f"{100 * rate:.2f}% of held-out WordPiece tokens are [UNK] (limit {100 * max_unk_rate:g}%, "
            f"tokenizer.max_unk_rate): vocab.txt does not cover this text as BERT's tokenizer splits it "
            f"(e.g. {', '.join(unknown[:5])}). {advice[0].upper() + advice[1:]} "
            f"(or raise tokenizer.max_unk_rate to accept it)"
        )
    with atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2, ensure_ascii=False)
    return stats
