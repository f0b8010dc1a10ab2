"""Training runs for real on a tiny model: falling loss, checkpoints, resume after SIGTERM with the whole curve
kept, refusal of a checkpoint of another model config and of a second trainer on one folder, held-out
evaluation, the JAX data-parallel path, and the Snakemake rules."""

import collections
import glob
import inspect
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_pretraining.training import checkpoints  # noqa: E402
from bert_pretraining.training import evaluate  # noqa: E402
from bert_pretraining.modeling import model as bert  # noqa: E402
from bert_pretraining.training import train  # noqa: E402
from bert_pretraining.training import train_cli  # noqa: E402
from bert_pretraining.training import train_settings  # noqa: E402
from bert_pretraining.report import training_plots  # noqa: E402
from bert_pretraining.report.report_common import figure_data  # noqa: E402
from synthetic_data import make_examples, tiny_bert_config, write_dataset  # noqa: E402

from workflow import ROOT  # noqa: E402
TRAIN_CLI = os.path.join(ROOT, "scripts", "train_cli.py")
SEQ, PREDS = 32, 5
SHARD_SEEDS = {"shard_0002.tfrecord": 2}  # write_dataset seeds each shard with its index

# The schema's defaults (the only ones), made small and fast.
FAST = dict(
    train_settings.defaults(),
    batch_size=32,
    learning_rate=2e-3,
    warmup_steps=20,
    log_every_steps=25,
    max_seq_length=SEQ,
    max_predictions_per_seq=PREDS,
    shuffle_buffer=512,
    seed=7,
)
TRAIN_ONLY = {key: value for key, value in FAST.items() if key not in ("eval_batch_size", "eval_steps")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("data"))
    files, config_path = write_dataset(folder, shards=3, per_shard=256, max_seq_length=SEQ, max_predictions=PREDS)
    return {"train": files[:2], "held_out": files[2], "config": config_path, "vocab": os.path.join(folder, "vocab.txt")}


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = train.main(
        manifest_path=str(out / "manifest.json"),
        final_model_dir=str(out / "model"),
        eval_files=[data["held_out"]],
        phase2_eval_files=[],
        bert_config_path=data["config"],
        vocab_path=data["vocab"],
        train_files=data["train"],
        phase2_train_files=[],
        model_dir=str(out / "ckpt"),
        **dict(FAST, num_train_steps=150, save_checkpoints_steps=50, keep_checkpoints=2, eval_steps=0),
    )
    return out, summary


def cli_args(data, out, steps, *extra):
    return [
        sys.executable,
        TRAIN_CLI,
        "--bert-config",
        data["config"],
        "--vocab",
        data["vocab"],
        "--train-files",
        *data["train"],
        "--eval-files",
        data["held_out"],
        "--model-dir",
        str(out / "ckpt"),
        "--manifest",
        str(out / "manifest.json"),
        "--final-model-dir",
        str(out / "model"),
        "--num-train-steps",
        str(steps),
        "--batch-size",
        "32",
        "--learning-rate",
        "2e-3",
        "--warmup-steps",
        "20",
        "--log-every-steps",
        "25",
        "--max-seq-length",
        str(SEQ),
        "--max-predictions-per-seq",
        str(PREDS),
        "--eval-steps",
        "2",
        *extra,
    ]


