"""Rule `evaluate`: held-out masked-LM and next-sentence metrics of the trained model, over the whole shard."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):  # TensorFlow talks on stderr as it loads: into the log
    from bert_pretraining.training.evaluate import main

    main(
        **snakemake.params,
        model_dir=snakemake.input.model,
        eval_files=[snakemake.input.held_out],
        output=snakemake.output[0],
    )
