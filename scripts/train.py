"""Pre-train BERT (masked LM + next sentence) on .tfrecord shards: recipe step 10, without TPUEstimator.

    python scripts/train.py --bert-config bert_model/bert_config.json --vocab bert_model/vocab.txt \\
        --train-files 'pretraining_data/*.tfrecord' --model-dir gs://BUCKET/bert_model --backend jax ...

The run resumes from the newest checkpoint in the model dir (weights, optimizer state and step), saves one every
`save_checkpoints_steps` and on SIGTERM/Ctrl-C, and ends by writing the final weights and a JSON manifest.
Keras fixes its backend when first imported, and importing TensorFlow (for tf.data and gs:// files) imports it:
run as a script or Snakemake job, this file sets KERAS_BACKEND before its imports; a process whose Keras already
uses another backend (a test, say) runs this file as a subprocess.
"""

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import time

if __name__ == "__main__" and "snakemake" in globals():
    # A Snakemake job: TensorFlow talks on stderr as it loads (oneDNN, CUDA, absl), so the job's log becomes
    # stderr first, and this file then runs as an imported module inside it. Keras fixes its backend when
    # TensorFlow imports it: choose it before.
    from logs import rule_log

    with rule_log(snakemake.log[0]):  # noqa: F821
        os.environ["KERAS_BACKEND"] = snakemake.params.backend  # noqa: F821
        import train as _job

        _job.snakemake_job(snakemake)  # noqa: F821
    sys.exit(0)

if __name__ == "__main__":
    _backend = argparse.ArgumentParser(add_help=False)
    _backend.add_argument("--backend", default="tensorflow")
    os.environ["KERAS_BACKEND"] = _backend.parse_known_args()[0].backend

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

import input_pipeline
from atomic import atomic_dir, atomic_path
from logs import PipelineError

log = logging.getLogger("train")
CHECKPOINT = re.compile(r"ckpt-(\d+)\.npz$")


class CheckpointMismatch(PipelineError):
    pass


class Interrupted(PipelineError):
    pass


class ModelDirBusy(PipelineError):
    pass


# ---- backend, devices, precision -------------------------------------------------------------------------------


def select_backend(backend):
    """Make `import keras` use `backend`; refuse if Keras already runs on another one in this process."""
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise RuntimeError(f"Keras already uses {current} here; run scripts/train.py in its own process")
    os.environ["KERAS_BACKEND"] = backend
    import keras

    return keras


def distribution(backend, device):
    """(function giving the scope to create variables in, number of data-parallel replicas, platform name)."""
    import keras

    if backend == "jax":
        # Cloud TPU VMs: JAX sees every TPU core; DataParallel splits each batch over them.
        devices = keras.distribution.list_devices(None if device == "auto" else device)
        if len(devices) > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return contextlib.nullcontext, len(devices), devices[0].split(":")[0].lower()
    from tpu import check_backend  # the same check the workflow runs before any job

    check_backend(backend=backend, device=device, tpu_name=None)
    if device == "cpu" and tf.config.list_physical_devices("GPU"):
        tf.config.set_visible_devices([], "GPU")  # before TensorFlow initialises them
    gpus = tf.config.list_logical_devices("GPU")
    if device == "gpu" and not gpus:
        raise ValueError("train.device is gpu but TensorFlow sees no GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy().scope, len(gpus), "gpu"
    return contextlib.nullcontext, 1, "gpu" if gpus else "cpu"


def choose_precision(setting, platform):
    """bfloat16 compute where the hardware has it (TPUs, Ampere and later GPUs), float32 elsewhere."""
    if setting != "auto":
        return setting
    if platform == "tpu":
        return "mixed_bfloat16"
    if platform == "gpu":
        gpus = tf.config.list_physical_devices("GPU")
        capability = (
            tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)) if gpus else (0, 0)
        )
        return "mixed_bfloat16" if capability >= (8, 0) else "float32"
    return "float32"


# ---- checkpoints: model weights + optimizer state, one .npz per step, local or gs:// ---------------------------


def state_variables(model):
    """Everything that exact resumption needs: weights, seeds, and the optimizer's step and moments."""
    return list(model.variables) + list(model.optimizer.variables)


def state_names(model):
    """Names to match a checkpoint's arrays with, free of the counters Keras appends per process
    ("adam_w_1/...", "seed_generator_7/...")."""
    names = [v.path for v in model.variables] + [
        "optimizer/" + v.path.split("/", 1)[-1] for v in model.optimizer.variables
    ]
    return [re.sub(r"seed_generator_\d+", "seed_generator", name) for name in names]


