from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/tokenizer.smk"
include: "rules/shards.smk"
include: "rules/pretraining_data.smk"
include: "rules/upload.smk"
include: "rules/train.smk"
include: "rules/report.smk"


rule data:
    default_target: True
    input:
        f"{RESULTS}/vocab.txt",
        f"{RESULTS}/tokenizer/vocab_check.json",
        f"{RESULTS}/shards",
