"""The recipe's own normalisation loop, one line at a time through `normalize.normalize_text`: the baseline that
`normalize.normalize_file` must match byte for byte (tests/test_normalize.py) and beat (bench/bench_data.py)."""

from normalize import normalize_text


def normalize_file_reference(src, dest):
    """The recipe's loop over `src`, written to `dest`."""
    with open(src, encoding="utf-8", errors="ignore") as fi, open(dest, "w", encoding="utf-8") as fo:
        for line in fi:
            fo.write(normalize_text(line) + "\n")
