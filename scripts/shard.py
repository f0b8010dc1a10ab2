"""Recipe step 6: split `proc_dataset.txt` into `shards/shard_0000`, ... (`split -a 4 -l N -d`)."""

import glob
import logging
import os
import re

from atomic import atomic_dir, atomic_path
from logs import PipelineError

SUFFIX_DIGITS = 4


class ShardError(PipelineError):
    pass


def shard_name(index):
    if index >= 10**SUFFIX_DIGITS:
        raise ShardError(
            f"more than {10**SUFFIX_DIGITS} shards: raise shards.lines_per_shard (split -a 4 stops here too)"
        )
    return f"shard_{index:0{SUFFIX_DIGITS}d}"


def split_lines(src, shard_dir, lines_per_shard):
    """Write `lines_per_shard` lines a shard into a fresh `shard_dir`; returns the shard names."""
    names = []
    with atomic_dir(shard_dir) as tmp, open(src, "rb") as f:
        out, count = None, 0
        for line in f:
            if out is None:
                names.append(shard_name(len(names)))
                out = open(os.path.join(tmp, names[-1]), "wb")
            out.write(line)
            count += 1
            if count == lines_per_shard:
                out.close()
                out, count = None, 0
        if out is not None:
            out.close()
    logging.info("wrote %d shards of up to %d lines", len(names), lines_per_shard)
    return names


def write_listing(names, path):
    """`shards.txt`: one shard name a line, a small file for the per-shard jobs to depend on."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.writelines(f"{name}\n" for name in names)


def remove_stale_outputs(names, folders):
    """Delete per-shard files (shard_NNNN.*) in `folders` whose shard no longer exists.

    After a run with fewer shards these would otherwise be picked up by anything that globs the folder
    (uploads, training).
    """
    keep = set(names)
    for folder in folders:
        for path in glob.glob(os.path.join(folder, "shard_*")):
            match = re.match(r"(shard_\d+)", os.path.basename(path))
            if match and match.group(1) not in keep:
                os.remove(path)
                logging.info("removed %s: its shard no longer exists", path)


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        shards = split_lines(snakemake.input[0], snakemake.output[0], snakemake.params.lines_per_shard)
        write_listing(shards, snakemake.output[1])
        remove_stale_outputs(shards, snakemake.params.per_shard_folders)
