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


def gpu_capability(backend):
    """The first GPU's CUDA compute capability, e.g. (7, 5); (0, 0) when unknown."""
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        text = getattr(gpus[0], "compute_capability", "0.0") if gpus else "0.0"
        return tuple(int(part) for part in str(text).split(".")[:2])
    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)) if gpus else (0, 0)


def choose_precision(*, setting, platform, capability):
    """`auto`: bfloat16 compute where the hardware has it (TPUs, GPUs of compute capability 8.0 and later: Ampere),
    float16 with loss scaling on GPUs with float16 tensor cores but no bfloat16 (7.x: V100 7.0, T4 7.5), float32
    on older GPUs (no tensor cores; also an unknown capability) and CPUs. `capability`: the GPU's (major, minor)."""
    if setting != "auto":
        return setting
    if platform == "tpu":
        return "mixed_bfloat16"
    if platform == "gpu":
        capability = tuple(capability)
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16" if capability >= (7, 0) else "float32"
    return "float32"


def precision_here(*, setting, platform, backend):
    """choose_precision for this machine's devices (the GPU's capability read through `backend`)."""
    capability = gpu_capability(backend) if platform == "gpu" else None
    return choose_precision(setting=setting, platform=platform, capability=capability)