def list_checkpoints(model_dir):
    """[(step, path)] oldest first."""
    if not tf.io.gfile.isdir(model_dir):
        return []
    found = [
        (int(m.group(1)), os.path.join(model_dir, name))
        for name in tf.io.gfile.listdir(model_dir)
        if (m := CHECKPOINT.fullmatch(name))
    ]
    return sorted(found)


def save_checkpoint(model, model_dir, step, meta, keep):
    """Write ckpt-<step>.npz under a temporary name, rename it, then drop all but the newest `keep`."""
    variables = state_variables(model)
    meta = dict(meta, step=step, variables=state_names(model))
    path = os.path.join(model_dir, f"ckpt-{step:08d}.npz")
    tmp = path + ".tmp"
    buffer = io.BytesIO()  # zip needs a seekable file; gs:// files are write-only streams
    np.savez(
        buffer, meta=np.array(json.dumps(meta)), **{f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    )
    tf.io.gfile.makedirs(model_dir)
    with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(buffer.getvalue())
    tf.io.gfile.rename(tmp, path, overwrite=True)
    for _, old in list_checkpoints(model_dir)[:-keep]:
        tf.io.gfile.remove(old)
    return path


def read_checkpoint_meta(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return json.loads(str(np.load(io.BytesIO(f.read()))["meta"]))


def restore_checkpoint(model, path, config_hash):
    """Load `path` into the model and its optimizer; refuse one made for another model config."""
    with tf.io.gfile.GFile(path, "rb") as f:
        data = np.load(io.BytesIO(f.read()))
    meta = json.loads(str(data["meta"]))
    if meta["config_hash"] != config_hash:
        raise CheckpointMismatch(
            f"{path} was trained for another model config (hash {meta['config_hash']}, "
            f"vocab_size {meta['bert_config']['vocab_size']}, hidden_size {meta['bert_config']['hidden_size']}) "
            f"than the current one (hash {config_hash}). Use another model dir, or delete that one to start over."
        )
    variables = state_variables(model)
    shapes = [tuple(data[f"v{i}"].shape) for i in range(len(meta["variables"]))]
    if meta["variables"] != state_names(model) or shapes != [tuple(v.shape) for v in variables]:
        raise CheckpointMismatch(f"{path} holds other variables than this model and optimizer")
    for i, variable in enumerate(variables):
        variable.assign(data[f"v{i}"])
    return meta


# ---- one trainer per model dir ---------------------------------------------------------------------------------

LOCK_NAME = "trainer.lock"
_held = {}  # lock file path -> its open file: this process trains there until release_model_dirs() or exit


def lock_path(model_dir):
    """The lock file of `model_dir`: inside a local folder; for a gs:// dir, a file in this machine's temp folder
    named after the URL (a bucket has no lock that dies with its holder, so only trainers on one machine are
    kept apart there)."""
    if not is_remote(model_dir):
        return os.path.join(model_dir, LOCK_NAME)
    name = hashlib.sha256(model_dir.rstrip("/").encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), "bert-trainer-locks", f"{name}.lock")


def lock_model_dir(model_dir):
    """Refuse to train where another live process trains: two trainers on one folder train the same steps twice
    and overwrite each other's checkpoints. flock's lock goes with its holder, kill -9 included."""
    path = lock_path(model_dir)
    if path in _held:
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = _read_holder(f.read())
        f.close()
        here = holder.get("host") == socket.gethostname()
        raise ModelDirBusy(
            f"another training process (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')}) is using {model_dir}; wait for it or stop it"
            f"{'' if here else ' on ' + str(holder.get('host', '?'))}: kill {holder.get('pid', '?')}"
        ) from None
    f.truncate(0)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}) + "\n")
    f.flush()
    _held[path] = f
    return path


def _read_holder(text):
    try:
        return json.loads(text)
    except ValueError:  # the holder is between its truncate and its write
        return {}


def release_model_dirs():
    for path in list(_held):
        _held.pop(path).close()


# ---- callbacks: progress, TensorBoard, checkpoints, stop on a signal -------------------------------------------


