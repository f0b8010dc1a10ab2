"""Accelerator benchmark: BERT-base pre-training steps/s and model FLOPs utilisation (MFU) on this machine's devices.

    .venv/bin/python bench/bench_device.py                  # BERT-base, sequence 128 and 512, TensorFlow and JAX
    .venv/bin/python bench/bench_device.py --smoke          # a tiny model, a few steps: runs on a CPU in seconds

Each backend runs in a process of its own (Keras fixes its backend per process), one after the other, with the
training code's own choices: the model of modeling/model.py (build_pretrainer, make_optimizer,
compile_pretrainer) under XLA (jit_compile), every device of the backend (training/devices.py's distribution:
MirroredStrategy or keras.distribution.DataParallel), and the precision that train.mixed_precision `auto` picks
(devices.choose_precision: bfloat16 on TPUs and on GPUs of compute capability 8.0 and later, float16 with loss
scaling on 7.x). Input is one
synthetic batch of the model's inputs (modeling/model.py INPUTS, as training/input_pipeline.py feeds them) kept
in memory, so that only the training step is timed; compilation and a warm-up are left out.

Model FLOPs per sequence, from the model config (h hidden size, L layers, I intermediate size, V vocabulary,
s sequence length, p masked-LM predictions per sequence):

    6 * [s*L*(4h^2 + 2hI) + p*(h^2 + V*h) + h^2 + 2h] + 12*L*h*s^2

i.e. 2 FLOPs per weight per token forward, 3x for forward and backward, over the encoder's weight matrices for
every token, the masked-LM head (transform and tied output embedding) for the p predicted positions only, the
pooler and next-sentence head once; plus the attention scores and their weighted sum (4*s^2*h per layer
forward, 3x). Embedding lookups, layer norms, softmax and biases are not counted. MFU = model FLOPs/s over the
published dense peak of the devices used, at the precision used (PEAKS below, with their sources).

The whole run is bounded by --max-seconds (default 420: under 8 minutes with start-up): each backend gets an
equal share of what is left, each sequence length half of its backend's; the number of timed steps is cut to
fit. With no accelerator visible to a backend it says so and measures nothing (except with --smoke).
The last line compares the backends: JAX's sequences/s over TensorFlow's, measured in this run.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Published dense peak TFLOP/s per device (a GPU; a TPU chip, or for v2/v3, whose JAX devices are TensorCores,
# a core: half a chip), by the precision of the matrix multiplications. `float32` on Ampere and later GPUs is
# TF32, which TensorFlow and JAX use for float32 matmuls by default; on V100 and T4 it is plain FP32.
# (device-name pattern, name, {precision: TFLOP/s}, source). First match wins.
PEAKS = [
    (r"H100.*PCIe", "H100 PCIe", {"mixed_bfloat16": 756, "float32": 378}, "NVIDIA H100 datasheet (dense)"),
    (r"H100(?!.*NVL)", "H100 SXM", {"mixed_bfloat16": 989, "float32": 495}, "NVIDIA H100 datasheet (dense)"),
    (r"H200(?!.*NVL)", "H200 SXM", {"mixed_bfloat16": 989, "float32": 495}, "NVIDIA H200 datasheet (dense)"),
    (r"A100", "A100", {"mixed_bfloat16": 312, "float32": 156}, "NVIDIA A100 datasheet (dense)"),
    (r"\bL4\b", "L4", {"mixed_bfloat16": 121, "float32": 60}, "NVIDIA L4 datasheet (dense)"),
    (r"\bT4\b", "T4", {"float32": 8.1}, "NVIDIA T4 datasheet (FP32; no bfloat16)"),
    (r"V100.*PCI", "V100 PCIe", {"float32": 14}, "NVIDIA V100 datasheet (FP32; no bfloat16)"),
    (r"V100", "V100 SXM2", {"float32": 15.7}, "NVIDIA V100 datasheet (FP32; no bfloat16)"),
    (r"TPU v2", "TPU v2 core", {"mixed_bfloat16": 22.5}, "Cloud TPU docs, v2: 45 TFLOP/s bf16 a chip, 2 cores"),
    (r"TPU v3", "TPU v3 core", {"mixed_bfloat16": 61.5}, "Cloud TPU docs, v3: 123 TFLOP/s bf16 a chip, 2 cores"),
    (r"TPU v4", "TPU v4 chip", {"mixed_bfloat16": 275}, "Cloud TPU docs, v4: 275 TFLOP/s bf16 a chip"),
    (r"TPU v5 ?(lite|e)", "TPU v5e chip", {"mixed_bfloat16": 197}, "Cloud TPU docs, v5e: 197 TFLOP/s bf16 a chip"),
    (r"TPU v5p?$", "TPU v5p chip", {"mixed_bfloat16": 459}, "Cloud TPU docs, v5p: 459 TFLOP/s bf16 a chip"),
    (r"TPU v6 ?(lite|e)", "TPU v6e chip", {"mixed_bfloat16": 918}, "Cloud TPU docs, v6e: 918 TFLOP/s bf16 a chip"),
]

# (sequence length, masked-LM predictions per sequence, batch per device): BERT's two phases (128 with 20
# predictions, 512 with 80) at batch sizes that fit a 16 GB GPU or more.
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=32000)
SMOKE = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=512)
SHAPES = {128: (20, 256), 512: (80, 64)}
SMOKE_SHAPES = {32: (5, 4), 64: (10, 4)}


def bert_config(sizes):
    """The recipe's model config (step 8) with `sizes`."""
    return dict(
        sizes,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=2,
        initializer_range=0.02,
    )


