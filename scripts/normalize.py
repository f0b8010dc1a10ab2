r"""Rule `normalize` (recipe step 3): proc_dataset.txt, lower-cased `\w+` tokens, over the job's cores."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.text.normalize import normalize_file

    normalize_file(snakemake.input[0], snakemake.output[0], processes=snakemake.threads)
