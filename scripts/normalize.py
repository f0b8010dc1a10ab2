"""Recipe step 3: `proc_dataset.txt`, the recipe's text normalisation.

`normalize_text` is the recipe's function, kept as it is for inference-time use. `normalize_file` gives the
same bytes on a large file, much faster: it lower-cases multi-megabyte blocks at once, matches with the same
regex engine without nltk's per-call overhead, and spreads the blocks over processes.
"""

import logging
import multiprocessing
import os

import regex
from nltk.tokenize import RegexpTokenizer

from atomic import atomic_path
from progress import Progress

_TOKENIZER = RegexpTokenizer(r"\w+")
# nltk matches with the `regex` engine, whose \w (unlike `re`'s) includes combining marks: use the same.
_WORD = regex.compile(r"\w+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
BLOCK_BYTES = 8 << 20


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


def _decode(data):
    # Reading the file as the recipe does (text mode) drops invalid UTF-8 and turns \r\n and \r into \n.
    return data.decode("utf-8", "ignore").replace("\r\n", "\n").replace("\r", "\n")


def block_ranges(path, block_bytes=BLOCK_BYTES):
    """(start, end) byte ranges covering the file, each ending just after a newline (or at the end)."""
    size = os.path.getsize(path)
    ranges, start = [], 0
    with open(path, "rb") as f:
        while start < size:
            f.seek(min(start + block_bytes, size) - 1)
            f.readline()  # move to the end of the line the block boundary falls in
            end = f.tell()
            ranges.append((start, end))
            start = end
    return ranges


def _normalize_range(args):
    path, start, end = args
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    text = _decode(data)
    if text and not text.endswith("\n"):  # the recipe writes a newline after every line, the last one too
        text += "\n"
    return normalize_block(text).encode("utf-8"), end - start


def normalize_file(src, dest, processes=1, block_bytes=BLOCK_BYTES):
    """Normalise every line of `src` into `dest` on `processes` processes; returns the number of lines."""
    ranges = [(src, start, end) for start, end in block_ranges(src, block_bytes)]
    progress = Progress("normalising", total=os.path.getsize(src), unit="MB", scale=1e6)
    lines = 0
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        if processes > 1 and len(ranges) > 1:
            with multiprocessing.Pool(processes) as pool:
                for data, size in pool.imap(_normalize_range, ranges):
                    out.write(data)
                    lines += data.count(b"\n")
                    progress.update(size)
        else:
            for data, size in map(_normalize_range, ranges):
                out.write(data)
                lines += data.count(b"\n")
                progress.update(size)
    progress.log()
    logging.info("normalised %s lines into %s", f"{lines:,}", dest)
    return lines


def normalize_file_reference(src, dest):
    """The recipe's own loop, one line at a time (the baseline for tests and the benchmark)."""
    with open(src, encoding="utf-8", errors="ignore") as fi, open(dest, "w", encoding="utf-8") as fo:
        for line in fi:
            fo.write(normalize_text(line) + "\n")


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        normalize_file(snakemake.input[0], snakemake.output[0], processes=snakemake.threads)