def model_flops(config, seq, preds):
    """Training FLOPs of one sequence (the module docstring's formula)."""
    h, layers, inter, vocab = (
        config[k] for k in ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size")
    )
    weights = seq * layers * (4 * h * h + 2 * h * inter) + preds * (h * h + vocab * h) + h * h + 2 * h
    return 6 * weights + 12 * layers * h * seq * seq


def peak_of(device_name, precision):
    """(peak TFLOP/s of one device at `precision`, its name, source), or None for a device the table lacks."""
    for pattern, name, peaks, source in PEAKS:
        if re.search(pattern, device_name) and precision in peaks:
            return peaks[precision], name, source
    return None


# ---- one backend, in its own process ----------------------------------------------------------------------------


def synthetic_batch(batch, seq, preds, vocab):
    """(inputs, labels, sample weights) of one batch, keyed as input_pipeline.to_model_io gives them."""
    import numpy as np

    rng = np.random.default_rng(0)
    positions = np.sort(np.stack([rng.choice(np.arange(1, seq), preds, replace=False) for _ in range(batch)]), axis=1)
    inputs = {
        "token_ids": rng.integers(5, vocab, (batch, seq), dtype=np.int32),
        "segment_ids": (np.arange(seq)[None, :] >= seq // 2).repeat(batch, 0).astype(np.int32),
        "padding_mask": np.ones((batch, seq), np.int32),
        "masked_lm_positions": positions.astype(np.int32),
    }
    labels = {"mlm": rng.integers(5, vocab, (batch, preds), dtype=np.int32), "nsp": rng.integers(0, 2, batch)}
    weights = {"mlm": np.ones((batch, preds), np.float32), "nsp": np.ones(batch, np.float32)}
    return inputs, labels, weights


def device_name(backend, platform):
    if platform == "cpu":
        return "CPU"
    if backend == "jax":
        import jax

        return jax.devices()[0].device_kind
    import tensorflow as tf

    return tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
        "device_name", "GPU"
    )


def time_steps(config, seq, preds, batch, *, scope, precision, steps, until):
    """(sequences/s, steps timed) of training steps on one in-memory batch; compilation and warm-up excluded.
    The timed steps are cut so that they end by `until` (time.monotonic())."""
    import keras
    import tensorflow as tf

    from bert_pretraining.modeling import model as bert
    from bert_pretraining.training import train_settings

    keras.utils.set_random_seed(0)
    update = {key: train_settings.defaults()[key] for key in ("optimizer", "weight_decay", "gradient_clip_norm")}
    with scope():
        model = bert.build_pretrainer(config)
        optimizer = bert.make_optimizer(
            bert.WarmupLinearDecay(1e-4, 10, 1_000_000), **update, loss_scale=precision == "mixed_float16"
        )
        bert.compile_pretrainer(model, optimizer, jit_compile=True)
    data = tf.data.Dataset.from_tensors(synthetic_batch(batch, seq, preds, config["vocab_size"])).repeat()
    model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # build, compile, warm up
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)
    per_step = (time.perf_counter() - start) / 2
    steps = max(2, min(steps, int((until - time.monotonic()) / max(per_step, 1e-6))))
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return steps * batch / (time.perf_counter() - start), steps


def worker(backend, shapes, sizes, *, steps, seconds, smoke):
    """Measure each shape under `backend` in this process; prints one JSON line per shape."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from bert_pretraining.training import devices

    keras = devices.select_backend(backend)
    scope, replicas, platform = devices.distribution(backend=backend, device="auto")
    precision = devices.precision_here(setting="auto", platform=platform, backend=backend)
    keras.mixed_precision.set_dtype_policy(precision)
    name = device_name(backend, platform)
    base = dict(backend=backend, platform=platform, device=name, devices=replicas, precision=precision)
    deadline = time.monotonic() + seconds
    config = bert_config(sizes)
    for number, (seq, (preds, batch)) in enumerate(sorted(shapes.items())):
        row = dict(base, seq=seq, preds=preds, flops_per_seq=model_flops(config, seq, preds))
        if platform == "cpu" and not smoke:
            row["skipped"] = f"no accelerator visible to {backend} (CPU only); --smoke runs a tiny model on a CPU"
        else:
            until = time.monotonic() + max(1.0, (deadline - time.monotonic()) / (len(shapes) - number))
            for attempt in range(3):  # halve the batch when it does not fit the device's memory
                try:
                    speed, timed = time_steps(
                        config, seq, preds, batch * replicas, scope=scope, precision=precision, steps=steps, until=until
                    )
                    row.update(batch=batch * replicas, seq_per_s=speed, steps=timed)
                    break
                except Exception as error:  # XLA's and TensorFlow's out-of-memory errors have no common type
                    if not re.search(r"RESOURCE_EXHAUSTED|out of memory|OOM", str(error)) or attempt == 2:
                        raise
                    batch //= 2
        print("RESULT " + json.dumps(row), flush=True)


# ---- the run: one process a backend, one table ------------------------------------------------------------------


def run_backend(backend, args, seconds):
    """The rows one backend's process reports, or one row saying why it gave none."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", backend, "--steps", str(args.steps)]
    command += ["--max-seconds", str(seconds)] + (["--smoke"] if args.smoke else [])
    command += ["--seq-lengths", *map(str, args.seq_lengths)]
    command += ["--batch-sizes", *map(str, args.batch_sizes)] if args.batch_sizes else []
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        return [dict(backend=backend, failed=f"over the time limit ({seconds + 120:.0f} s)")]
    rows = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        rows.append(dict(backend=backend, failed=f"exit {done.returncode}: {tail[:300]}"))
    return rows