class Progress:
    """Turns Keras's running means (since the start of `fit`) into means over each log window.

    `history`: the windows of the sessions before this one, as the restored checkpoint holds them; this
    session's windows are marked with `session`, its index in the checkpoint's list of sessions."""

    def __init__(self, start_step, total_steps, batch_size, *, history=(), session=0):
        self.start_step, self.total_steps, self.batch_size = start_step, total_steps, batch_size
        self.last = (start_step, time.time(), {})
        self.history, self.session = list(history), session

    def window(self, step, logs):
        """Mean of each metric over the steps since the previous call, and sequences/s."""
        last_step, last_time, last_sums = self.last
        now, done = time.time(), step - self.start_step
        sums = {k: float(v) * done for k, v in logs.items()}
        means = {k: (sums[k] - last_sums.get(k, 0.0)) / max(step - last_step, 1) for k in sums}
        seq_per_s = (step - last_step) * self.batch_size / max(now - last_time, 1e-9)
        self.last = (step, now, sums)
        self.history.append({"step": step, "session": self.session, **{k: round(v, 5) for k, v in means.items()}})
        return means, seq_per_s


def make_callback(
    keras,
    model,
    schedule,
    *,
    start_step,
    total_steps,
    batch_size,
    model_dir,
    save_every,
    keep,
    log_every,
    meta,
    run_start,
    stop,
):
    """One callback, run after every step or execution: log, summarise, checkpoint, honour a stop request."""
    # The log windows travel with the weights: a resume sees exactly the curve up to its checkpoint.
    progress = Progress(
        start_step, total_steps, batch_size, history=meta["history"], session=len(meta["sessions"]) - 1
    )
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "train"))

    class Monitor(keras.callbacks.Callback):
        previous = start_step

        def on_train_batch_end(self, batch, logs=None):
            # With steps_per_execution > 1 this runs every few steps: act when a multiple has been passed.
            step, previous = start_step + batch + 1, self.previous
            self.previous = step
            passed = lambda every: step // every > previous // every  # noqa: E731
            if passed(log_every) or step == total_steps:
                means, seq_per_s = progress.window(step, logs)
                left = (total_steps - step) * batch_size / max(seq_per_s, 1e-9)
                lr = float(schedule(step))
                log.info(
                    "step %d/%d loss %.4f mlm_loss %.4f nsp_loss %.4f mlm_acc %.3f lr %.2e %.1f seq/s time left %s",
                    step,
                    total_steps,
                    means["loss"],
                    means.get("mlm_loss", 0),
                    means.get("nsp_loss", 0),
                    means.get("mlm_accuracy", 0),
                    lr,
                    seq_per_s,
                    format_seconds(left),
                )
                write_scalars(writer, step, {**means, "learning_rate": lr, "sequences_per_second": seq_per_s})
            if passed(save_every) or step == total_steps or stop["signal"]:
                if keras.backend.backend() == "jax":
                    model.jax_state_sync()  # JAX keeps the training state outside the variables during fit.
                elapsed = meta["train_seconds_before"] + time.time() - run_start
                path = save_checkpoint(
                    model, model_dir, step, dict(meta, train_seconds=elapsed, history=progress.history), keep
                )
                log.info("saved %s", path)
                stop["last_saved"] = step
            if stop["signal"]:
                self.model.stop_training = True

    return Monitor(), progress


def write_scalars(writer, step, scalars):
    """TensorBoard scalars through the core summary op: TensorFlow alone, no tensorboard package, writes them."""
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    with writer.as_default(step=step):
        for name, value in scalars.items():
            tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)
    writer.flush()


