"""Recipe step 3: `proc_dataset.txt`, the recipe's text normalisation.

`normalize_text` is the recipe's function, kept as it is for inference-time use. `normalize_file` gives the
same bytes on a large file, much faster: it lower-cases multi-megabyte blocks at once, matches with the same
regex engine without nltk's per-call overhead, and spreads the blocks over processes.
"""

import regex
from nltk.tokenize import RegexpTokenizer

from blocks import BLOCK_BYTES, transform_lines

_TOKENIZER = RegexpTokenizer(r"\w+")
# nltk matches with the `regex` engine, whose \w (unlike `re`'s) includes combining marks: use the same.
_WORD = regex.compile(r"\w+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)


def normalize_text(text):
    """The recipe's normalisation of one line: lower-case, valid UTF-8 only, `\\w+` tokens joined by spaces."""
    text = str(text).lower()
    text = text.encode("utf-8", "ignore").decode()
    return " ".join(_TOKENIZER.tokenize(text))


def normalize_block(text):
    """`normalize_text` applied to every line of `text` ("\\n"-separated).

    Lower-casing the block at once is the same as per line, since no case mapping looks across a newline;
    what is saved is nltk's per-call overhead (it runs every match under a timeout).
    """
    findall = _WORD.findall
    return "\n".join(" ".join(findall(line)) for line in text.lower().split("\n"))


def normalize_file(src, dest, processes=1, block_bytes=BLOCK_BYTES):
    """Normalise every line of `src` into `dest` on `processes` processes; returns the number of lines."""
    return transform_lines(src, dest, normalize_block, processes=processes, block_bytes=block_bytes,
                           what="normalising")


def normalize_file_reference(src, dest):
    """The recipe's own loop, one line at a time (the baseline for tests and the benchmark)."""
    with open(src, encoding="utf-8", errors="ignore") as fi, open(dest, "w", encoding="utf-8") as fo:
        for line in fi:
            fo.write(normalize_text(line) + "\n")


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        normalize_file(snakemake.input[0], snakemake.output[0], processes=snakemake.threads)
