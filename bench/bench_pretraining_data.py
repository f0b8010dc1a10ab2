"""Benchmark recipe step 7: our create_pretraining_data against the reference, side by side on one shard.

The reference is tf-models-official's `official/nlp/data/create_pretraining_data.py` (the TF2 port of
google-research/bert's), installed into a separate virtual environment. Both run as child processes, one at a time,
on the same generated shard and vocabulary with the recipe's parameters; each child's wall time and peak resident
memory (from wait4) are measured. Prints instances/s and peak memory for each, the two ratios against the targets
(>= 10x the reference's instances/s, <= 1/3 of its peak memory), the statistics of both outputs, and, with
--scaling, our peak memory on a 4x larger shard.

    .venv/bin/python bench/bench_pretraining_data.py [--lines 256000] [--scaling]
"""

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS  # noqa: E402

REFERENCE = "tf-models-official==2.20.0"
RECIPE = dict(
    max_seq_length=128,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    random_seed=34,
    dupe_factor=5,
    short_seq_prob=0.1,
)
# The rest of what the rule passes (the schema's defaults), for our side only.
OURS = dict(do_lower_case=True, strip_accents=None, do_whole_word_mask=False, compression="none", feature_names="bert")
VOC_SIZE, NUM_PLACEHOLDERS = 8192, 256
WORD = re.compile(r"\w+")


def stdlib_documents():
    """One document per standard-library module: its docstrings, split into sentences, normalised as in step 3."""
    docs = []
    stdlib = sysconfig.get_paths()["stdlib"]
    for folder, dirs, files in sorted(os.walk(stdlib)):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "test", "tests", "idlelib"))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                tree = ast.parse(open(os.path.join(folder, name), encoding="utf-8", errors="ignore").read())
            except (SyntaxError, ValueError):
                continue
            sentences = []
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    for sentence in re.split(r"(?<=[.!?])\s+|\n\s*\n", doc or ""):
                        words = WORD.findall(sentence.lower())
                        if words:
                            sentences.append(" ".join(words))
            if len(sentences) >= 2:
                docs.append(sentences)
    return docs


def write_shard(path, lines, seed):
    """`lines` lines of blank-line separated documents, cycling through the stdlib documents in random orders."""
    docs = stdlib_documents()
    rng = random.Random(seed)
    written = 0
    with open(path, "w") as f:
        while written < lines:
            for doc in rng.sample(docs, len(docs)):
                for sentence in doc + [""]:
                    if written == lines:
                        return
                    f.write(sentence + "\n")
                    written += 1


def write_vocab(shard, vocab_path, workdir):
    """Recipe steps 4-5: a SentencePiece unigram model, turned into a WordPiece-style vocab.txt of VOC_SIZE tokens."""
    import sentencepiece as spm

    prefix = os.path.join(workdir, "tokenizer")
    spm.SentencePieceTrainer.train(
        input=shard,
        model_prefix=prefix,
        model_type="unigram",
        vocab_size=VOC_SIZE - NUM_PLACEHOLDERS,
        input_sentence_size=12_800_000,
        shuffle_input_sentence=True,
        bos_id=-1,
        eos_id=-1,
        minloglevel=2,
    )
    tokens = [line.split("\t")[0] for line in open(prefix + ".vocab", encoding="utf-8")][1:]
    tokens = [t[1:] if t.startswith("\u2581") else "##" + t for t in tokens]
    tokens = list(SPECIAL_TOKENS) + tokens
    tokens += [f"[UNUSED_{i}]" for i in range(VOC_SIZE - len(tokens))]
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")


def ensure_reference(venv):
    python = os.path.join(venv, "bin", "python")
    probe = [python, "-c", "import official.nlp.data.create_pretraining_data"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing {REFERENCE} into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", REFERENCE], check=True)
    subprocess.run(probe, check=True)
    return python


# Linux carries a process's peak RSS over fork and exec, so a child started from this (large) process would report
# at least this process's size. A small launcher starts the command instead and reports the command's own peak.
LAUNCHER = """
import os
import subprocess
import sys
import time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=sys.stderr)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status))
"""


def measure(cmd, log_path):
    """Run `cmd` alone; return (wall seconds, peak RSS in bytes) of that command."""
    with open(log_path, "w") as log:
        out = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *cmd], stdout=subprocess.PIPE, stderr=log, text=True
        )
    wall, rss, code = out.stdout.split()
    if int(code) or out.returncode:
        raise SystemExit(f"{cmd[:3]} failed ({code}); see {log_path}")
    return float(wall), int(rss)


def run_reference(python, shard, vocab, out, log):
    cmd = [
        python,
        "-m",
        "official.nlp.data.create_pretraining_data",
        f"--input_file={shard}",
        f"--output_file={out}",
        f"--vocab_file={vocab}",
        "--do_lower_case=True",
    ]
    cmd += [f"--{k}={v}" for k, v in RECIPE.items()]
    return measure(cmd, log)


def run_ours(shard, vocab, out, log, shard_name=None):
    params = dict(RECIPE, shard_name=shard_name, **OURS)
    code = (
        f"import sys; sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})\n"
        "from bert_pretraining.examples.pretraining_data import create_pretraining_data\n"
        f"create_pretraining_data({shard!r}, {vocab!r}, {out!r}, {out + '.stats.json'!r}, **{params!r})\n"
    )
    return measure([sys.executable, "-c", code], log)


