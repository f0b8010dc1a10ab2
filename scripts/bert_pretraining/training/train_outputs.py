"""What a training run leaves, local or gs://, each whole or not at all: the final weights beside their config and
vocabulary, and the JSON manifest that, written last, marks the run finished."""

import json
import os
import tempfile

import tensorflow as tf

from bert_pretraining.atomic import atomic_dir, atomic_path
from bert_pretraining.training.checkpoints import is_remote


def write_model_files(model, *, bert_config_path, vocab_path, folder):
    model.save_weights(os.path.join(folder, "pretrainer.weights.h5"))
    # tf.io.gfile: the config and vocab may be gs:// objects
    tf.io.gfile.copy(bert_config_path, os.path.join(folder, "bert_config.json"), overwrite=True)
    tf.io.gfile.copy(vocab_path, os.path.join(folder, "vocab.txt"), overwrite=True)


def export_model(model, *, bert_config_path, vocab_path, out_dir):
    """The trained pre-training model as plain Keras weights next to its bert_config.json and vocab.txt."""
    files = dict(bert_config_path=bert_config_path, vocab_path=vocab_path)
    if not is_remote(out_dir):
        with atomic_dir(out_dir) as tmp:
            write_model_files(model, folder=tmp, **files)
        return
    # A bucket has no folder to rename into place: each object appears whole when uploaded, and the manifest,
    # written after them, is what says they are complete. Keras writes .h5 files locally only.
    with tempfile.TemporaryDirectory() as tmp:
        write_model_files(model, folder=tmp, **files)
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
    with tf.io.gfile.GFile(f"{path}.tmp", "w") as f:
        f.write(json.dumps(summary, indent=2))
    tf.io.gfile.rename(f"{path}.tmp", path, overwrite=True)
