"""Scheduler overhead per job: the per-shard jobs run locally, on Slurm one job each, and on Slurm batched.

    .venv/bin/python bench/bench_slurm.py [--shards 100] [--modes local,slurm,group,array] [--lines-per-shard N]

Starts the same one-node Slurm cluster the tests use (root, Debian's slurmctld/slurmd/munge), builds the
offline default's data steps once per run, splits them into `--shards` tiny shards, and times
`snakemake examples` (every shard's .tfrecord, plus bert_config) in one process each way:

  local   --cores <this machine's CPUs>: the baseline every other line is set against
  slurm   profiles/slurm as it is: every per-shard job its own sbatch
  group   --groups pretraining_data=pretraining_data --group-components pretraining_data=<shards>: all
          per-shard jobs in one submission. One group per group id is the shape that Snakemake 9.27.1 gets
          right; with two or more (pretraining_data=20 at 40 shards) it submits the same jobs twice and ends in
          "BUG: Out of jobs ready to be started".
  array   --slurm-array-jobs pretraining_data (the rule is in no group: the plugin submits group jobs one by
          one, never as an array); --jobs and --max-jobs-per-timespan above the shard count, because plugin
          2.8.0 silently drops the jobs of a scheduling round that holds fewer than all ready jobs of the rule
          and fewer than --slurm-array-limit.

Overhead per job = (wall time - local wall time) / shards. It is then set against the wall time of one
recipe-sized shard's pretraining_data job (256,000 lines, the recipe's shards.lines_per_shard), measured in the
same run from that job's benchmark file (a local run on one shard made by repeating the offline sample's text).
"""

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))

from slurm_cluster import local_slurm, unavailable  # noqa: E402
from workflow import SNAKEMAKE, write_config  # noqa: E402

CPUS = os.cpu_count()
RECIPE_LINES = 256_000
MODES = ("local", "slurm", "group", "array")


def slurm_args(shards):
    return ["--workflow-profile", os.path.join(ROOT, "profiles", "slurm"),
            "--jobs", str(shards + 10), "--max-jobs-per-timespan", f"{shards + 10}/1s",
            "--max-threads", "2", "--cores", str(CPUS),  # the one node's size
            "--slurm-no-account", "--slurm-status-command", "squeue",
            "--slurm-init-seconds-before-status-checks", "1"]


def run(folder, snakefile, *args, timeout=None):
    """snakemake in `folder`; returns (seconds, CompletedProcess); raises with the log's tail on failure."""
    cmd = [SNAKEMAKE, *args, "-s", snakefile, "--configfile", os.path.join(folder, "config.yaml")]
    start = time.perf_counter()
    try:
        result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"timed out after {timeout} s:\n{(error.stderr or b'')[-1500:]}") from None
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"exit {result.returncode}:\n{(result.stdout + result.stderr)[-1500:]}")
    return seconds, result


def prepared(scratch, name, lines_per_shard, snakefile):
    """A folder whose data steps are built, so that only the per-shard jobs (and bert_config) are left."""
    folder = os.path.join(scratch, name)
    os.makedirs(folder)
    write_config(folder, shards={"lines_per_shard": lines_per_shard})
    run(folder, snakefile, "--cores", str(CPUS), "data")
    return folder


