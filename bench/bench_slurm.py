"""Scheduler overhead per job: the per-shard jobs run locally, on Slurm one job each, and on Slurm grouped.

    .venv/bin/python bench/bench_slurm.py [--shards 400] [--group 20]

Starts the same one-node Slurm cluster the tests use (root, Debian's slurmctld/slurmd/munge), builds the
offline default's data steps once, splits them into `--shards` tiny shards, and times `snakemake examples`
(every shard's .tfrecord) three ways. Overhead per job = (wall time - local wall time) / jobs. The last line
sets the grouped overhead against the local wall time of recipe-sized shards (256,000 lines), measured here
on one such shard.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from slurm_cluster import local_slurm, unavailable  # noqa: E402
from workflow import snakemake, write_config  # noqa: E402

SLURM = ["--workflow-profile", os.path.join(ROOT, "profiles", "slurm"), "--jobs", "100", "--max-threads", "2",
         "--cores", str(os.cpu_count()),  # the one node's size: a group runs that many at a time
         "--slurm-no-account", "--slurm-status-command", "squeue",
         "--slurm-init-seconds-before-status-checks", "1"]


def prepared(scratch, name, lines_per_shard):
    """A folder whose data steps are built, so that only the per-shard jobs are left to run."""
    folder = os.path.join(scratch, name)
    os.makedirs(folder)
    write_config(folder, shards={"lines_per_shard": lines_per_shard})
    snakemake(folder, "--cores", str(os.cpu_count()), "data")
    return folder


def timed(folder, *args):
    start = time.perf_counter()
    snakemake(folder, "examples", *args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=400)
    parser.add_argument("--group", type=int, default=20)
    args = parser.parse_args()
    if unavailable():
        sys.exit(f"cannot start a Slurm cluster here: {unavailable()}")
    scratch = tempfile.mkdtemp(prefix="bench_slurm.")
    try:
        probe = prepared(scratch, "probe", 10**9)
        lines = sum(1 for _ in open(os.path.join(probe, "results", "proc_dataset.txt"), "rb"))
        per_shard = -(-lines // args.shards)
        runs = {name: prepared(scratch, name, per_shard) for name in ("local", "slurm", "grouped")}
        n = args.shards
        local = timed(runs["local"], "--cores", str(os.cpu_count()))
        print(f"{n} per-shard jobs of {per_shard} lines on {os.cpu_count()} cores")
        print(f"local:               {local:7.1f} s", flush=True)
        with local_slurm(os.path.join(scratch, "cluster")):
            single = timed(runs["slurm"], *SLURM, "--group-components", "pretraining_data=1")
            print(f"slurm, 1 job each:   {single:7.1f} s, overhead {(single - local) / n:.2f} s a job", flush=True)
            try:
                grouped = timed(runs["grouped"], *SLURM, "--group-components", f"pretraining_data={args.group}")
            except AssertionError as error:  # Snakemake 9.27.1 breaks with more than one group (README)
                sys.exit(f"slurm, {args.group} per group: failed\n{str(error)[-600:]}")
        # one recipe-sized shard, locally: the job time the overhead is set against
        big = prepared(scratch, "big", 10**9)
        with open(os.path.join(big, "results", "shards", "shard_0000"), "rb") as f:
            text = f.read()
        with open(os.path.join(big, "results", "shards", "shard_0000"), "wb") as f:
            f.write(text * max(1, 256_000 // max(1, text.count(b"\n"))))
        recipe_job = timed(big, "--cores", "1", "--rerun-triggers", "mtime")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"slurm, {args.group} per group: {grouped:7.1f} s, overhead {(grouped - local) / n:.2f} s a job")
    recipe_local = n * recipe_job / os.cpu_count()
    print(f"recipe-sized shard: {recipe_job:.1f} s a job; {n} of them locally ~{recipe_local:.0f} s; grouped "
          f"overhead {(grouped - local):.0f} s = {100 * (grouped - local) / recipe_local:.1f}% of that "
          f"(target < 10%)")


if __name__ == "__main__":
    main()
