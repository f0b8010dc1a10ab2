"""Rule `sentencepiece` (recipe step 4): tokenizer.model and tokenizer.vocab. (Not sentencepiece.py: that name
would hide the sentencepiece package from the scripts beside it.)"""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.text.sentencepiece_model import train_sentencepiece

    train_sentencepiece(snakemake.input[0], snakemake.output.model, snakemake.output.vocab, **snakemake.params)
