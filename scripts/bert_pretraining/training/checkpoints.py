"""Checkpoints of a training run, local or gs://: one `ckpt-<step>.npz` per saved step, in a folder of the model
config's own, kept by one trainer at a time.

A checkpoint is one dict: the arrays of the model and its optimizer (weights, seeds, step, moments) and `meta`:
step, model config and its hash, variable names, training time, the sessions that led to it and their log
windows (`history`), so a resumed run has the whole curve up to its weights.

TensorFlow (gs:// files) is imported where files are touched: importing it imports Keras, whose backend the
training command line (train_cli.py) chooses after it has imported this module.
"""

import datetime
import fcntl
import hashlib
import io
import json
import os
import re
import socket
import tempfile

import numpy as np

from bert_pretraining.logs import PipelineError

NAME = re.compile(r"ckpt-(\d+)\.npz$")
GLOB = "ckpt-*.npz"
LOCK_NAME = "trainer.lock"
_held = {}  # lock file path -> its open file: this process trains there until release_locks() or exit


class CheckpointMismatch(PipelineError):
    pass


class ModelDirBusy(PipelineError):
    pass


def gfile():
    import tensorflow as tf

    return tf.io.gfile


def is_remote(path):
    return "://" in str(path)


# ---- naming ----------------------------------------------------------------------------------------------------


def file_name(step):
    return f"ckpt-{step:08d}.npz"


def step_of(path):
    """The step a checkpoint's path names, None for any other path."""
    match = NAME.search(str(path))
    return int(match.group(1)) if match else None


def per_config(root):
    """The model dir under `root` that config_folder gives each model config."""
    return f"{root.rstrip('/')}/{{config_hash}}"


def config_folder(model_dir, *, bert_config_path, vocab_path):
    """(model config, its hash, `model_dir` with `{config_hash}` replaced by that hash). The hash covers the
    config and the vocabulary, so a changed one trains in a new folder and never loads another model's weights."""
    from bert_pretraining.modeling import model as bert  # Keras: the caller has chosen its backend

    if is_remote(bert_config_path):  # model.read_bert_config opens local files only
        with tempfile.TemporaryDirectory() as tmp:
            gfile().copy(bert_config_path, os.path.join(tmp, "bert_config.json"))
            bert_config = bert.read_bert_config(os.path.join(tmp, "bert_config.json"))
    else:
        bert_config = bert.read_bert_config(bert_config_path)
    with gfile().GFile(vocab_path) as f:
        config_hash = bert.config_hash(bert_config, f.read())
    return bert_config, config_hash, model_dir.replace("{config_hash}", config_hash)


def listing(model_dir):
    """[(step, path)] oldest first."""
    if not gfile().isdir(model_dir):
        return []
    return sorted(
        (step_of(name), os.path.join(model_dir, name)) for name in gfile().listdir(model_dir) if NAME.fullmatch(name)
    )


def remove_partial(model_dir):
    """Remove the temporary files of checkpoints a killed trainer was writing (save's `.tmp`); the caller holds
    the model dir's lock, so no live trainer writes them."""
    if not gfile().isdir(model_dir):
        return []
    names = [name for name in gfile().listdir(model_dir) if name.endswith(".tmp") and NAME.fullmatch(name[:-4])]
    for name in names:
        gfile().remove(os.path.join(model_dir, name))
    return names


# ---- save and restore ------------------------------------------------------------------------------------------


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


def save(model, model_dir, *, step, meta, keep):
    """Write ckpt-<step>.npz under a temporary name, rename it, then drop all but the newest `keep`."""
    variables = state_variables(model)
    meta = dict(meta, step=step, variables=state_names(model))
    path = os.path.join(model_dir, file_name(step))
    buffer = io.BytesIO()  # zip needs a seekable file; gs:// files are write-only streams
    np.savez(
        buffer, meta=np.array(json.dumps(meta)), **{f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    )
    gfile().makedirs(model_dir)
    with gfile().GFile(path + ".tmp", "wb") as f:
        f.write(buffer.getvalue())
    gfile().rename(path + ".tmp", path, overwrite=True)
    for _, old in listing(model_dir)[:-keep]:
        gfile().remove(old)
    return path


def load(path):
    """(meta, [arrays]) of a checkpoint."""
    with gfile().GFile(path, "rb") as f:
        data = np.load(io.BytesIO(f.read()))
    meta = json.loads(str(data["meta"]))
    return meta, [data[f"v{i}"] for i in range(len(meta["variables"]))]


def restore(model, path, *, config_hash):
    """Load `path` into the model and its optimizer; refuse one made for another model config. Returns its meta."""
    meta, arrays = load(path)
    if meta["config_hash"] != config_hash:
        raise CheckpointMismatch(
            f"{path} was trained for another model config (hash {meta['config_hash']}, "
            f"vocab_size {meta['bert_config']['vocab_size']}, hidden_size {meta['bert_config']['hidden_size']}) "
            f"than the current one (hash {config_hash}). Use another model dir, or delete that one to start over."
        )
    # Gradient accumulators hold zeros between optimizer steps, when checkpoints are saved: a checkpoint made with
    # another train.gradient_accumulation_steps restores, and the caller sets the step count (set_optimizer_step).
    # In order: names repeat (each dropout layer's seed generator).
    saved = [(name, array) for name, array in zip(meta["variables"], arrays, strict=True) if not is_accumulator(name)]
    ours = [(name, v) for name, v in zip(state_names(model), state_variables(model), strict=True) if not is_accumulator(name)]
    if [(name, array.shape) for name, array in saved] != [(name, tuple(v.shape)) for name, v in ours]:
        raise CheckpointMismatch(f"{path} holds other variables than this model and optimizer")
    for (_, array), (_, variable) in zip(saved, ours, strict=True):
        variable.assign(array)
    return meta


def is_accumulator(name):
    return name.endswith("_gradient_accumulator")


# ---- one trainer per model dir ---------------------------------------------------------------------------------


def lock_path(model_dir):
    """The lock file of `model_dir`: inside a local folder; for a gs:// dir, a file in this machine's temp folder
    named after the URL (a bucket has no lock that dies with its holder, so only trainers on one machine are
    kept apart there)."""
    if not is_remote(model_dir):
        return os.path.join(model_dir, LOCK_NAME)
    name = hashlib.sha256(model_dir.rstrip("/").encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), "bert-trainer-locks", f"{name}.lock")


def lock(model_dir):
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
        host, pid = holder.get("host", "?"), holder.get("pid", "?")
        raise ModelDirBusy(
            f"another training process (pid {pid} on {host}, started {holder.get('started', '?')}) is using "
            f"{model_dir}; wait for it or stop it{'' if host == socket.gethostname() else ' on ' + str(host)}: "
            f"kill {pid}"
        ) from None
    f.truncate(0)
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": utc_now()}) + "\n")
    f.flush()
    _held[path] = f
    return path


def _read_holder(text):
    try:
        return json.loads(text)
    except ValueError:  # the holder is between its truncate and its write
        return {}


def release_locks():
    for path in list(_held):
        _held.pop(path).close()


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
