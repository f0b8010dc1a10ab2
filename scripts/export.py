"""Rule `export`: the trained model for keras-hub and for Hugging Face transformers."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.modeling.export import main

    main(
        model_dir=snakemake.input.model,
        keras_hub_dir=snakemake.output.keras_hub,
        huggingface_dir=snakemake.output.huggingface,
        **snakemake.params,
    )
