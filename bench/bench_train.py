"""Training throughput (sequences/s) of the tiny default BERT and of BERT-base, and of the input pipeline alone.

    .venv/bin/python bench/bench_train.py                 # both models, at the schema's train settings
    .venv/bin/python bench/bench_train.py --models tiny --steps 30 --batch-size 32

The input pipeline must outrun training by >= 10x so that input never limits it; the ratio is printed per model.
On a GPU, model FLOPs utilisation = 6 x parameters x tokens/s / the device's peak (--peak-tflops) is printed too.
The training settings it takes (batch size, sequence shape, learning rate, XLA, steps per execution) are the
training command line's options, with the config schema's defaults (scripts/bert_pretraining/training/train_settings.py).
All figures come from this run, on this machine.
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "scripts"), os.path.join(ROOT, "tests", "fixtures")]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_pretraining.training import input_pipeline  # noqa: E402
from bert_pretraining.modeling import model as bert  # noqa: E402
import synthetic_data  # noqa: E402
from bert_pretraining.training import train_settings  # noqa: E402

SETTINGS = (
    "batch_size",
    "max_seq_length",
    "max_predictions_per_seq",
    "learning_rate",
    "warmup_steps",
    "optimizer",
    "weight_decay",
    "gradient_clip_norm",
    "jit_compile",
    "steps_per_execution",
)

MODELS = {
    # The offline default (config.yaml's model: section) and the recipe's BERT-base.
    "tiny": synthetic_data.tiny_bert_config(vocab_size=4096, hidden_size=128, layers=2, heads=2, max_positions=512),
    "base": dict(
        synthetic_data.tiny_bert_config(vocab_size=32000, hidden_size=768, layers=12, heads=12, max_positions=512),
        intermediate_size=3072,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    ),
}
MODELS["tiny"]["intermediate_size"] = 512


def input_throughput(files, batch_size, seq, preds, batches):
    """Sequences/s that the training pipeline delivers, parsing included."""
    it = iter(input_pipeline.make_dataset(files, batch_size, seq, preds, training=True, seed=1))
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def train_throughput(config, files, *, steps, batch_size, max_seq_length, max_predictions_per_seq, learning_rate,
                     warmup_steps, optimizer, weight_decay, gradient_clip_norm, jit_compile,
                     steps_per_execution):  # fmt: skip
    """Sequences/s of training steps alone: one batch cached in memory, compile time excluded."""
    keras.utils.set_random_seed(0)
    model = bert.build_pretrainer(config)
    schedule = bert.WarmupLinearDecay(learning_rate, warmup_steps, 10_000)
    update = bert.make_optimizer(schedule, optimizer=optimizer, weight_decay=weight_decay,
                                 gradient_clip_norm=gradient_clip_norm, loss_scale=False)  # fmt: skip
    bert.compile_pretrainer(model, update, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    dataset = input_pipeline.make_dataset(files, batch_size, max_seq_length, max_predictions_per_seq, training=True)
    batch = dataset.take(1).cache().repeat()
    model.fit(batch, epochs=1, steps_per_epoch=3 * steps_per_execution, verbose=0)  # build and compile
    start = time.perf_counter()
    model.fit(batch, epochs=1, steps_per_epoch=steps, verbose=0)
    return steps * batch_size / (time.perf_counter() - start), model.count_params()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["tiny", "base"], choices=sorted(MODELS))
    p.add_argument("--steps", type=int, default=20, help="timed training steps (a multiple of steps_per_execution)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="device peak, for MFU (e.g. 989 for H100 bf16)")
    train_settings.add_arguments(p, keys=SETTINGS)
    a = p.parse_args()
    s = train_settings.from_args(p, a, keys=SETTINGS)
    seq, preds = s["max_seq_length"], s["max_predictions_per_seq"]
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; batch {s['batch_size']}; seq {seq}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            config = MODELS[name]
            files, _ = synthetic_data.write_dataset(
                os.path.join(tmp, name),
                shards=2,
                per_shard=2048,
                max_seq_length=seq,
                max_predictions=preds,
                bert_config=config,
            )
            feed = input_throughput(files, s["batch_size"], seq, preds, batches=200)
            speed, params = train_throughput(config, files, steps=a.steps, **s)
            line = (
                f"{name}: {params / 1e6:.1f}M parameters, training {speed:.1f} seq/s, "
                f"input pipeline {feed:.0f} seq/s = {feed / speed:.1f}x training "
                f"({'ok' if feed >= 10 * speed else 'BELOW the 10x target'})"
            )
            if a.peak_tflops:
                line += f", MFU {6 * params * speed * seq / (a.peak_tflops * 1e12):.1%}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