def print_rows(rows):
    print(
        f"{'backend':<11} {'seq':>4} {'batch':>5} {'dev':>3} {'precision':<15} {'seq/s':>9} {'TFLOP/s':>8} {'MFU':>6}  device"
    )
    notes = set()
    for r in rows:
        if "failed" in r or "skipped" in r:
            print(f"{r['backend']:<11} {r.get('seq', ''):>4} {r.get('failed') or r.get('skipped')}")
            continue
        tflops = r["seq_per_s"] * r["flops_per_seq"] / 1e12
        peak = peak_of(r["device"], r["precision"])
        mfu = f"{tflops / (peak[0] * r['devices']):.1%}" if peak else "n/a"
        print(f"{r['backend']:<11} {r['seq']:>4} {r['batch']:>5} {r['devices']:>3} {r['precision']:<15} "
              f"{r['seq_per_s']:>9.1f} {tflops:>8.2f} {mfu:>6}  {r['device']} ({r['platform']}, {r['steps']} steps)")  # fmt: skip
        notes.add(f"peak for MFU: {peak[1]}, {peak[0]} TFLOP/s a device at {r['precision']} ({peak[2]})" if peak
                  else f"no published peak in the table for {r['device']} at {r['precision']}: MFU not given")  # fmt: skip
    for note in sorted(notes):
        print(note)
    measured = {(r["backend"], r["seq"]): r["seq_per_s"] for r in rows if "seq_per_s" in r}
    for seq in sorted({seq for _, seq in measured}):
        if ("jax", seq) in measured and ("tensorflow", seq) in measured:
            print(f"seq {seq}: JAX / TensorFlow = {measured['jax', seq] / measured['tensorflow', seq]:.2f}x")
    if rows and all(r.get("platform") == "cpu" or "failed" in r for r in rows):
        print("no accelerator present: " + ("these are CPU figures of a tiny model" if any("seq_per_s" in r for r in rows)
                                            else "nothing measured"))  # fmt: skip


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax"])
    p.add_argument("--seq-lengths", nargs="+", type=int, default=None, help="default 128 512 (--smoke: 32 64)")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=None,
                   help="batch per device, one per sequence length (default 256 at 128, 64 at 512; --smoke: 4)")  # fmt: skip
    p.add_argument("--steps", type=int, default=100, help="most timed steps per measurement (cut to the time bound)")
    p.add_argument("--max-seconds", type=float, default=420, help="bound on the whole run's measuring")
    p.add_argument("--smoke", action="store_true", help="a tiny model, a few steps: any machine, CPU included")
    p.add_argument("--worker", choices=["tensorflow", "jax"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = SMOKE_SHAPES if args.smoke else SHAPES
    args.seq_lengths = args.seq_lengths or sorted(defaults)
    if args.batch_sizes and len(args.batch_sizes) != len(args.seq_lengths):
        p.error("--batch-sizes needs one size per sequence length")
    if args.smoke:
        args.steps = min(args.steps, 3)
    shapes = {}
    for i, seq in enumerate(args.seq_lengths):
        preds, batch = defaults.get(seq, (max(1, round(seq * 0.15)), 4 if args.smoke else 64))
        shapes[seq] = (preds, args.batch_sizes[i] if args.batch_sizes else batch)
    if args.worker:
        return worker(args.worker, shapes, SMOKE if args.smoke else BASE, steps=args.steps,
                      seconds=args.max_seconds, smoke=args.smoke)  # fmt: skip
    print(
        f"{'smoke run, tiny model' if args.smoke else 'BERT-base'}; sequence (predictions, batch per device): {shapes}"
    )
    print("model FLOPs/sequence = 6*[s*L*(4h^2+2hI) + p*(h^2+V*h) + h^2+2h] + 12*L*h*s^2", flush=True)
    rows, deadline = [], time.monotonic() + args.max_seconds
    for number, backend in enumerate(args.backends):
        seconds = max(10.0, (deadline - time.monotonic()) / (len(args.backends) - number))
        rows += run_backend(backend, args, seconds)
    print_rows(rows)
    return 0 if rows and not any("failed" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
