"""Recipe step 4: learn the SentencePiece sub-word model (`tokenizer.model`, `tokenizer.vocab`)."""

import logging
import os
import re
import shutil

import sentencepiece as spm


class TokenizerError(Exception):
    """SentencePiece refused the configuration; the message names the setting to change."""


def train_sentencepiece(
    text_path,
    model_path,
    vocab_path,
    *,
    vocab_size,
    num_placeholders,
    model_type="unigram",
    input_sentence_size=12_800_000,
    shuffle_input_sentence=True,
    character_coverage=0.9995,
    seed=34,
    threads=1,
    extra_options=None,
):
    """Train on `text_path` with the recipe's options; SentencePiece learns vocab_size - num_placeholders pieces.

    No BOS/EOS pieces, as in the recipe. Both outputs are renamed into place only after training succeeds.
    """
    pieces = vocab_size - num_placeholders
    if os.path.getsize(text_path) == 0:
        raise TokenizerError(f"{text_path} is empty: there is no text to learn a vocabulary from")
    options = dict(
        input=text_path,
        vocab_size=pieces,
        model_type=model_type,
        input_sentence_size=input_sentence_size,
        shuffle_input_sentence=shuffle_input_sentence,
        character_coverage=character_coverage,
        bos_id=-1,
        eos_id=-1,
        num_threads=threads,
        minloglevel=0,
    )
    options.update(extra_options or {})
    folder = os.path.dirname(model_path) or "."
    os.makedirs(folder, exist_ok=True)
    # A fixed scratch name: the model records its prefix, and the same inputs should give the same bytes.
    tmp = os.path.join(folder, f".{os.path.basename(model_path)}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        spm.set_random_generator_seed(seed)  # the sampled sentences, hence the pieces, repeat across runs
        try:
            spm.SentencePieceTrainer.train(model_prefix=os.path.join(tmp, "tokenizer"), **options)
        except RuntimeError as error:
            raise TokenizerError(_explain(str(error), num_placeholders)) from None
        os.replace(os.path.join(tmp, "tokenizer.vocab"), vocab_path)
        os.replace(os.path.join(tmp, "tokenizer.model"), model_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logging.info("trained a %s model with %d pieces", model_type, pieces)


def _explain(message, num_placeholders):
    too_high = re.search(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)", message)
    if too_high:
        most = int(too_high.group(2)) + num_placeholders
        return (
            f"the corpus is too small for tokenizer.vocab_size: SentencePiece can learn at most "
            f"{too_high.group(2)} pieces from it; set tokenizer.vocab_size to at most {most} "
            f"(or give it more text: corpus.max_lines / corpus.source)"
        )
    return f"SentencePiece failed: {message.strip()} (check the tokenizer settings in config.yaml)"


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        p = snakemake.params
        train_sentencepiece(
            snakemake.input[0],
            snakemake.output.model,
            snakemake.output.vocab,
            vocab_size=p.vocab_size,
            num_placeholders=p.num_placeholders,
            model_type=p.model_type,
            input_sentence_size=p.input_sentence_size,
            shuffle_input_sentence=p.shuffle_input_sentence,
            character_coverage=p.character_coverage,
            seed=p.seed,
            threads=p.num_threads,
            extra_options=p.extra_options,
        )