@contextlib.contextmanager
def stop_on_signals(stop):
    """SIGTERM / Ctrl-C ask training to checkpoint and stop after the current step instead of dying mid-write."""

    def ask(signum, frame):
        log.warning("received signal %d: saving a checkpoint and stopping", signum)
        stop["signal"] = signum

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def format_seconds(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def is_remote(path):
    return "://" in str(path)


def read_bert_config(bert, path):
    """model.read_bert_config opens local files only: a gs:// config is read through a local copy."""
    if not is_remote(path):
        return bert.read_bert_config(path)
    with tempfile.TemporaryDirectory() as tmp:
        tf.io.gfile.copy(path, os.path.join(tmp, "bert_config.json"))
        return bert.read_bert_config(os.path.join(tmp, "bert_config.json"))


# ---- the training run ------------------------------------------------------------------------------------------


def train(
    *,
    bert_config_path,
    vocab_path,
    train_files,
    model_dir,
    backend="tensorflow",
    device="auto",
    batch_size=32,
    learning_rate=1e-4,
    warmup_steps=10,
    num_train_steps=1000,
    save_checkpoints_steps=250,
    keep_checkpoints=3,
    log_every_steps=50,
    max_seq_length=128,
    max_predictions_per_seq=20,
    mixed_precision="auto",
    jit_compile="auto",
    steps_per_execution=1,
    shuffle_buffer=10000,
    seed=12345,
):
    """Train to `num_train_steps`, resuming from the newest checkpoint in `model_dir`. Returns (model, summary).

    A `{config_hash}` in `model_dir` becomes the model config's fingerprint, so that each config trains in a
    folder of its own; without it, a checkpoint of another config in `model_dir` stops the run.
    """
    keras = select_backend(backend)
    import model as bert  # after select_backend: model.py imports Keras

    bert_config = read_bert_config(bert, bert_config_path)
    with tf.io.gfile.GFile(vocab_path) as f:
        config_hash = bert.config_hash(bert_config, f.read())
    model_dir = model_dir.replace("{config_hash}", config_hash)
    lock_model_dir(model_dir)  # before reading its checkpoints; held until release_model_dirs() or exit
    scope, replicas, platform = distribution(backend, device)
    precision = choose_precision(mixed_precision, platform)
    keras.mixed_precision.set_dtype_policy(precision)
    if batch_size % replicas:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the {replicas} replicas")
    log.info(
        "backend %s, %d %s replica(s), %s, model config %s, model dir %s",
        backend,
        replicas,
        platform,
        precision,
        config_hash,
        model_dir,
    )

    keras.utils.set_random_seed(seed)
    with scope():
        model = bert.build_pretrainer(bert_config)
        schedule = bert.WarmupLinearDecay(learning_rate, warmup_steps, num_train_steps)
        optimizer = bert.make_optimizer(schedule)
        bert.compile_pretrainer(model, optimizer, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
        optimizer.build(model.trainable_variables)

    # sessions: [{start_step, started}] of every run that saved a checkpoint in this line of checkpoints;
    # history: their log windows, each marked with its session.
    meta = {"config_hash": config_hash, "bert_config": bert_config, "train_seconds_before": 0.0, "sessions": [],
            "history": []}
    checkpoints = list_checkpoints(model_dir)
    start_step = 0
    if checkpoints:
        with scope():
            restored = restore_checkpoint(model, checkpoints[-1][1], config_hash)
        start_step = restored["step"]
        meta["train_seconds_before"] = restored.get("train_seconds", 0.0)
        if "sessions" in restored:
            meta["sessions"], meta["history"] = restored["sessions"], restored["history"]
        else:
            log.warning("%s keeps no log history (an older checkpoint): the curve starts here", checkpoints[-1][1])
        log.info("resumed from %s at step %d", checkpoints[-1][1], start_step)
    else:
        log.info("no checkpoint in %s: starting from step 0", model_dir)
    if start_step > num_train_steps:
        log.warning("checkpoint step %d is past num_train_steps %d: keeping it", start_step, num_train_steps)

    if (num_train_steps - start_step) % steps_per_execution and start_step < num_train_steps:
        # Keras runs whole executions: it would overshoot the last step.
        raise ValueError(
            f"steps_per_execution {steps_per_execution} must divide the {num_train_steps - start_step} steps left "
            f"(from step {start_step} to num_train_steps {num_train_steps})"
        )
    stop = {"signal": 0, "last_saved": start_step}
    run_start = time.time()
    progress = None
    if start_step < num_train_steps:
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        meta["sessions"] = meta["sessions"] + [{"start_step": start_step, "started": started}]
        # A resumed run shuffles with a seed of its own, as TPUEstimator's restarted input_fn did, rather than
        # replaying the first batches the run already trained on.
        dataset = input_pipeline.make_dataset(
            train_files,
            batch_size,
            max_seq_length,
            max_predictions_per_seq,
            training=True,
            seed=seed + start_step,
            shuffle_buffer=shuffle_buffer,
        )
        callback, progress = make_callback(
            keras,
            model,
            schedule,
            start_step=start_step,
            total_steps=num_train_steps,
            batch_size=batch_size,
            model_dir=model_dir,
            save_every=save_checkpoints_steps,
            keep=keep_checkpoints,
            log_every=log_every_steps,
            meta=meta,
            run_start=run_start,
            stop=stop,
        )
        with stop_on_signals(stop):
            model.fit(
                dataset,
                epochs=1,
                steps_per_epoch=num_train_steps - start_step,
                callbacks=[callback],
                verbose=0,
                shuffle=False,
            )
        if stop["signal"]:
            raise Interrupted(
                f"training stopped by signal {stop['signal']} at step {stop['last_saved']}; "
                "its checkpoint is saved: run again to resume"
            )
    run_seconds = time.time() - run_start
    steps_run = max(stop["last_saved"] - start_step, 0)
    summary = {
        "final_step": max(start_step, stop["last_saved"]),
        "start_step": start_step,
        "num_train_steps": num_train_steps,
        "config_hash": config_hash,
        "model_dir": model_dir,
        "checkpoint": list_checkpoints(model_dir)[-1][1],
        "backend": backend,
        "platform": platform,
        "replicas": replicas,
        "precision": precision,
        "batch_size": batch_size,
        "run_seconds": round(run_seconds, 1),
        "train_seconds": round(meta["train_seconds_before"] + run_seconds, 1),
        "sequences_per_second": round(steps_run * batch_size / run_seconds, 1) if steps_run else None,
        # The whole curve, from step 0: every session that led to this checkpoint, the windows of one that died
        # after its last checkpoint left out (they belong to weights that were never kept).
        "sessions": meta["sessions"],
        "losses": progress.history if progress else meta["history"],
    }
    return model, summary


def write_model_files(model, bert_config_path, vocab_path, folder):
    model.save_weights(os.path.join(folder, "pretrainer.weights.h5"))
    # tf.io.gfile: the config and vocab may be gs:// objects
    tf.io.gfile.copy(bert_config_path, os.path.join(folder, "bert_config.json"), overwrite=True)
    tf.io.gfile.copy(vocab_path, os.path.join(folder, "vocab.txt"), overwrite=True)


def export_final_model(model, bert_config_path, vocab_path, out_dir):
    """The trained pre-training model as plain Keras weights next to its bert_config.json and vocab.txt."""
    if not is_remote(out_dir):
        with atomic_dir(out_dir) as tmp:
            write_model_files(model, bert_config_path, vocab_path, tmp)
        return
    # A bucket has no folder to rename into place: each object appears whole when uploaded, and the manifest,
    # written after them, is what says they are complete. Keras writes .h5 files locally only.
    with tempfile.TemporaryDirectory() as tmp:
        write_model_files(model, bert_config_path, vocab_path, tmp)
        tf.io.gfile.makedirs(out_dir)
        for name in sorted(os.listdir(tmp)):
            tf.io.gfile.copy(os.path.join(tmp, name), f"{out_dir.rstrip('/')}/{name}", overwrite=True)


def write_manifest(summary, path):
    """Write the JSON under a temporary name and rename it: a reader (on a bucket, the follower that waits for a
    finished run) sees the whole manifest or none."""
    if not is_remote(path):
        with atomic_path(path) as tmp, open(tmp, "w") as f:
            json.dump(summary, f, indent=2)
        return
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(summary, indent=2))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def main(*, manifest_path, final_model_dir, eval_files=(), eval_batch_size=64, eval_steps=100, **train_args):
    """Train, keep the final weights, evaluate on held-out shards, write the manifest and print the metrics.

    Every path may be local or gs://. The model dir stays locked until the manifest is written."""
    try:
        model, summary = train(**train_args)
        export_final_model(model, train_args["bert_config_path"], train_args["vocab_path"], final_model_dir)
        if eval_files:
            import evaluate

            summary["eval"] = evaluate.evaluate(
                model,
                eval_files,
                eval_batch_size,
                train_args["max_seq_length"],
                train_args["max_predictions_per_seq"],
                max_steps=eval_steps,
            )
        write_manifest(summary, manifest_path)  # last: its presence marks a finished run
    finally:
        release_model_dirs()
    last = summary["losses"][-1] if summary["losses"] else {}
    print(
        f"trained to step {summary['final_step']} in {format_seconds(summary['train_seconds'])}"
        + (f", loss {last['loss']:.4f}" if last else "")
        + "".join(f", {k} {v:.4f}" for k, v in summary.get("eval", {}).items() if isinstance(v, float))
    )
    return summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bert-config", required=True, help="bert_config.json (local or gs://)")
    p.add_argument("--vocab", required=True, help="vocab.txt (local or gs://)")
    p.add_argument("--train-files", required=True, nargs="+", help=".tfrecord files, folders or glob patterns")
    p.add_argument("--model-dir", required=True, help="checkpoint folder (local or gs://); resumes from it")
    p.add_argument("--manifest", required=True, help="JSON manifest to write, last (local or gs://)")
    p.add_argument("--final-model-dir", required=True, help="folder for the final weights (local or gs://)")
    p.add_argument("--eval-files", nargs="*", default=[], help="held-out .tfrecord files (local or gs://)")
    p.add_argument("--backend", choices=["tensorflow", "jax"], default="tensorflow")
    p.add_argument("--device", choices=["auto", "cpu", "gpu", "tpu"], default="auto")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--eval-steps", type=int, default=100, help="held-out batches to evaluate; 0 = all")
    p.add_argument("--learning-rate", type=float, default=2e-5)
    p.add_argument("--warmup-steps", type=int, default=10)
    p.add_argument("--num-train-steps", type=int, default=1_000_000)
    p.add_argument("--save-checkpoints-steps", type=int, default=2500)
    p.add_argument("--keep-checkpoints", type=int, default=5)
    p.add_argument("--log-every-steps", type=int, default=100)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--max-predictions-per-seq", type=int, default=20)
    p.add_argument("--mixed-precision", choices=["auto", "float32", "mixed_bfloat16"], default="auto")
    p.add_argument("--jit-compile", choices=["auto", "true", "false"], default="auto")
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--shuffle-buffer", type=int, default=10000)
    p.add_argument("--seed", type=int, default=12345)
    return p.parse_args(argv)


def cli(argv=None):
    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        run_cli(a)
    except Interrupted as stopped:
        log.error("%s", stopped)
        sys.exit(130)
    except PipelineError as error:  # what to change, in one line; no traceback
        log.error("%s", error)
        sys.exit(1)


def run_cli(a):
    main(
        manifest_path=a.manifest,
        final_model_dir=a.final_model_dir,
        eval_files=a.eval_files,
        eval_batch_size=a.eval_batch_size,
        eval_steps=a.eval_steps,
        bert_config_path=a.bert_config,
        vocab_path=a.vocab,
        train_files=a.train_files,
        model_dir=a.model_dir,
        backend=a.backend,
        device=a.device,
        batch_size=a.batch_size,
        learning_rate=a.learning_rate,
        warmup_steps=a.warmup_steps,
        num_train_steps=a.num_train_steps,
        save_checkpoints_steps=a.save_checkpoints_steps,
        keep_checkpoints=a.keep_checkpoints,
        log_every_steps=a.log_every_steps,
        max_seq_length=a.max_seq_length,
        max_predictions_per_seq=a.max_predictions_per_seq,
        mixed_precision=a.mixed_precision,
        jit_compile={"auto": "auto", "true": True, "false": False}[a.jit_compile],
        steps_per_execution=a.steps_per_execution,
        shuffle_buffer=a.shuffle_buffer,
        seed=a.seed,
    )


def snakemake_job(snakemake):
    """The train rule's job, run inside its log (see the top of this file)."""
    p = snakemake.params
    main(
        manifest_path=snakemake.output.manifest,
        final_model_dir=snakemake.output.model,
        eval_files=[snakemake.input.held_out],
        eval_batch_size=p.eval_batch_size,
        eval_steps=p.eval_steps,
        bert_config_path=snakemake.input.bert_config,
        vocab_path=snakemake.input.vocab,
        train_files=list(snakemake.input.records),
        model_dir=os.path.join(p.model_dir, "{config_hash}"),  # a folder per model config
        backend=p.backend,
        device=p.device,
        batch_size=p.batch_size,
        learning_rate=p.learning_rate,
        warmup_steps=p.warmup_steps,
        num_train_steps=p.num_train_steps,
        save_checkpoints_steps=p.save_checkpoints_steps,
        keep_checkpoints=p.keep_checkpoints,
        log_every_steps=p.log_every_steps,
        max_seq_length=p.max_seq_length,
        max_predictions_per_seq=p.max_predictions_per_seq,
        mixed_precision=p.mixed_precision,
        jit_compile=p.jit_compile,
        steps_per_execution=p.steps_per_execution,
        shuffle_buffer=p.shuffle_buffer,
        seed=p.seed,
    )


if __name__ == "__main__":
    cli()
