"""What the recipe's full run costs on one machine, measured step by step at two sizes and projected to 100M lines.

    .venv/bin/python bench/bench_scale.py --lines 1000000 10000000 [--cores 2] [--work /tmp/bench-scale]

The workflow runs from a snapshot of the checkout's HEAD (`git archive`), so edits made while it runs cannot
change what is measured. For each size: a generated subtitle-shaped English corpus (tests/fixtures/corpora.py, seeded), then `snakemake examples`
with the recipe's values (recipe.yaml: vocab_size 32000, input_sentence_size 12,800,000, 256,000 lines a
shard, the recipe's pre-training data parameters) on that corpus as a local file. Per rule, from Snakemake's
own benchmark files (psutil over each job's whole process tree): wall time and CPU time summed over the rule's
jobs, the largest peak memory (RSS) of any one job, and the bytes its outputs hold. Then the growth factor from
the first size to the last, and a projection to 100,000,000 lines: the last size's figure times the growth
per tenfold (growth ** (1 / log10(size ratio))) for each further tenfold. SentencePiece's cost follows the
sentences it learns from, which stop growing at `tokenizer.input_sentence_size` (12,800,000): its projection
grows with that count, not with the lines.
"""

import argparse
import glob
import math
import os
import subprocess
import sys
import time

import pandas as pd
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))

from corpora import write_corpus  # noqa: E402

RECIPE_LINES = 100_000_000
# Rules whose work is the sampled sentences, not the whole corpus.
SAMPLED = {"sentencepiece"}
# Each rule's outputs under the results folder, for the bytes it wrote.
OUTPUTS = {
    "subset": ["dataset.txt"],
    "normalize": ["proc_dataset.txt"],
    "tokenizer_text": ["tokenizer/train.txt", "tokenizer/heldout.txt", "tokenizer/chars.tsv"],
    "sentencepiece": ["tokenizer.model", "tokenizer.vocab"],
    "wordpiece_vocab": ["vocab.txt"],
    "vocab_check": ["tokenizer/vocab_check.json"],
    "shard": ["shards/*"],
    "pretraining_data": ["pretraining_data/*"],
    "bert_config": ["bert_model/*"],
}


def folder_bytes(results, patterns):
    return sum(os.path.getsize(p) for pattern in patterns for p in glob.glob(os.path.join(results, pattern))
               if os.path.isfile(p))


def snapshot(work):
    """The checkout's HEAD in `work`/code: what the benchmark measures."""
    code = os.path.join(work, "code")
    if os.path.exists(code):
        subprocess.run(["rm", "-rf", code], check=True)
    os.makedirs(code)
    archive = subprocess.run(["git", "-C", ROOT, "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", code], input=archive, check=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    print(f"measuring commit {commit}", flush=True)
    return code


def run_size(lines, work, code, cores, reuse):
    folder = os.path.join(work, f"{lines}")
    os.makedirs(folder, exist_ok=True)
    corpus = os.path.join(work, f"corpus-{lines}.txt")
    if not os.path.exists(corpus):
        start = time.time()
        write_corpus(corpus + ".tmp", lines, seed=1)
        os.replace(corpus + ".tmp", corpus)
        print(f"generated {lines:,} lines in {time.time() - start:.0f} s", flush=True)
    with open(os.path.join(code, "recipe.yaml")) as f:
        config = yaml.safe_load(f)
    config["results"] = "results"
    config["corpus"] = {"source": corpus, "max_lines": None}
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    elapsed_file = os.path.join(folder, "elapsed_s")
    if not (reuse and os.path.exists(elapsed_file)):
        start = time.time()
        subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "snakemake"), "--cores", str(cores), "examples", "-s",
             os.path.join(code, "Snakefile"), "--configfile", "config.yaml"],
            cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        with open(elapsed_file, "w") as f:
            f.write(f"{time.time() - start:.1f}\n")
    with open(elapsed_file) as f:
        elapsed = float(f.read())
    print(f"{lines:,} lines: examples built in {elapsed:.0f} s", flush=True)
    results = os.path.join(folder, "results")
    rows = []
    for rule, patterns in OUTPUTS.items():
        files = glob.glob(os.path.join(results, "benchmarks", rule, "*.tsv"))
        if not files:
            continue
        bench = pd.concat([pd.read_csv(f, sep="\t") for f in files])
        rows.append({
            "rule": rule, "jobs": len(files), "wall_s": bench["s"].sum(), "cpu_s": bench["cpu_time"].sum(),
            "peak_mb": bench["max_rss"].max(), "written_mb": folder_bytes(results, patterns) / 1e6,
        })
    return pd.DataFrame(rows).set_index("rule"), elapsed, config["tokenizer"]["input_sentence_size"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--work", default="/tmp/bench-scale")
    parser.add_argument("--reuse", action="store_true", help="read the figures of an earlier run in --work again")
    args = parser.parse_args()
    code = os.path.join(args.work, "code") if args.reuse else snapshot(args.work)
    tables, elapsed = {}, {}
    for lines in args.lines:
        tables[lines], elapsed[lines], sentence_cap = run_size(lines, args.work, code, args.cores, args.reuse)
    pd.set_option("display.width", 200)
    for lines, table in tables.items():
        print(f"\n{lines:,} lines\n{table.round(1).to_string()}")
    if len(tables) > 1:
        small, large = args.lines[0], args.lines[-1]
        a, b = tables[small], tables[large]
        columns = ["wall_s", "cpu_s", "peak_mb", "written_mb"]
        # Below half a second (or half a megabyte) a figure is start-up noise: no growth is read from it.
        growth = (b[columns] / a[columns].where(a[columns] >= 0.5)).replace(math.inf, math.nan)
        per_tenfold = growth ** (1 / math.log10(large / small))
        # tenfolds still to go: in lines, or for SentencePiece in the sentences it is given
        lines_left = math.log10(RECIPE_LINES / large)
        sentences_left = math.log10(min(RECIPE_LINES, sentence_cap) / min(large, sentence_cap))
        tenfolds = pd.Series([sentences_left if rule in SAMPLED else lines_left for rule in b.index], index=b.index)
        projected = b[columns] * per_tenfold.pow(tenfolds, axis=0)
        run_growth = elapsed[large] / elapsed[small]
        run_projected = elapsed[large] * (run_growth ** (1 / math.log10(large / small))) ** lines_left
        print(f"\ngrowth from {small:,} to {large:,} lines ({large / small:g}x the data; '-': too small to tell)")
        print(growth.round(2).to_string(na_rep="-"))
        print(f"\nprojected to {RECIPE_LINES:,} lines\n{projected.round(0).to_string(na_rep='-')}")
        print(f"\nthe whole run (elapsed, --cores {args.cores}): {elapsed[small]:.0f} s, {elapsed[large]:.0f} s "
              f"(x{run_growth:.1f}); projected {run_projected / 3600:.1f} h")
        print(f"projected: CPU {projected['cpu_s'].sum() / 3600:.1f} h over the rules that could be measured, "
              f"largest peak {projected['peak_mb'].max() / 1000:.1f} GB ({projected['peak_mb'].idxmax()}), "
              f"written {projected['written_mb'].sum() / 1000:.0f} GB")


if __name__ == "__main__":
    main()
