"""Rule `export`: the trained model for keras-hub, for Hugging Face transformers and for google-research/bert."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.modeling.export import main

    main(
        model_dir=snakemake.input.model,
        keras_hub_dir=snakemake.output.keras_hub,
        huggingface_dir=snakemake.output.huggingface,
        google_bert_dir=snakemake.output.google_bert,
        **snakemake.params,
    )