def test_the_schema_holds_the_only_defaults_and_the_command_line_follows_it():
    paths = ["--bert-config", "c", "--vocab", "v", "--train-files", "t", "--model-dir", "m", "--manifest", "j",
             "--final-model-dir", "f"]  # fmt: skip
    args, settings = train_cli.parse_args(paths)
    assert settings == train_settings.defaults() and settings["batch_size"] == 128 and settings["jit_compile"] == "auto"
    assert args.eval_files == [] and args.model_dir == "m"
    # train(), main() and each phase's train_phase() take exactly the listed settings (phase 2's under their
    # prefix), and none has a default of its own.
    signature = lambda f: inspect.signature(f).parameters  # noqa: E731
    parameters = {**signature(train.train), **signature(train.main), **signature(train.train_phase)}
    inputs = {"bert_config_path", "vocab_path", "train_files", "model_dir", "manifest_path", "final_model_dir",
              "eval_files", "phase2_train_files", "phase2_eval_files", "settings", "model", "name", "section", "run"}  # fmt: skip
    phase2 = {train_settings.PHASE2 + key for key in train_settings.KEYS["phase2"]}
    assert set(train_cli.SETTINGS) == (set(parameters) - inputs) | phase2
    assert set(train_settings.KEYS["phase2"]) <= set(signature(train.train_phase))
    assert all(p.default is inspect.Parameter.empty for p in parameters.values())
    # Every value round-trips through the command line's text, booleans included.
    other = dict(settings, backend="jax", jit_compile=False, learning_rate=3e-4, batch_size=8, seed=0)
    assert train_cli.parse_args(paths + train_settings.to_argv(other))[1] == other
    # The schema checks the command line's values as it checks the config's.
    for wrong, says in [("--batch-size=0", "--batch-size: 0 is less than the minimum of 1"),
                        ("--device=npu", "--device: invalid choice: 'npu'"),
                        ("--learning-rate=fast", "--learning-rate: 'fast' is not a number")]:  # fmt: skip
        result = subprocess.run([sys.executable, TRAIN_CLI, *paths, wrong], capture_output=True, text=True)
        assert result.returncode == 2 and says in result.stderr, result.stderr


def test_loss_falls(trained):
    _, summary = trained
    losses = [entry["loss"] for entry in summary["losses"]]
    assert [entry["step"] for entry in summary["losses"]] == list(range(25, 151, 25))
    assert losses[-1] < losses[0] - 0.8, losses
    assert summary["losses"][-1]["mlm_accuracy"] > 0.1


