"""Recipe step 3: `proc_dataset.txt`, the recipe's text normalisation.

`normalize_text` is the recipe's function, kept as it is for inference-time use. `normalize_file` gives the
same bytes on a large file, much faster: it lower-cases multi-megabyte blocks at once, matches with the same
regex engine without nltk's per-call overhead, and spreads the blocks over processes.
"""

import regex
from nltk.tokenize import RegexpTokenizer

from bert_pretraining.text.blocks import BLOCK_BYTES, transform_lines
from bert_pretraining.logs import PipelineError

_TOKENIZER = RegexpTokenizer(r"\w+")
# nltk matches with the `regex` engine, whose \w (unlike `re`'s) includes combining marks: use the same.
_WORD = regex.compile(r"\w+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)


def normalize_text(text):
    """The recipe's normalisation of one line: lower-case, valid UTF-8 only, `\\w+` tokens joined by spaces.

    The recipe asks that this normalisation be usable at inference time, so that text given to the trained
    model is prepared as its training text was: this is that function (the pipeline's `normalize` rule runs
    `normalize_block`, which gives the same bytes faster)."""
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


class NotTextError(PipelineError):
    pass


def check_text(path, sample_bytes=1 << 20, max_invalid=0.1):
    """Stop on a file that is not UTF-8 text, which the recipe's normalisation would quietly turn into noise."""
    with open(path, "rb") as f:
        data = f.read(sample_bytes)
    invalid = len(data) - len(data.decode("utf-8", "ignore").encode("utf-8")) + data.count(b"\0")
    if data and invalid > max_invalid * len(data):
        raise NotTextError(
            f"{path} is not UTF-8 text: {100 * invalid / len(data):.0f}% of its first {len(data):,} bytes are not "
            f"valid UTF-8 (a binary file, or text in another encoding: convert it with "
            f"`iconv -f <encoding> -t utf-8`); point corpus.source at UTF-8 text, one sentence a line"
        )


def normalize_file(src, dest, processes=1, block_bytes=BLOCK_BYTES):
    """Normalise every line of `src` into `dest` on `processes` processes; returns the number of lines."""
    check_text(src)
    return transform_lines(src, dest, normalize_block, processes=processes, block_bytes=block_bytes,
                           what="normalising")
