"""Rule `vocab_check` (recipe step 5): the held-out [UNK] rate and tokens per word; stops a vocabulary that fails."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.text.vocab_check import check_vocab

    check_vocab(
        snakemake.input.vocab, snakemake.input.heldout, snakemake.input.chars, snakemake.output[0], **snakemake.params
    )
