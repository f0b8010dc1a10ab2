"""Held-out [UNK] rate and tokens per word: the default (`bert`) conversion against the recipe's, for each
script family, and at the recipe's vocabulary size on generated subtitle-shaped corpora.

    .venv/bin/python bench/bench_vocab_coverage.py 2>/dev/null                 # both tables
    .venv/bin/python bench/bench_vocab_coverage.py --lines 200000 --only corpora 2>/dev/null

Runs the tokenizer stage's own functions (tests/fixtures/tokenizer_stage.py) with the schema's defaults: on the samples
of tests/fixtures/multilingual.py (700 lines each, 60 held out, vocab_size 3000), and on tests/fixtures/corpora.py's English,
German, Russian and Chinese (`--lines` each, 2,000 held out, vocab_size 32000).
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "scripts"), os.path.join(ROOT, "tests", "fixtures")]

from corpora import write_corpus  # noqa: E402
from multilingual import SCRIPTS, build_vocab  # noqa: E402
from tokenizer_stage import build_tokenizer  # noqa: E402


def scripts_table():
    print(f"{'script':22} {'bert [UNK]':>11} {'recipe [UNK]':>13} {'bert tok/word':>14} {'recipe tok/word':>16}")
    for script in sorted(SCRIPTS):
        row = {}
        for conversion in ("bert", "recipe"):
            with tempfile.TemporaryDirectory() as folder:
                row[conversion], _ = build_vocab(Path(folder), script, conversion)
        print(f"{script:22} {100 * row['bert']['unk_rate']:10.2f}% {100 * row['recipe']['unk_rate']:12.2f}% "
              f"{row['bert']['tokens_per_word']:14.3f} {row['recipe']['tokens_per_word']:16.3f}", flush=True)


def corpora_table(lines):
    print(f"\n{lines:,} generated lines each, vocab_size 32000, schema defaults (character_coverage 0.9995)")
    print(f"{'corpus':8} {'vocab.txt':>10} {'[UNK]':>8} {'tok/word':>9}  unknown words")
    for lang in ("en", "de", "ru", "zh"):
        with tempfile.TemporaryDirectory() as folder:
            raw = write_corpus(Path(folder) / "dataset.txt", lines, seed=1, lang=lang)
            settings, stats = build_tokenizer(raw, folder, follow_advice=True, processes=2)
        unknown = " ".join(w for w, _ in stats["most_common_unknown_words"][:5])
        print(f"{lang:8} {settings['vocab_size']:10} {100 * stats['unk_rate']:7.3f}% {stats['tokens_per_word']:9.3f}  "
              f"{unknown}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--only", choices=["scripts", "corpora"])
    args = parser.parse_args()
    if args.only != "corpora":
        scripts_table()
    if args.only != "scripts":
        corpora_table(args.lines)


if __name__ == "__main__":
    main()
