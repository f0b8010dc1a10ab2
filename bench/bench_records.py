"""Benchmark pretraining_data.compression: what gzip saves on disk and what it costs to write and to read.

One generated shard (bench_pretraining_data.py's text and vocabulary) goes through scripts/pretraining_data.py
with the recipe's parameters twice, plain and gzip; each record file is then read through the training input
pipeline (scripts/bert_pretraining/training/input_pipeline.py) in evaluation order, every record once, batch 256, `--reads` times.
Prints the file sizes, the write times, the best and median records/s of each, and the CPU time per record read
(all threads; the steadier figure on a shared machine).

    .venv/bin/python bench/bench_records.py [--lines 256000] [--reads 3] [--workdir /tmp/bench_records]
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_pretraining_data import OURS, RECIPE, write_shard, write_vocab  # noqa: E402


def build(shard, vocab, out, compression):
    """Write the shard's examples; returns (seconds, instances)."""
    from bert_pretraining.examples.pretraining_data import create_pretraining_data

    start = time.perf_counter()
    stats = create_pretraining_data(shard, vocab, out, **(RECIPE | OURS | {"compression": compression}))
    return time.perf_counter() - start, stats["instances"]


def read_rate(path, reads):
    """(records, records/s of each full pass over `path` through the input pipeline, CPU microseconds per record
    of each pass, all threads). On a shared machine the CPU time is the steadier figure."""
    from bert_pretraining.training import input_pipeline

    rates, cpu = [], []
    for _ in range(reads):
        start, start_cpu = time.perf_counter(), time.process_time()
        n = 0
        dataset = input_pipeline.make_dataset(
            [path], 256, RECIPE["max_seq_length"], RECIPE["max_predictions_per_seq"], training=False
        )
        for inputs, _, _ in dataset.as_numpy_iterator():
            n += len(inputs["token_ids"])
        rates.append(n / (time.perf_counter() - start))
        cpu.append((time.process_time() - start_cpu) / n * 1e6)
    return n, rates, cpu


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lines", type=int, default=256_000, help="lines of the generated shard")
    p.add_argument("--reads", type=int, default=3, help="full passes over each file")
    p.add_argument("--workdir", default="/tmp/bench_records")
    a = p.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    shard = os.path.join(a.workdir, "shard_0000")
    vocab = os.path.join(a.workdir, "vocab.txt")
    if not os.path.exists(shard) or sum(1 for _ in open(shard)) != a.lines:
        write_shard(shard, a.lines, seed=0)
    if not os.path.exists(vocab):
        write_vocab(shard, vocab, a.workdir)

    results = {}
    for compression in ("none", "gzip"):
        out = os.path.join(a.workdir, f"{compression}.tfrecord")
        seconds, instances = build(shard, vocab, out, compression)
        results[compression] = dict(size=os.path.getsize(out), write=seconds, instances=instances, path=out)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for compression, r in results.items():
        n, rates, cpu = read_rate(r["path"], a.reads)
        assert n == r["instances"], (n, r["instances"])
        r.update(best=max(rates), median=statistics.median(rates), cpu=statistics.median(cpu))

    plain, packed = results["none"], results["gzip"]
    print(f"shard: {a.lines:,} lines, {plain['instances']:,} instances (recipe parameters), {os.cpu_count()} CPUs")
    print(f"| compression | file size | write | read: records/s, best / median of {a.reads} | read: CPU per record |")
    print("|---|---|---|---|---|")
    for compression, r in results.items():
        print(
            f"| {compression} | {r['size'] / 1e6:,.1f} MB | {r['write']:.1f} s | "
            f"{r['best']:,.0f} / {r['median']:,.0f} | {r['cpu']:.1f} µs |"
        )
    print(
        f"gzip: {packed['size'] / plain['size']:.1%} of the plain size ({plain['size'] / packed['size']:.1f}x smaller), "
        f"writing {packed['write'] / plain['write']:.2f}x the time, reading at {packed['best'] / plain['best']:.1%} "
        f"of the plain speed (best passes) for {packed['cpu'] / plain['cpu']:.2f}x the CPU time"
    )


if __name__ == "__main__":
    main()
