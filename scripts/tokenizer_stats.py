"""Rule `tokenizer_stats` (report, stage 2): the vocabulary, its held-out [UNK] rate, tokens and their pieces."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.report.tokenizer_stats import main

    main(
        vocab_path=snakemake.input.vocab,
        sentencepiece_vocab=snakemake.input.sentencepiece_vocab,
        vocab_check=snakemake.input.vocab_check,
        table_path=snakemake.output.table,
        plot_path=snakemake.output.plot,
        plot_data_path=snakemake.output.plot_data,
        json_path=snakemake.output.json,
        **snakemake.params,
    )
