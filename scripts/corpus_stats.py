"""Rule `corpus_stats` (report, stage 1): lines, documents, characters and words of the corpus at each step."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.report.corpus_stats import main

    main(
        raw=snakemake.input.get("raw"),
        dataset=snakemake.input.dataset,
        normalized=snakemake.input.normalized,
        table_path=snakemake.output.table,
        plot_path=snakemake.output.plot,
        plot_data_path=snakemake.output.plot_data,
        json_path=snakemake.output.json,
    )
