"""How well vocab.txt covers held-out text, counted with the tokenizer the pre-training data is made with.

Writes the `[UNK]` rate and WordPiece tokens per word as JSON, and stops the run when the `[UNK]` rate is
above the threshold, before hours go into pre-training data full of `[UNK]`.
"""

import json
import logging
from collections import Counter

from atomic import atomic_path
from logs import PipelineError
from wordpiece import WordPieceTokenizer


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


def check_vocab(vocab_path, text_path, out_path, *, do_lower_case, strip_accents, max_unk_rate):
    stats = vocab_coverage(vocab_path, text_path, do_lower_case=do_lower_case, strip_accents=strip_accents)
    stats["max_unk_rate"] = max_unk_rate
    logging.info("held-out coverage: %s", json.dumps(stats, ensure_ascii=False))
    rate = stats["unk_rate"]
    if rate is not None and rate > max_unk_rate:
        raise CoverageError(
            f"{100 * rate:.2f}% of held-out WordPiece tokens are [UNK] (limit {100 * max_unk_rate:g}%, "
            f"tokenizer.max_unk_rate): vocab.txt does not cover this text as BERT's tokenizer splits it "
            f"(e.g. {', '.join(w for w, _ in stats['most_common_unknown_words'][:5])}). "
            f"Use tokenizer.conversion: bert, "
            f"or raise tokenizer.vocab_size / tokenizer.character_coverage"
        )
    with atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2, ensure_ascii=False)
    return stats


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        check_vocab(
            snakemake.input.vocab,
            snakemake.input.heldout,
            snakemake.output[0],
            do_lower_case=snakemake.params.do_lower_case,
            strip_accents=snakemake.params.strip_accents,
            max_unk_rate=snakemake.params.max_unk_rate,
        )
