"""Held-out [UNK] rate and tokens per word for each script family, default (`bert`) vs the recipe's conversion.

    .venv/bin/python bench/bench_vocab_coverage.py 2>/dev/null

Runs the tokenizer stage's own functions on the generated samples of tests/multilingual.py.
"""

import os
import sys
import tempfile
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "scripts"), os.path.join(ROOT, "tests")]

from multilingual import SCRIPTS  # noqa: E402
from test_vocab_coverage import build_vocab  # noqa: E402


def main():
    print(f"{'script':22} {'bert [UNK]':>11} {'recipe [UNK]':>13} {'bert tok/word':>14} {'recipe tok/word':>16}")
    for script in sorted(SCRIPTS):
        row = {}
        for conversion in ("bert", "recipe"):
            with tempfile.TemporaryDirectory() as folder:
                row[conversion], _ = build_vocab(Path(folder), script, conversion)
        print(f"{script:22} {100 * row['bert']['unk_rate']:10.2f}% {100 * row['recipe']['unk_rate']:12.2f}% "
              f"{row['bert']['tokens_per_word']:14.3f} {row['recipe']['tokens_per_word']:16.3f}")


if __name__ == "__main__":
    main()
