"""tokenizer/chars.tsv, the characters of SentencePiece's training text with their counts: written by
tokenizer_text, read by wordpiece_vocab and vocab_check."""

import unicodedata

from bert_pretraining.atomic import atomic_path


def write_chars(counts, path):
    """`char<TAB>count<TAB>name` lines, most frequent first (ties in code point order)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for char, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            f.write(f"{char}\t{count}\t{unicodedata.name(char, f'U+{ord(char):04X}')}\n")


def read_chars(path):
    """{char: count} of a chars.tsv."""
    with open(path, encoding="utf-8") as f:
        return {line.split("\t")[0]: int(line.split("\t")[1]) for line in f if line.strip("\n")}
