"""Rule `finetune_table` (report, stage 5): the fine-tuning scores, pre-trained against random init."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.report.finetune_table import main

    main(
        scores_path=snakemake.input.scores,
        table_path=snakemake.output.table,
        json_path=snakemake.output.json,
    )
