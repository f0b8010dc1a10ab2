"""Rule `wordpiece_vocab` (recipe step 5): vocab.txt from SentencePiece's pieces and the text's characters."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.text.wordpiece_vocab import write_bert_vocab

    write_bert_vocab(snakemake.input.pieces, snakemake.input.chars, snakemake.output[0], **snakemake.params)
