"""Rule `train` with tpu.name set: a Cloud TPU VM trains from the bucket; this job starts it, follows it, replaces
it when it is preempted, and copies the result back."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.cloud.tpu import train_on_tpu

    train_on_tpu(
        **snakemake.params,
        records=snakemake.input.records,
        held_out=snakemake.input.held_out,
        phase2_records=list(snakemake.input.phase2_records),
        phase2_held_out=list(snakemake.input.phase2_held_out),
        manifest_path=snakemake.output.manifest,
        model_path=snakemake.output.model,
        bert_config=snakemake.input.bert_config,
        vocab=snakemake.input.vocab,
    )
