"""Rule `upload` (recipe step 9): mirror the model dir and the examples to the bucket, and list what is there."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.cloud.upload import upload

    upload(dict(zip(snakemake.params.local, snakemake.params.remote)), snakemake.output[0], snakemake.params.keep)
