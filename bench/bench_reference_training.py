"""Does the project's training loop learn as well as a trusted one? A longer run of tests/library/test_reference_training.py.

    .venv/bin/python bench/bench_reference_training.py                      # 2000 steps, dropout 0.1
    .venv/bin/python bench/bench_reference_training.py --steps 300 --dropout 0 --keras-sparse-norm

The project's loop (train.main, as the pipeline calls it, settings from the schema's defaults plus this command's)
and Hugging Face's BertForPreTraining in a plain PyTorch loop (tests/fixtures/hf_reference_training.py) train the same tiny
BERT from the same initial weights on the same batches in the same order, with the same optimizer. Printed and
written (--out: reference_training.json, reference_training.png): both curves (masked-LM and next-sentence loss per
log window), their largest difference, both final windows, and both models' held-out masked-LM and next-sentence
accuracy and loss on a shard neither trained on. --keras-sparse-norm adds a third run: the reference clipping by
the global norm Keras computes (see hf_reference_training.train). With dropout on, the two sides' masks differ
(other generators): the curves differ as two seeds do. All figures come from this run, on this machine.
"""

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "scripts"), os.path.join(ROOT, "tests", "fixtures")]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import hf_reference_training as ref  # noqa: E402
import synthetic_data  # noqa: E402
from bert_pretraining.training import train  # noqa: E402
from bert_pretraining.training import train_settings  # noqa: E402

LOSSES = ("mlm_loss", "nsp_loss")
SHOWN = ("masked_lm_accuracy", "next_sentence_accuracy", "masked_lm_loss", "next_sentence_loss")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--log-every-steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--intermediate-size", type=int, default=256)
    p.add_argument("--vocab-size", type=int, default=512)
    p.add_argument("--dropout", type=float, default=0.1, help="hidden and attention dropout (BERT's 0.1)")
    p.add_argument("--max-seq-length", type=int, default=64)
    p.add_argument("--max-predictions-per-seq", type=int, default=10)
    p.add_argument("--train-shards", type=int, default=3)
    p.add_argument("--per-shard", type=int, default=1024, help="examples per shard; one more shard is held out")
    p.add_argument("--keras-sparse-norm", action="store_true", help="also run the reference with Keras's clip norm")
    p.add_argument("--out", default=".", help="folder for reference_training.json and .png")
    return p.parse_args(argv)


def bert_config(args):
    config = synthetic_data.tiny_bert_config(
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        max_positions=max(64, args.max_seq_length),
    )
    return dict(
        config,
        intermediate_size=args.intermediate_size,
        hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.dropout,
    )


def run_project(args, config, data, work):
    """train.main as the pipeline calls it: the schema's defaults, this command's values over them."""
    settings = dict(
        train_settings.defaults(),
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        num_train_steps=args.steps,
        log_every_steps=args.log_every_steps,
        save_checkpoints_steps=args.steps,
        keep_checkpoints=1,
        max_seq_length=args.max_seq_length,
        max_predictions_per_seq=args.max_predictions_per_seq,
        shuffle_buffer=args.per_shard,
        seed=args.seed,
        eval_batch_size=64,
        eval_steps=0,
    )
    summary = train.main(
        manifest_path=os.path.join(work, "manifest.json"),
        final_model_dir=os.path.join(work, "model"),
        eval_files=[data["held_out"]],
        phase2_eval_files=[],  # phase 2 is off (the schema's phase2_num_train_steps 0)
        phase2_train_files=[],
        bert_config_path=data["config"],
        vocab_path=data["vocab"],
        train_files=data["train"],
        model_dir=os.path.join(work, "ckpt"),
        **settings,
    )
    return summary["losses"], summary["eval"], settings


def run_reference(args, config, data, settings, **options):
    model = ref.hf_model(ref.initial_pretrainer(config, args.seed), config)
    stream = {key: settings[key] for key in ("batch_size", "max_seq_length", "max_predictions_per_seq", "seed",
                                             "shuffle_buffer")}  # fmt: skip
    windows = ref.train(
        model,
        ref.training_batches(data["train"], **stream),
        steps=args.steps,
        log_every=args.log_every_steps,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        seed=args.seed,
        **options,
    )
    metrics = ref.evaluate(
        model,
        files=[data["held_out"]],
        batch_size=settings["eval_batch_size"],
        max_seq_length=args.max_seq_length,
        max_predictions_per_seq=args.max_predictions_per_seq,
        max_steps=0,
    )
    return windows, metrics


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in zip(axes, LOSSES, ("masked-LM loss", "next-sentence loss")):
        for name, run in runs.items():
            ax.plot([w["step"] for w in run["windows"]], [w[key] for w in run["windows"]], label=name, lw=1.2)
        ax.set(title=title + " (log-window means)", xlabel="step")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    config = bert_config(args)
    runs = {}
    with tempfile.TemporaryDirectory() as work:
        files, config_path = synthetic_data.write_dataset(
            os.path.join(work, "data"),
            shards=args.train_shards + 1,
            per_shard=args.per_shard,
            max_seq_length=args.max_seq_length,
            max_predictions=args.max_predictions_per_seq,
            bert_config=config,
        )
        data = {
            "train": files[:-1],
            "held_out": files[-1],
            "config": config_path,
            "vocab": os.path.join(work, "data", "vocab.txt"),
        }
        start = time.time()
        windows, metrics, settings = run_project(args, config, data, work)
        runs["project (Keras, train.main)"] = {"windows": windows, "held_out": metrics, "seconds": time.time() - start}
        variants = {"reference (PyTorch, BertForPreTraining)": {}}
        if args.keras_sparse_norm:
            variants["reference, Keras's clip norm"] = {"keras_sparse_norm": True}
        for name, options in variants.items():
            start = time.time()
            windows, metrics = run_reference(args, config, data, settings, **options)
            runs[name] = {"windows": windows, "held_out": metrics, "seconds": time.time() - start}

    names = list(runs)
    project = runs[names[0]]["windows"]
    result = {"command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + (argv or sys.argv[1:])), "args": vars(args)}
    result["bert_config"] = config
    result["runs"] = runs
    result["max_window_difference"] = {
        name: ref.max_window_difference(project, runs[name]["windows"]) for name in names[1:]
    }
    for name, run in runs.items():
        last, held = run["windows"][-1], run["held_out"]
        print(f"{name}: {run['seconds']:.0f} s")
        print(f"  final window (steps to {last['step']}): masked-LM loss {last['mlm_loss']:.4f}, "
              f"next-sentence loss {last['nsp_loss']:.4f}")
        print("  held out: " + ", ".join(f"{key} {held[key]:.4f}" for key in SHOWN))
    for name, difference in result["max_window_difference"].items():
        print(f"max |project - {name}| over the windows: "
              + ", ".join(f"{key} {value:.4f}" for key, value in difference.items()))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "reference_training.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot(runs, os.path.join(args.out, "reference_training.png"))
    print(f"wrote {os.path.join(args.out, 'reference_training.json')} and reference_training.png")
    return result


if __name__ == "__main__":
    main()
