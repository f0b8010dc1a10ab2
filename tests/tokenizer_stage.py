"""The tokenizer stage (normalize, tokenizer_text, sentencepiece, wordpiece_vocab, vocab_check) as the rules run
it, called as plain functions with the schema's defaults, for tests that need a vocabulary from some text."""

import os
import re

from normalize import normalize_file
from schema_defaults import section_defaults
from sentencepiece_model import TokenizerError, train_sentencepiece
from tokenizer_text import write_tokenizer_text
from wordpiece_vocab import VocabError, write_bert_vocab
from vocab_check import vocab_coverage


def tokenizer_defaults():
    return section_defaults("tokenizer")


def build_tokenizer(raw, folder, *, strip_accents=True, follow_advice=False, processes=1, **settings):
    """Run the stage on the text file `raw` into `folder`; returns (settings used, held-out coverage).

    `follow_advice`: on a "set tokenizer.vocab_size to at most N" error, do what a user does: take N, run again.
    """
    t = tokenizer_defaults() | settings
    folder = str(folder)
    proc = os.path.join(folder, "proc_dataset.txt")
    normalize_file(raw, proc, processes=processes)
    write_tokenizer_text(
        proc, os.path.join(folder, "train.txt"), os.path.join(folder, "heldout.txt"), os.path.join(folder, "chars.tsv"),
        heldout_lines=t["heldout_lines"], input_sentence_size=t["input_sentence_size"],
        shuffle_input_sentence=t["shuffle_input_sentence"], seed=t["seed"], conversion=t["conversion"],
        do_lower_case=t["do_lower_case"], strip_accents=strip_accents, processes=processes,
    )
    while True:
        try:
            train_sentencepiece(
                os.path.join(folder, "train.txt"), os.path.join(folder, "tokenizer.model"),
                os.path.join(folder, "tokenizer.vocab"), vocab_size=t["vocab_size"],
                num_placeholders=t["num_placeholders"], conversion=t["conversion"], model_type=t["model_type"],
                character_coverage=t["character_coverage"], seed=t["seed"], num_threads=t["num_threads"],
                extra_options=t["extra_options"],
            )
            write_bert_vocab(
                os.path.join(folder, "tokenizer.vocab"), os.path.join(folder, "chars.tsv"),
                os.path.join(folder, "vocab.txt"), vocab_size=t["vocab_size"], num_placeholders=t["num_placeholders"],
                conversion=t["conversion"], min_char_frequency=t["min_char_frequency"],
            )
            break
        except (TokenizerError, VocabError) as error:
            advice = re.search(r"set tokenizer.vocab_size to at most (\d+)", str(error))
            if not (follow_advice and advice):
                raise
            t["vocab_size"] = int(advice.group(1))
    coverage = vocab_coverage(os.path.join(folder, "vocab.txt"), os.path.join(folder, "heldout.txt"),
                              do_lower_case=t["do_lower_case"], strip_accents=strip_accents)
    return t, coverage
