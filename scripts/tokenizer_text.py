"""Rule `tokenizer_text` (recipe step 4): SentencePiece's training sample, the held-out lines, the characters."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.text.tokenizer_text import write_tokenizer_text

    write_tokenizer_text(
        snakemake.input[0],
        snakemake.output.train,
        snakemake.output.heldout,
        snakemake.output.chars,
        **snakemake.params,
        processes=snakemake.threads,
    )
