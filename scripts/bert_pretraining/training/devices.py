"""Where training runs: the Keras backend, the devices and how a batch is split over them, and the precision."""

import contextlib
import os
import sys

import tensorflow as tf

from bert_pretraining.logs import PipelineError
from bert_pretraining.training.train_settings import check_backend  # the same check the workflow runs before any job


def select_backend(backend):
    """Make `import keras` use `backend`; refuse if Keras already runs on another one in this process."""
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise RuntimeError(f"Keras already uses {current} here; run scripts/train_cli.py in its own process")
    os.environ["KERAS_BACKEND"] = backend
    import keras

    return keras


def distribution(*, backend, device):
    """(function giving the scope to create variables in, number of data-parallel replicas, platform name)."""
    import keras

    if backend == "jax":
        # Cloud TPU VMs: JAX sees every TPU core; DataParallel splits each batch over them. Several processes: the
        # devices of all; each process feeds its share of the batch (input_pipeline), which Keras must not shard.
        devices = keras.distribution.list_devices(None if device == "auto" else device)
        if len(devices) > 1:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
            )
        return contextlib.nullcontext, len(devices), devices[0].split(":")[0].lower()
    check_backend(backend=backend, device=device, tpu_name=None)
    if device == "cpu" and tf.config.list_physical_devices("GPU"):
        tf.config.set_visible_devices([], "GPU")  # before TensorFlow initialises them
    gpus = tf.config.list_logical_devices("GPU")
    if device == "gpu" and not gpus:
        raise PipelineError("train.device is gpu but TensorFlow sees no GPU: set train.device to auto or cpu")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy().scope, len(gpus), "gpu"
    return contextlib.nullcontext, 1, "gpu" if gpus else "cpu"


def choose_precision(*, setting, platform):
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
