from snakemake.utils import min_version

min_version("9.0")


# A config file named on the command line (--configfile recipe.yaml) is the whole config, every key it leaves out
# the schema's default; config.yaml, the offline default, is read only when none is named. (Snakemake would
# otherwise merge the named file over config.yaml, and recipe.yaml would train config.yaml's tiny model.)
if not workflow.configfiles:

    configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/config.smk"
include: "rules/corpus.smk"
include: "rules/tokenizer.smk"
include: "rules/shards.smk"
include: "rules/pretraining_data.smk"
include: "rules/model.smk"
include: "rules/upload.smk"
include: "rules/train.smk"
include: "rules/report.smk"
include: "rules/finetune.smk"


rule data:
    default_target: True
    input:
        f"{RESULTS}/vocab.txt",
        f"{RESULTS}/tokenizer/vocab_check.json",
        f"{RESULTS}/shards",


rule config:
    input:
        rules.resolved_config.output,
