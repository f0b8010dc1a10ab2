"""Rule `bert_config` (recipe step 8): the model dir, bert_config.json and a copy of vocab.txt."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.modeling.bert_config import write_model_dir

    write_model_dir(snakemake.input.vocab, snakemake.output.config, snakemake.output.vocab, **snakemake.params)
