"""Rule `finetune`: each task fine-tuned from the pre-trained model and from a random initialisation; scores."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):  # TensorFlow talks on stderr as it loads: into the log
    from bert_pretraining.finetuning.train import main

    main(
        model_dir=snakemake.input.model or None,
        output_json=snakemake.output.scores,
        output_md=snakemake.output.table,
        **snakemake.params,
    )
