"""Rule `pretraining_data` (recipe step 7): one shard's pre-training examples and their statistics."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.examples.pretraining_data import create_pretraining_data

    create_pretraining_data(
        snakemake.input.shard,
        snakemake.input.vocab,
        snakemake.output.records,
        snakemake.output.stats,
        shard_name=f"shard_{snakemake.wildcards.shard}",
        **snakemake.params,
    )
