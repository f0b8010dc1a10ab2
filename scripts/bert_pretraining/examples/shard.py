"""Recipe step 6: split `proc_dataset.txt` into `shards/shard_0000`, ... (`split -a 4 -l N -d`)."""

import glob
import logging
import os
import re

from bert_pretraining.atomic import atomic_dir, atomic_path
from bert_pretraining.logs import PipelineError

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
