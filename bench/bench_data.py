"""Data-preparation figures: normalisation speed against the recipe's loop, and the time to plan ~400 shards
(`snakemake -n`, tools/plan.py, tools/dag.py).

    .venv/bin/python bench/bench_data.py [--lines 1000000] [--shards 400] [--target train]

Both are measured in this run, on this machine: the ratio compares the pipeline's normalisation step (all
cores) with the recipe's own line-by-line loop on the same 1,000,000-line text.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))

from bert_pretraining.text.normalize import normalize_file  # noqa: E402
from normalize_reference import normalize_file_reference  # noqa: E402
from bert_pretraining.text.sample_corpus import write_sample_corpus  # noqa: E402
from workflow import snakemake, write_config  # noqa: E402


def text_of(path, lines, scratch):
    """`lines` lines of real prose: the offline sample, repeated."""
    sample = os.path.join(scratch, "sample.txt")
    write_sample_corpus(sample)
    with open(sample, "rb") as f:
        block = f.read().splitlines(keepends=True)
    with open(path, "wb") as out:
        for i in range(lines):
            out.write(block[i % len(block)])


def bench_normalize(lines, scratch):
    src = os.path.join(scratch, "dataset.txt")
    text_of(src, lines, scratch)
    start = time.perf_counter()
    normalize_file_reference(src, os.path.join(scratch, "ref.txt"))
    recipe = time.perf_counter() - start
    cores = os.cpu_count()
    start = time.perf_counter()
    normalize_file(src, os.path.join(scratch, "proc.txt"), processes=cores)
    pipeline = time.perf_counter() - start
    same = open(os.path.join(scratch, "ref.txt"), "rb").read() == open(os.path.join(scratch, "proc.txt"), "rb").read()
    print(f"normalise {lines:,} lines ({os.path.getsize(src) / 1e6:.0f} MB): recipe loop {recipe:.2f} s, "
          f"pipeline on {cores} cores {pipeline:.2f} s, speed-up {recipe / pipeline:.1f}x "
          f"(target >= 3x), identical output: {same}")


def bench_dry_run(shards, target, scratch):
    folder = os.path.join(scratch, "dryrun")
    os.makedirs(folder)
    # Build the data steps for real, split so finely that there are `shards` shards, under the recipe's
    # full-run line count; then time the planning of everything downstream of them.
    write_config(folder, corpus={"max_lines": 100_000_000})
    snakemake(folder, "--cores", str(os.cpu_count()), "results/proc_dataset.txt")
    n_lines = sum(1 for _ in open(os.path.join(folder, "results", "proc_dataset.txt"), "rb"))
    write_config(folder, corpus={"max_lines": 100_000_000}, shards={"lines_per_shard": -(-n_lines // shards)})
    snakemake(folder, "--cores", str(os.cpu_count()), "results/shards")
    n_shards = len([p for p in os.listdir(os.path.join(folder, "results", "shards")) if p.startswith("shard_")])
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = snakemake(folder, "-n", target)
        times.append(time.perf_counter() - start)
    jobs = result.stdout.split("Job stats:")[1].split("total")[1].split()[0]
    print(f"snakemake -n {target} with {n_shards} shards ({jobs} jobs planned): best of 3 {min(times):.2f} s "
          f"(target < 3 s)")
    # The plan and the job graph read the same DAG; each is one process, as a user runs it.
    for tool, extra in (("plan.py", []), ("dag.py", ["--out", os.path.join(folder, "dag")])):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool), target, *extra, "-s",
                            os.path.join(ROOT, "Snakefile"), "--configfile", os.path.join(folder, "config.yaml")],
                           cwd=folder, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        print(f"tools/{tool} {target} with {n_shards} shards: best of 3 {min(times):.2f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=400)
    parser.add_argument("--target", default="train")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench_data.")
    try:
        bench_normalize(args.lines, scratch)
        bench_dry_run(args.shards, args.target, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
