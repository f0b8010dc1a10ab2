"""Recipe step 2 (`subset`): `dataset.txt`, the first `corpus.max_lines` lines of the raw corpus (the recipe's
`head -n N`), or all of them when max_lines is null."""

from first_lines import copy_first_lines

if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        copy_first_lines(snakemake.input[0], snakemake.output[0], **dict(snakemake.params.items()))
