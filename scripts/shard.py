"""Checkpoint `shard` (recipe step 6): the shards, their list, and no per-shard file of a shard that is gone."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.examples.shard import remove_stale_outputs, split_lines, write_listing

    shards = split_lines(snakemake.input[0], snakemake.output[0], snakemake.params.lines_per_shard)
    write_listing(shards, snakemake.output[1])
    remove_stale_outputs(shards, snakemake.params.per_shard_folders)
