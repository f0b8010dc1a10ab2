# The config this results folder is built with, as the workflow resolved it: the config file, `--config`
# values and the schema's defaults. `snakemake --cores 1 config --configfile recipe.yaml` shows what a run
# would use before anything is built.


rule resolved_config:
    output:
        f"{RESULTS}/resolved_config.yaml",
    log:
        f"{RESULTS}/logs/resolved_config/resolved_config.log",
    params:
        config=config,
    resources:
        mem_mb=200,
        runtime=5,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/resolved_config.py"