def test_manifest_checkpoints_and_tensorboard(trained):
    out, summary = trained
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["final_step"] == 150 and manifest["start_step"] == 0
    assert manifest["config_hash"] == summary["config_hash"] and len(manifest["config_hash"]) == 12
    assert manifest["train_seconds"] > 0 and manifest["sequences_per_second"] > 0
    # Named by step, the last `keep_checkpoints` kept, nothing half-written left behind.
    assert sorted(os.listdir(out / "ckpt")) == ["ckpt-00000100.npz", "ckpt-00000150.npz", "train", "trainer.lock"]
    assert manifest["checkpoint"] == str(out / "ckpt" / "ckpt-00000150.npz")
    # The log windows are kept with the weights they led to.
    assert checkpoints.load(manifest["checkpoint"])[0]["history"] == manifest["losses"]
    assert [s["start_step"] for s in manifest["sessions"]] == [0]
    assert {entry["session"] for entry in manifest["losses"]} == {0}
    assert sorted(os.listdir(out / "model")) == ["bert_config.json", "pretrainer.weights.h5", "vocab.txt"]
    tags = collections.Counter()
    for events in glob.glob(str(out / "ckpt" / "train" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(events):
            tags.update(value.tag for value in event.summary.value)
    assert tags["loss"] == 6 and tags["learning_rate"] == 6 and tags["sequences_per_second"] == 6


def test_held_out_accuracy_beats_most_frequent_token(trained, data):
    _, summary = trained
    metrics = summary["eval"]
    assert metrics["examples"] == 256
    assert metrics["masked_lm_accuracy"] > 3 * metrics["most_frequent_token_accuracy"]
    # The baseline, counted independently from the examples that were written.
    examples = make_examples(256, 64, SEQ, PREDS, seed=SHARD_SEEDS["shard_0002.tfrecord"])
    counts = collections.Counter(i for e in examples for i, w in zip(e["masked_lm_ids"], e["masked_lm_weights"]) if w)
    assert metrics["masked_tokens"] == sum(counts.values())
    assert metrics["most_frequent_token_accuracy"] == pytest.approx(max(counts.values()) / sum(counts.values()))


def test_evaluate_agrees_with_keras_metrics(trained, data, tmp_path):
    out, _ = trained
    metrics = evaluate.main(
        model_dir=str(out / "model"),
        eval_files=[data["held_out"]],
        output=str(tmp_path / "m.json"),
        batch_size=256,
        max_seq_length=SEQ,
        max_predictions_per_seq=PREDS,
        max_steps=0,
    )
    assert json.loads((tmp_path / "m.json").read_text()) == metrics
    model = bert.build_pretrainer(bert.read_bert_config(out / "model" / "bert_config.json"))
    model.load_weights(out / "model" / "pretrainer.weights.h5")
    bert.compile_pretrainer(model, bert.make_optimizer(bert.WarmupLinearDecay(1e-3, 1, 10)))
    from bert_pretraining.training import input_pipeline

    x, y, w = next(input_pipeline.make_dataset(data["held_out"], 256, SEQ, PREDS, training=False).as_numpy_iterator())
    keras_metrics = model.evaluate(x, y, sample_weight=w, batch_size=256, verbose=0, return_dict=True)
    assert metrics["masked_lm_loss"] == pytest.approx(keras_metrics["mlm_loss"], rel=1e-4)
    assert metrics["masked_lm_accuracy"] == pytest.approx(keras_metrics["mlm_accuracy"], abs=1e-6)
    assert metrics["next_sentence_accuracy"] == pytest.approx(keras_metrics["nsp_accuracy"], abs=1e-6)
    assert metrics["next_sentence_loss"] == pytest.approx(keras_metrics["nsp_loss"], rel=1e-4)


def test_checkpoint_restores_model_and_optimizer_exactly(trained, data):
    out, _ = trained
    config = bert.read_bert_config(data["config"])
    model = bert.build_pretrainer(config)
    optimizer = bert.make_optimizer(bert.WarmupLinearDecay(2e-3, 20, 150))
    bert.compile_pretrainer(model, optimizer)
    optimizer.build(model.trainable_variables)
    config_hash = bert.config_hash(config, open(data["vocab"]).read())
    meta = checkpoints.restore(model, str(out / "ckpt" / "ckpt-00000150.npz"), config_hash=config_hash)
    assert meta["step"] == 150 and int(optimizer.iterations.numpy()) == 150
    saved = np.load(out / "ckpt" / "ckpt-00000150.npz")
    variables = checkpoints.state_variables(model)
    assert len(variables) == len(meta["variables"]) > 2 * len(model.trainable_variables)  # moments included
    for i, variable in enumerate(variables):
        np.testing.assert_array_equal(variable.numpy(), saved[f"v{i}"])
    # The final weights are those of the last checkpoint.
    final = bert.build_pretrainer(config)
    final.load_weights(out / "model" / "pretrainer.weights.h5")
    for a, b in zip(final.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_round_trip_with_dropout_seeds(tmp_path):
    """Dropout's seed state is saved too, and a second model in the same process (other name counters) loads it."""
    config = dict(tiny_bert_config(), hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)

    def build():
        model = bert.build_pretrainer(config)
        optimizer = bert.make_optimizer(bert.WarmupLinearDecay(1e-3, 1, 10))
        bert.compile_pretrainer(model, optimizer)
        optimizer.build(model.trainable_variables)
        return model

    first = build()
    assert any("seed_generator" in v.path for v in first.variables)
    for v in checkpoints.state_variables(first):
        v.assign(np.random.default_rng(len(v.path)).integers(0, 100, v.shape).astype(v.dtype))
    path = checkpoints.save(first, str(tmp_path), step=7, meta={"config_hash": "h", "bert_config": config}, keep=1)
    second = build()
    assert checkpoints.restore(second, path, config_hash="h")["step"] == 7
    for a, b in zip(checkpoints.state_variables(first), checkpoints.state_variables(second), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_of_another_model_config_is_refused(trained, data, tmp_path):
    out, _ = trained
    other = dict(tiny_bert_config(), vocab_size=72)
    (tmp_path / "bert_config.json").write_text(json.dumps(other))
    (tmp_path / "vocab.txt").write_text("\n".join(f"t{i}" for i in range(72)) + "\n")
    before = sorted(os.listdir(out / "ckpt"))
    with pytest.raises(checkpoints.CheckpointMismatch, match="another model config.*vocab_size 64"):
        train.train(
            bert_config_path=str(tmp_path / "bert_config.json"),
            vocab_path=str(tmp_path / "vocab.txt"),
            train_files=data["train"],
            phase2_train_files=[],
            model_dir=str(out / "ckpt"),
            **dict(TRAIN_ONLY, num_train_steps=200),
        )
    assert sorted(os.listdir(out / "ckpt")) == before


def test_each_model_config_trains_in_its_own_folder(data, tmp_path):
    other = dict(tiny_bert_config(), hidden_size=16)
    (tmp_path / "bert_config.json").write_text(json.dumps(other))
    dirs = []
    for config in (data["config"], str(tmp_path / "bert_config.json")):
        _, summary = train.train(
            bert_config_path=config,
            vocab_path=data["vocab"],
            train_files=data["train"],
            phase2_train_files=[],
            model_dir=str(tmp_path / "ckpt" / "{config_hash}"),
            **dict(TRAIN_ONLY, num_train_steps=2, save_checkpoints_steps=1),
        )
        dirs.append(summary["model_dir"])
        assert summary["final_step"] == 2 and os.path.exists(summary["checkpoint"])
    assert dirs[0] != dirs[1] and all(d.startswith(str(tmp_path / "ckpt")) for d in dirs)


def test_killed_training_resumes_from_its_last_checkpoint(data, tmp_path, caplog):
    """SIGTERM: a checkpoint at the step reached, then exit 130. kill -9 (of the resumed run): the last complete
    checkpoint survives. Each run goes on from the last checkpoint; the curve stays whole across all three."""
    total, ckpt = 200, tmp_path / "ckpt"

    def kill_after_a_checkpoint(sig, after_step):
        """Train to `total` with a checkpoint every 25 steps; send `sig` once one past `after_step` is saved."""
        proc = subprocess.Popen(
            cli_args(data, tmp_path, total, "--save-checkpoints-steps", "25"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if [step for step, _ in checkpoints.listing(str(ckpt)) if step > after_step]:
                break
            time.sleep(0.05)
        proc.send_signal(sig)
        log, _ = proc.communicate(timeout=120)
        steps = [step for step, _ in checkpoints.listing(str(ckpt))]
        assert steps and after_step < steps[-1] < total, log
        assert not (tmp_path / "manifest.json").exists()
        return proc, log, steps[-1]

    proc, log, stopped = kill_after_a_checkpoint(signal.SIGTERM, 0)
    assert proc.returncode == 130 and stopped >= 25, log
    assert f"stopped by signal {signal.SIGTERM} at step {stopped}" in log
    assert not glob.glob(str(ckpt / "*.tmp"))
    proc, log, killed = kill_after_a_checkpoint(signal.SIGKILL, stopped)
    assert proc.returncode == -signal.SIGKILL
    assert f"resumed from {ckpt}/ckpt-{stopped:08d}.npz at step {stopped}" in log
    resumes = [stopped, killed]

    # The last run, and one more at the final step, go through the command line's entry in this process: two
    # processes above have shown it in a process of its own.
    def cli():
        caplog.clear()
        try:
            train_cli.cli(cli_args(data, tmp_path, total)[2:])
        finally:
            checkpoints.release_locks()
        return caplog.text

    caplog.set_level(logging.INFO)
    assert f"resumed from {ckpt}/ckpt-{killed:08d}.npz at step {killed}" in cli()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["start_step"] == killed and manifest["final_step"] == total
    # One curve from step 0 to the end, each window once, marked with the session that trained it.
    windows = list(range(25, total + 1, 25))
    assert [entry["step"] for entry in manifest["losses"]] == windows
    assert [s["start_step"] for s in manifest["sessions"]] == [0, *resumes]
    assert [entry["session"] for entry in manifest["losses"]] == [sum(s > r for r in resumes) for s in windows]
    # ... and so does the report's plot, with the resumes marked.
    plot = tmp_path / "curves.svg"
    training_plots.main(manifest_path=str(tmp_path / "manifest.json"), metrics_path=None, plot_path=str(plot),
                        table_path=str(tmp_path / "t.html"), json_path=str(tmp_path / "s.json"))
    plotted = figure_data(plot.read_text())
    assert plotted["loss"]["step"] == windows and plotted["resumed_at"] == resumes
    assert plotted["loss"]["value"] == [entry["loss"] for entry in manifest["losses"]]
    # The optimizer went on counting from the restored step (its schedule too): `total` updates in all.
    last = ckpt / f"ckpt-{total:08d}.npz"
    meta, _ = checkpoints.load(str(last))
    iteration = meta["variables"].index("optimizer/iteration")
    assert int(np.load(last)[f"v{iteration}"]) == total
    assert meta["train_seconds"] > 0 and meta["step"] == total

    # Resuming at the final step trains nothing and keeps the whole curve.
    assert f"resumed from {last} at step {total}" in cli()
    final = json.loads((tmp_path / "manifest.json").read_text())
    assert final["start_step"] == total and final["losses"] == manifest["losses"]
    assert final["sessions"] == manifest["sessions"]


def rule_job(data, out, log, **params):
    """The train rule's job (train_cli.snakemake_job) in a process of its own, given what Snakemake gives a script:
    its params as a Params, its files by name; returns the started process (stdout and stderr to pipes)."""
    files = dict(
        input=dict(bert_config=data["config"], vocab=data["vocab"], records=data["train"], held_out=data["held_out"],
                   phase2_records=[], phase2_held_out=[]),
        output=dict(manifest=str(out / "manifest.json"), model=str(out / "model")),
    )
    code = f"""
import types
from snakemake.iocontainers import Params
from bert_pretraining.training import train_cli
files = {files!r}
train_cli.snakemake_job(types.SimpleNamespace(
    params=Params(fromdict={params!r}),
    input=types.SimpleNamespace(**files["input"]),
    output=types.SimpleNamespace(**files["output"]),
    log=[{str(log)!r}],
))
"""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "scripts"))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def finished(proc, timeout=300):
    """A started process, once it has ended: a CompletedProcess."""
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_a_second_trainer_on_the_same_folder_is_refused_while_the_first_lives(data, tmp_path):
    # The model config's folder under ckpt/, as the train rule's job names it.
    config_hash = bert.config_hash(bert.read_bert_config(data["config"]), open(data["vocab"]).read())
    folder, per_config = tmp_path / "ckpt" / config_hash, checkpoints.per_config(str(tmp_path / "ckpt"))
    # Many steps and no checkpoint: the first trainer holds the folder until it is killed.
    first = subprocess.Popen(
        cli_args(data, tmp_path, 100_000, "--save-checkpoints-steps", "100000", "--model-dir", per_config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = folder / checkpoints.LOCK_NAME
        deadline = time.time() + 180
        while f'"pid": {first.pid},' not in (lock.read_text() if lock.exists() else ""):
            assert time.time() < deadline and first.poll() is None, "the first trainer did not start"
            time.sleep(0.05)
        # Stopped, it still lives and holds the folder, and leaves the CPUs to the two refused ones.
        first.send_signal(signal.SIGSTOP)

        # A second trainer, and a second train job, which appends to the job's log: the running trainer's lines
        # stay. Both at once.
        log = tmp_path / "train.log"
        log.write_text("the running trainer's lines\n")
        second = subprocess.Popen(cli_args(data, tmp_path, 2, "--model-dir", per_config), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        job = rule_job(data, tmp_path, log, **dict(FAST, num_train_steps=2, model_dir=str(tmp_path / "ckpt")))
        second, job = finished(second), finished(job)

        assert second.returncode == 1, second.stdout + second.stderr
        # The trainer's log lines (TensorFlow's own, "E0000 ... UNKNOWN ERROR (303)" without a GPU, are not its).
        errors = [line for line in second.stderr.splitlines() if re.match(r"\d{4}-\d\d-\d\d [\d:,]+ ERROR ", line)]
        message = (
            rf"another training process \(pid {first.pid} on {re.escape(socket.gethostname())}, started "
            rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\) is using {re.escape(str(folder))}; "
            rf"wait for it or stop it: kill {first.pid}"
        )
        assert len(errors) == 1 and re.search(message + "$", errors[0]), second.stderr
        assert "Traceback" not in second.stderr and first.poll() is None
        assert not (tmp_path / "manifest.json").exists()

        assert job.returncode == 1 and re.search("^ERROR: " + message + "$", job.stderr, re.M), job.stderr
        assert log.read_text().startswith("the running trainer's lines\n")
        assert re.search(message, log.read_text()) and first.poll() is None
    finally:
        first.kill()
        first.wait()

    # Its lock went with it, kill -9 and all: the next trainer may start.
    _, summary = train.train(
        bert_config_path=data["config"],
        vocab_path=data["vocab"],
        train_files=data["train"],
        phase2_train_files=[],
        model_dir=per_config,
        **dict(TRAIN_ONLY, num_train_steps=2, save_checkpoints_steps=1),
    )
    checkpoints.release_locks()
    assert summary["start_step"] == 0 and summary["final_step"] == 2 and summary["model_dir"] == str(folder)
    assert json.loads(lock.read_text())["pid"] == os.getpid()


JAX_RUN = ("--backend", "jax", "--device", "cpu", "--steps-per-execution", "4")


@pytest.fixture(scope="module")
def jax_8_devices(data, tmp_path_factory):
    """152 steps on the JAX path, one process with 8 host devices: (its folder, its manifest)."""
    out = tmp_path_factory.mktemp("jax8")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", KERAS_BACKEND="jax")
    # Four steps per execution, as on a TPU: progress is logged when a multiple of 25 has been passed.
    result = subprocess.run(cli_args(data, out, 152, *JAX_RUN), capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, json.loads((out / "manifest.json").read_text())


def test_jax_data_parallel_over_8_devices_trains(data, jax_8_devices):
    out, manifest = jax_8_devices
    assert manifest["backend"] == "jax" and manifest["replicas"] == 8
    assert [entry["step"] for entry in manifest["losses"]] == [28, 52, 76, 100, 128, 152]
    assert manifest["final_step"] == 152
    losses = [entry["loss"] for entry in manifest["losses"]]
    assert losses[-1] < losses[0] - 0.5, losses
    # A JAX checkpoint is plain arrays: the TensorFlow build of the same model loads it.
    config = bert.read_bert_config(data["config"])
    model = bert.build_pretrainer(config)
    model.load_weights(out / "model" / "pretrainer.weights.h5")
    assert manifest["eval"]["masked_lm_accuracy"] > manifest["eval"]["most_frequent_token_accuracy"]


# ---- several processes (hosts): issue 24 -----------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_processes(data, out, steps, *extra, count=2, devices=4):
    """`count` trainers of one run, each with `devices` host devices, as each host would start them: the same
    command, Keras's KERAS_DISTRIBUTION_* variables. Returns the started processes (output to p<i>.log)."""
    port, started = free_port(), []
    for index in range(count):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", KERAS_BACKEND="jax",
                   KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port}", KERAS_DISTRIBUTION_NUM_PROCESSES=str(count),
                   KERAS_DISTRIBUTION_PROCESS_ID=str(index))
        with open(out / f"p{index}.log", "w") as log:
            started.append(subprocess.Popen(cli_args(data, out, steps, *JAX_RUN, *extra), stdout=log,
                                            stderr=subprocess.STDOUT, env=env))
    return started


def test_two_processes_of_four_devices_train_as_one_of_eight(data, jax_8_devices, tmp_path):
    """The same steps, seed and records: each process feeds its half of every batch, process 0 writes."""
    trainers = start_processes(data, tmp_path, 152)
    for trainer in trainers:
        assert trainer.wait(timeout=600) == 0, (tmp_path / "p0.log").read_text() + (tmp_path / "p1.log").read_text()
    one, reference = jax_8_devices
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["replicas"] == 8 and manifest["final_step"] == 152
    assert [e["step"] for e in manifest["losses"]] == [e["step"] for e in reference["losses"]]
    for ours, theirs in zip(manifest["losses"], reference["losses"]):
        for key in ("loss", "mlm_loss", "nsp_loss"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-4), (key, ours, theirs)
    _, ours = checkpoints.load(str(tmp_path / "ckpt" / "ckpt-00000152.npz"))
    _, theirs = checkpoints.load(str(one / "ckpt" / "ckpt-00000152.npz"))
    for a, b in zip(ours, theirs, strict=True):  # weights and optimizer state
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert manifest["eval"]["masked_lm_accuracy"] == pytest.approx(reference["eval"]["masked_lm_accuracy"], abs=1e-3)
    # Process 0 alone writes: one lock holder, one set of TensorBoard events; the other says it is done.
    assert json.loads((tmp_path / "ckpt" / checkpoints.LOCK_NAME).read_text())["pid"] != trainers[1].pid
    assert len(glob.glob(str(tmp_path / "ckpt" / "train" / "events.out.tfevents.*"))) == 1
    assert "process 1 of 2: trained phase1 to step 152" in (tmp_path / "p1.log").read_text()


def test_a_lost_process_stops_the_other_and_a_rerun_resumes(data, tmp_path, caplog):
    """SIGKILL to process 1 after the first checkpoint: process 0 stops within the heartbeat timeout with one
    error line, no partial checkpoint stays, and one process resumes from the last checkpoint."""
    ckpt = tmp_path / "ckpt"
    trainers = start_processes(data, tmp_path, 100_000, "--save-checkpoints-steps", "4", "--heartbeat-timeout", "5")
    try:
        deadline = time.time() + 300
        while not checkpoints.listing(str(ckpt)):
            assert time.time() < deadline and all(t.poll() is None for t in trainers), (tmp_path / "p0.log").read_text()
            time.sleep(0.1)
        # The trainer itself, under the command's supervising process.
        children = f"/proc/{trainers[1].pid}/task/{trainers[1].pid}/children"
        with open(children) as f:
            (trainer,) = [int(pid) for pid in f.read().split()]
        os.kill(trainer, signal.SIGKILL)
        killed = time.time()
        assert trainers[0].wait(timeout=120) == 1
        assert time.time() - killed < 60
    finally:
        for t in trainers:
            t.kill()
            t.wait()
    log = (tmp_path / "p0.log").read_text()
    errors = [line for line in log.splitlines() if re.match(r"\d{4}-\d\d-\d\d [\d:,]+ ERROR ", line)]
    assert len(errors) == 1 and "another process of the run was lost" in errors[0], log
    assert "resumes from the last checkpoint" in errors[0]
    assert "ended by signal 9 (SIGKILL)" in (tmp_path / "p1.log").read_text()
    assert not (tmp_path / "manifest.json").exists()
    steps = [step for step, _ in checkpoints.listing(str(ckpt))]
    for _, path in checkpoints.listing(str(ckpt)):  # whole checkpoints, each readable
        assert checkpoints.load(path)[0]["step"] == checkpoints.step_of(path)

    # One process (this one: TensorFlow reads the JAX run's checkpoints) resumes at the last step saved and
    # finishes 4 steps later; what a writer killed mid-write left is removed.
    (ckpt / "ckpt-99999999.npz.tmp").write_bytes(b"half")
    caplog.set_level(logging.INFO)
    try:
        train_cli.cli(cli_args(data, tmp_path, steps[-1] + 4)[2:])
    finally:
        checkpoints.release_locks()
    assert f"resumed from {ckpt}/ckpt-{steps[-1]:08d}.npz at step {steps[-1]}" in caplog.text
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["start_step"] == steps[-1] and manifest["final_step"] == steps[-1] + 4
    assert [s["start_step"] for s in manifest["sessions"]] == [0, steps[-1]]
    assert not glob.glob(str(ckpt / "*.tmp"))


def test_several_processes_need_jax_and_are_found_where_jax_finds_them(data, tmp_path, caplog, monkeypatch):
    from bert_pretraining.training import processes

    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit) as stopped:
        train_cli.cli(cli_args(data, tmp_path, 2, "--num-processes", "2", "--process-id", "0",
                               "--coordinator-address", "127.0.0.1:1")[2:])
    assert stopped.value.code == 1
    assert "training over several processes (--num-processes 2) needs the JAX backend: set train.backend: jax" in caplog.text
    assert not (tmp_path / "ckpt").exists()
    # Which environments ask for several processes: Keras's variables, a Slurm job step (srun) of several tasks,
    # a TPU slice of several workers; not one process, nor a Slurm batch script that asked for several tasks.
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2", "SLURM_PROCID": "1",
             "SLURM_LOCALID": "0"}  # fmt: skip
    cases = [
        ({}, None),
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "1"}, None),
        ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, "KERAS_DISTRIBUTION_NUM_PROCESSES=2"),
        ({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:2345"}, "names 2 processes"),
        (slurm, None),
        (dict(slurm, SLURM_STEP_ID="0"), "a Slurm job step of 2 tasks"),
        (dict(slurm, SLURM_STEP_ID="0", SLURM_NTASKS="1"), None),
        ({"TPU_WORKER_HOSTNAMES": "w0,w1,w2,w3"}, "a TPU slice of 4 workers"),
        ({"TPU_WORKER_HOSTNAMES": "w0"}, None),
    ]
    for environ, says in cases:
        reason = processes.requested(environ)
        assert (reason is None) if says is None else (says in reason), (environ, reason)
    assert processes.requested({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, num_processes=1) is None
    # In a Slurm step, keras.distribution.initialize() passes nothing on, and JAX reads the rest from the step (the
    # README's sbatch/srun command): the first node as the coordinator, a port from the job id, count, index.
    from jax._src.clusters import ClusterEnv

    for name, value in dict(slurm, SLURM_STEP_ID="0").items():
        monkeypatch.setenv(name, value)
    assert ClusterEnv.auto_detect_unset_distributed_params(None, None, None, None, None, 10) == ("n1:61447", 2, 1, [0])
