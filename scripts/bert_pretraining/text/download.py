"""Recipe step 1 (`download`): the raw corpus, `raw/corpus.txt`.

The offline stdlib sample is extracted whole; a URL (OpenSubtitles among them) is downloaded, decompressed as
it streams and stopped after `max_lines` lines (first_lines.copy_first_lines).
"""

import logging

from bert_pretraining.atomic import atomic_path
from bert_pretraining.text.first_lines import copy_first_lines


def fetch(source, dest, max_lines=None, timeout=60.0):
    """The raw corpus: the stdlib sample, or a download that stops after `max_lines` lines."""
    if source == "sample":
        from bert_pretraining.text.sample_corpus import write_sample_corpus

        with atomic_path(dest) as tmp:
            docs, sentences = write_sample_corpus(tmp)
        logging.info("extracted %d sentences in %d documents from the stdlib's docstrings", sentences, docs)
        return sentences
    return copy_first_lines(source, dest, max_lines, timeout)