def inflate(shard, lines_wanted):
    """Repeat a shard's text until it holds at least `lines_wanted` lines; returns its line count."""
    with open(shard, "rb") as f:
        text = f.read()
    lines = text.count(b"\n")
    with open(shard, "wb") as f:
        f.write(text * -(-lines_wanted // lines))
    return -(-lines_wanted // lines) * lines


def recipe_shard_seconds(scratch, snakefile):
    """Wall time of one recipe-sized shard's pretraining_data job, from its benchmark file."""
    folder = prepared(scratch, "recipe", RECIPE_LINES, snakefile)
    lines = inflate(os.path.join(folder, "results", "shards", "shard_0000"), RECIPE_LINES)
    run(folder, snakefile, "examples", "--cores", "1", "--rerun-triggers", "mtime")
    with open(os.path.join(folder, "results", "benchmarks", "pretraining_data", "0000.tsv")) as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    return float(row["s"]), lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, from " + ", ".join(MODES))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per Slurm run before it counts as hung")
    parser.add_argument("--lines-per-shard", type=int, default=0,
                        help="make every shard this long by repeating its text (0: the sample split in --shards)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= set(MODES) or "local" not in modes:
        sys.exit(f"--modes: local plus any of {', '.join(MODES[1:])}")
    if unavailable():
        sys.exit(f"cannot start a Slurm cluster here: {unavailable()}")
    n = args.shards
    repo_snakefile = os.path.join(ROOT, "Snakefile")
    scratch = tempfile.mkdtemp(prefix="bench_slurm.")
    walls, failures = {}, {}
    try:
        probe = prepared(scratch, "probe", 10**9, repo_snakefile)
        with open(os.path.join(probe, "results", "proc_dataset.txt"), "rb") as f:
            lines = sum(1 for _ in f)
        per_shard = -(-lines // n)
        folders = {m: prepared(scratch, m, per_shard, repo_snakefile) for m in modes}
        if args.lines_per_shard:  # longer jobs, same count
            for folder in folders.values():
                shard_dir = os.path.join(folder, "results", "shards")
                for name in os.listdir(shard_dir):
                    if re.fullmatch(r"shard_[0-9]+", name):
                        inflate(os.path.join(shard_dir, name), args.lines_per_shard)
        found = len([f for f in os.listdir(os.path.join(folders["local"], "results", "shards"))
                     if re.fullmatch(r"shard_[0-9]+", f)])
        print(f"{found} per-shard jobs of <= {args.lines_per_shard or per_shard} lines (offline sample, {lines} lines"
              f"{', repeated' if args.lines_per_shard else ''}); "
              f"{CPUS} CPUs, one Slurm node of the same size", flush=True)
        recipe_s, recipe_lines = recipe_shard_seconds(scratch, repo_snakefile)
        print(f"recipe-sized shard ({recipe_lines} lines), its pretraining_data job alone: {recipe_s:.1f} s",
              flush=True)
        mtime = ["--rerun-triggers", "mtime"] if args.lines_per_shard else []  # inflated shards are not stale
        walls["local"], _ = run(folders["local"], repo_snakefile, "examples", "--cores", str(CPUS), *mtime)
        print(f"local: {walls['local']:.1f} s", flush=True)
        extra = {"slurm": [], "group": ["--groups", "pretraining_data=pretraining_data",
                                        "--group-components", f"pretraining_data={found}"],
                 "array": ["--slurm-array-jobs", "pretraining_data"]}
        with local_slurm(os.path.join(scratch, "cluster")):
            for mode in [m for m in modes if m != "local"]:
                try:
                    walls[mode], result = run(folders[mode], repo_snakefile, "examples", *slurm_args(found),
                                              *extra[mode], *mtime, timeout=args.timeout)
                    steps = re.findall(r"(\d+) of (\d+) steps", result.stdout + result.stderr)
                    print(f"{mode}: {walls[mode]:.1f} s ({'/'.join(steps[-1]) if steps else '?'} steps)",
                          flush=True)
                except RuntimeError as error:
                    failures[mode] = str(error)
                    print(f"{mode}: FAILED {error}", flush=True)
        tfrecords = {m: len([f for f in os.listdir(os.path.join(folders[m], "results", "pretraining_data"))
                             if f.endswith(".tfrecord")]) for m in walls}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    local = walls["local"]
    recipe_local = found * recipe_s / CPUS  # the N recipe-sized jobs, CPUS at a time, without overhead
    print()
    print(f"{found} shard jobs; local {local:.1f} s; one recipe-sized job {recipe_s:.1f} s, so {found} of them "
          f"on {CPUS} CPUs ~{recipe_local:.0f} s of work")
    print(f"{'mode':<8}{'wall s':>9}{'x local':>9}{'overhead s/job':>16}{'% of a recipe job':>19}"
          f"{'% of recipe run':>17}{'records':>9}")
    for mode in walls:
        over = walls[mode] - local
        print(f"{mode:<8}{walls[mode]:>9.1f}{walls[mode] / local:>9.2f}{over / found:>16.2f}"
              f"{100 * over / found / recipe_s:>18.0f}%{100 * over / recipe_local:>16.0f}%{tfrecords[mode]:>9}")
    for mode, error in failures.items():
        print(f"{mode:<8} failed: {error.splitlines()[0]}")
    print("target: batched overhead < 10% of the local wall time of the recipe-sized run ('% of recipe run')")


if __name__ == "__main__":
    main()
