"""Rule `pretraining_stats` (report, stage 3): instances, lengths and masking over every shard's statistics."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.report.pretraining_stats import main

    main(
        stats_paths=list(snakemake.input),
        table_path=snakemake.output.table,
        plot_path=snakemake.output.plot,
        plot_data_path=snakemake.output.plot_data,
        json_path=snakemake.output.json,
    )
