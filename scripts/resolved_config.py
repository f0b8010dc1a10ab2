"""Rule `resolved_config` (target `config`): the config as the workflow resolved it, every default filled in."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.config_validation import write_config

    write_config(dict(snakemake.params.config), snakemake.output[0])
