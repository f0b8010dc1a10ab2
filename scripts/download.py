"""Rule `download` (recipe step 1): raw/corpus.txt, the offline sample or the first max_lines of a download."""

from bert_pretraining.logs import rule_log

with rule_log(snakemake.log[0]):
    from bert_pretraining.text.download import fetch

    fetch(dest=snakemake.output[0], **snakemake.params)
