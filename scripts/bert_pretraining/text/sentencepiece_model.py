"""Recipe step 4: learn the SentencePiece sub-word model (`tokenizer.model`, `tokenizer.vocab`)."""

import logging
import os
import re
import shutil

import sentencepiece as spm

from bert_pretraining.logs import PipelineError
from bert_pretraining.text.wordpiece_vocab import sentencepiece_pieces


# The `bert` conversion's text is already as BERT will see it, so SentencePiece must not NFKC it; and with CJK
# split into single characters, its size estimate refuses sizes it can in fact reach.
BERT_CONVERSION_OPTIONS = {"normalization_rule_name": "identity", "hard_vocab_limit": False}


class TokenizerError(PipelineError):
    """SentencePiece refused the configuration or the text; the message names what to change."""


def train_sentencepiece(text_path, model_path, vocab_path, *, vocab_size, num_placeholders, conversion, model_type,
                        character_coverage, seed, num_threads, extra_options):
    """Learn the pieces `vocab.txt` of `vocab_size` lines needs (`sentencepiece_pieces`; the first is `<unk>`)
    from every line of `text_path`, with no BOS/EOS, as in the recipe.

    `text_path` is already the sample to learn from (tokenizer_text draws it), so SentencePiece samples
    nothing. Both outputs are renamed into place only after training succeeds. Returns the pieces learned,
    fewer than asked where `hard_vocab_limit: false` lets the corpus fall short.
    """
    pieces = sentencepiece_pieces(vocab_size, num_placeholders, conversion)
    if os.path.getsize(text_path) == 0:
        raise TokenizerError(f"{text_path} is empty: there is no text to learn a vocabulary from")
    options = dict(
        vocab_size=pieces,
        model_type=model_type,
        input_sentence_size=0,
        character_coverage=character_coverage,
        bos_id=-1,
        eos_id=-1,
        num_threads=num_threads,
        minloglevel=0,
    )
    options.update(BERT_CONVERSION_OPTIONS if conversion == "bert" else {})
    options.update(extra_options)
    folder = os.path.dirname(model_path) or "."
    os.makedirs(folder, exist_ok=True)
    # A fixed scratch name: the model records its prefix, and the same inputs should give the same bytes.
    tmp = os.path.join(folder, f".{os.path.basename(model_path)}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        spm.set_random_generator_seed(seed)
        # The model records its input and prefix paths: relative ones, from inside the scratch folder, keep
        # its bytes the same in every results folder.
        cwd, source = os.getcwd(), os.path.relpath(text_path, tmp)
        os.chdir(tmp)
        try:
            spm.SentencePieceTrainer.train(input=source, model_prefix="tokenizer", **options)
        except RuntimeError as error:
            raise TokenizerError(_explain(str(error), text_path, options, vocab_size)) from None
        finally:
            os.chdir(cwd)
        with open(os.path.join(tmp, "tokenizer.vocab"), encoding="utf-8") as f:
            learned = sum(1 for _ in f)
        os.replace(os.path.join(tmp, "tokenizer.vocab"), vocab_path)
        os.replace(os.path.join(tmp, "tokenizer.model"), model_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logging.info("trained a %s model: %d pieces learned of the %d asked", model_type, learned, pieces)
    return learned


def _explain(message, text_path, options, vocab_size):
    """SentencePiece's error as what is wrong with the text or the settings, and what to change."""
    too_high = re.search(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)", message)
    if too_high:
        asked, most = int(too_high.group(1)), int(too_high.group(2))
        return (
            f"the corpus is too small for tokenizer.vocab_size: SentencePiece can learn at most {most} pieces "
            f"from it; set tokenizer.vocab_size to at most {vocab_size - (asked - most)} "
            f"(or give it more text: corpus.max_lines / corpus.source)"
        )
    chars = re.search(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)", message)
    if chars:
        return (
            f"the text has {chars.group(2)} distinct characters that SentencePiece must keep at "
            f"tokenizer.character_coverage {options['character_coverage']}, more than the {chars.group(1)} pieces "
            f"it may learn. Text of one language has a few dozen to a few thousand; if corpus.source is not text "
            f"(random bytes decode to thousands of characters), point it at text; otherwise raise "
            f"tokenizer.vocab_size or lower tokenizer.character_coverage"
        )
    if "sentences_.empty()" in message:
        limit = options.get("max_sentence_length", 4192)
        with open(text_path, "rb") as f:
            longest = max(len(line.rstrip(b"\n")) for line in f)
        return (
            f"SentencePiece found no line it could learn from in {text_path}: it skips lines longer than "
            f"{limit} bytes, and the longest line there is {longest:,} bytes. The corpus should hold one "
            f"sentence a line: split it into sentences, or raise tokenizer.extra_options.max_sentence_length"
        )
    return f"SentencePiece failed: {message.strip()} (check the tokenizer settings in config.yaml)"
