"""Rule `training_plots` (report, stage 4): the loss and accuracy curves, speed and the final evaluation."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.report.training_plots import main

    main(
        manifest_path=snakemake.input.manifest,
        metrics_path=snakemake.input.eval_metrics,
        plot_path=snakemake.output.plot,
        plot_data_path=snakemake.output.plot_data,
        table_path=snakemake.output.table,
        json_path=snakemake.output.json,
    )