def record_stats(path, mask_id):
    """The issue's figures, computed from the records alone (the same code for both outputs)."""
    code = f"""
import json
import sys
import numpy as np
import tensorflow as tf
sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
from bert_pretraining.training import input_pipeline
L, P = {RECIPE['max_seq_length']}, {RECIPE['max_predictions_per_seq']}
spec = input_pipeline.feature_spec("bert", L, P)  # both writers' names (the reference writes the bert scheme)
acc = dict(n=0, length=0, full=0, rn=0, masked=0, mask=0, same=0)
for b in tf.data.TFRecordDataset({path!r}).batch(4096).map(lambda x: tf.io.parse_example(x, spec)).as_numpy_iterator():
    length = b["input_mask"].sum(1); w = b["masked_lm_weights"] > 0
    now = np.take_along_axis(b["input_ids"], b["masked_lm_positions"], 1)
    acc["n"] += len(length); acc["length"] += int(length.sum()); acc["full"] += int((length == L).sum())
    acc["rn"] += int(b["next_sentence_labels"].sum()); acc["masked"] += int(w.sum())
    acc["mask"] += int(((now == {mask_id}) & w).sum()); acc["same"] += int(((now == b["masked_lm_ids"]) & w).sum())
n, m = acc["n"], acc["masked"]
print(json.dumps(dict(instances=n, mean_seq_length=acc["length"] / n, full_length=acc["full"] / n,
      random_next=acc["rn"] / n, masked_per_instance=m / n, mask=acc["mask"] / m, unchanged=acc["same"] / m,
      random=1 - (acc["mask"] + acc["same"]) / m)))
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=256_000)
    parser.add_argument("--workdir", default="/tmp/bench_pretraining_data")
    parser.add_argument("--ref-venv", default="/tmp/bench-ref-venv")
    parser.add_argument("--scaling", action="store_true", help="also run ours on a 4x larger shard")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--spread",
        type=int,
        default=0,
        help="also run ours N times under other shard names (other seeds): the run-to-run spread of the figures",
    )
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    shard = os.path.join(args.workdir, f"shard_{args.lines}")
    vocab = os.path.join(args.workdir, "vocab.txt")
    if not os.path.exists(shard):
        write_shard(shard, args.lines, seed=1)
    if not os.path.exists(vocab):
        write_vocab(shard, vocab, args.workdir)
    print(f"shard: {shard} ({args.lines} lines), vocab: {vocab}; parameters: {RECIPE}", flush=True)

    ours_out = os.path.join(args.workdir, "ours.tfrecord")
    wall, rss = run_ours(shard, vocab, ours_out, ours_out + ".log")
    instances = json.load(open(ours_out + ".stats.json"))["instances"]
    ours = dict(
        wall_s=wall,
        peak_rss_mb=rss / 2**20,
        instances=instances,
        instances_per_s=instances / wall,
        output_mb=os.path.getsize(ours_out) / 2**20,
    )
    print("ours     ", json.dumps({k: round(v, 2) for k, v in ours.items()}), flush=True)

    mask_id = [t.strip() for t in open(vocab)].index(SPECIAL_TOKENS.mask)
    if not args.skip_reference:
        python = ensure_reference(args.ref_venv)
        ref_out = os.path.join(args.workdir, "reference.tfrecord")
        wall, rss = run_reference(python, shard, vocab, ref_out, ref_out + ".log")
        ref_stats = record_stats(ref_out, mask_id)
        ref = dict(
            wall_s=wall,
            peak_rss_mb=rss / 2**20,
            instances=ref_stats["instances"],
            instances_per_s=ref_stats["instances"] / wall,
            output_mb=os.path.getsize(ref_out) / 2**20,
        )
        print("reference", json.dumps({k: round(v, 2) for k, v in ref.items()}), flush=True)
        speed = ours["instances_per_s"] / ref["instances_per_s"]
        memory = ours["peak_rss_mb"] / ref["peak_rss_mb"]
        print(
            f"instances/s ratio (ours / reference): {speed:.1f}x  (target >= 10x: {'met' if speed >= 10 else 'NOT met'})"
        )
        print(
            f"peak memory ratio (ours / reference): {memory:.3f}  (target <= 0.333: {'met' if memory <= 1 / 3 else 'NOT met'})"
        )
        print("statistics, reference:", json.dumps({k: round(v, 4) for k, v in ref_stats.items()}))
    print(
        "statistics, ours:     ",
        json.dumps({k: round(v, 4) for k, v in record_stats(ours_out, mask_id).items()}),
    )

    if args.spread:
        # One target length per document and pass shapes all of that document's instances, so the figures of one
        # run vary far more than their per-instance standard errors suggest; this shows by how much.
        runs = [json.load(open(ours_out + ".stats.json"))]
        for i in range(args.spread):
            out = os.path.join(args.workdir, "spread.tfrecord")
            run_ours(shard, vocab, out, out + ".log", shard_name=f"spread_{i}")
            runs.append(json.load(open(out + ".stats.json")))
        keys = [
            "instances",
            "mean_seq_length",
            "full_length_share",
            "random_next_share",
            "masked_per_instance",
        ]
        spread = {
            k: f"{np.mean([r[k] for r in runs]):.4g} +- {np.std([r[k] for r in runs], ddof=1):.2g}"
            for k in keys
        }
        print(f"ours over {len(runs)} seeds (mean +- sd):", json.dumps(spread))

    if args.scaling:
        big = os.path.join(args.workdir, f"shard_{4 * args.lines}")
        if not os.path.exists(big):
            write_shard(big, 4 * args.lines, seed=2)
        big_out = os.path.join(args.workdir, "ours_4x.tfrecord")
        wall, rss = run_ours(big, vocab, big_out, big_out + ".log")
        n = json.load(open(big_out + ".stats.json"))["instances"]
        print(
            f"ours on {4 * args.lines} lines: {wall:.1f} s, {n / wall:.0f} instances/s, peak {rss / 2**20:.0f} MB "
            f"= {rss / 2**20 / ours['peak_rss_mb']:.2f}x the peak on {args.lines} lines"
        )


if __name__ == "__main__":
    main()
