"""Rule `subset` (recipe step 2): dataset.txt, the first corpus.max_lines lines of the raw corpus (`head -n N`)."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.text.first_lines import copy_first_lines

    copy_first_lines(snakemake.input[0], snakemake.output[0], **snakemake.params)
