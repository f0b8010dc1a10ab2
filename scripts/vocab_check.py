"""How well vocab.txt covers held-out text, counted with the tokenizer the pre-training data is made with.

Writes the `[UNK]` rate and WordPiece tokens per word as JSON, and stops the run when the `[UNK]` rate is
above the threshold, before hours go into pre-training data full of `[UNK]`.
"""

import json
import logging
from collections import Counter

from atomic import atomic_path
from wordpiece import WordPieceTokenizer


class CoverageError(Exception):
    pass


def vocab_coverage(vocab_path, text_path, *, do_lower_case, strip_accents):
    """Counts over the non-empty lines of `text_path`: words, WordPiece tokens, [UNK]s, and the worst words."""
    tokenizer = WordPieceTokenizer(vocab_path, do_lower_case=do_lower_case, strip_accents=strip_accents)
    words = tokens = unks = lines = known_words = known_tokens = 0
    unknown = Counter()
    with open(text_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            lines += 1
            for word in tokenizer.basic_tokenize(line):
                pieces = tokenizer.wordpiece(word)
                words += 1
                tokens += len(pieces)
                if "[UNK]" in pieces:
                    unks += pieces.count("[UNK]")
                    unknown[word] += 1
                else:
                    known_words += 1
                    known_tokens += len(pieces)
    return {
        "heldout_lines": lines,
        "words": words,
        "tokens": tokens,
        "unk_tokens": unks,
        "unk_rate": unks / tokens if tokens else None,
        "tokens_per_word": tokens / words if words else None,
        # A word that becomes one [UNK] looks cheap; compare vocabularies on the words they can spell.
        "tokens_per_known_word": known_tokens / known_words if known_words else None,
        "most_common_unknown_words": [w for w, _ in unknown.most_common(20)],
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
            f"(e.g. {', '.join(stats['most_common_unknown_words'][:5])}). Use tokenizer.conversion: bert, "
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
