"""`config` target: write the resolved config (config file, `--config` values, schema defaults) as YAML."""

import yaml

from atomic import atomic_path


def write_config(config, path):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        write_config(dict(snakemake.params.config), snakemake.output[0])
