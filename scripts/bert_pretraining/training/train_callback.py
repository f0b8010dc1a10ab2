"""What training does between steps: log progress, write TensorBoard scalars, save checkpoints, and stop cleanly on
SIGTERM / Ctrl-C."""

import contextlib
import logging
import os
import signal
import time

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from bert_pretraining.training import checkpoints
from bert_pretraining.training import processes

log = logging.getLogger("train")


class Windows:
    """Turns Keras's running means (since the start of `fit`) into means over each log window.

    `history`: the windows of the sessions before this one, as the restored checkpoint holds them; this
    session's windows are marked with `session`, its index in the checkpoint's list of sessions."""

    def __init__(self, *, start_step, batch_size, history, session):
        self.start_step, self.batch_size = start_step, batch_size
        self.last = (start_step, time.time(), {})
        self.history, self.session = list(history), session

    def close(self, step, logs):
        """Mean of each metric over the steps since the previous call, and sequences/s."""
        last_step, last_time, last_sums = self.last
        now, done = time.time(), step - self.start_step
        sums = {k: float(v) * done for k, v in logs.items()}
        means = {k: (sums[k] - last_sums.get(k, 0.0)) / max(step - last_step, 1) for k in sums}
        seq_per_s = (step - last_step) * self.batch_size / max(now - last_time, 1e-9)
        self.last = (step, now, sums)
        self.history.append({"step": step, "session": self.session, **{k: round(v, 5) for k, v in means.items()}})
        return means, seq_per_s


class Monitor(keras.callbacks.Callback):
    """After every step (or execution of several): log, summarise, checkpoint, honour a stop request.

    `meta`: the checkpoint's meta so far; each checkpoint saved adds this session's time and log windows to it.
    `writer`: whether this process writes checkpoints and events (process 0 of several; the others log only)."""

    def __init__(
        self, *, schedule, model_dir, meta, start_step, total_steps, batch_size, save_every, keep, log_every, writer
    ):
        super().__init__()
        self.schedule, self.model_dir, self.meta = schedule, model_dir, meta
        self.start_step, self.total_steps, self.batch_size = start_step, total_steps, batch_size
        self.save_every, self.keep, self.log_every = save_every, keep, log_every
        # The log windows travel with the weights: a resume sees exactly the curve up to its checkpoint.
        self.windows = Windows(
            start_step=start_step, batch_size=batch_size, history=meta["history"], session=len(meta["sessions"]) - 1
        )
        self.writer = tf.summary.create_file_writer(os.path.join(model_dir, "train")) if writer else None
        self.previous = self.last_saved = start_step
        self.started = time.time()
        self.signal = 0  # set by stop_on_signals
        self.stopped = 0  # the signal training stopped for: with several processes, any process's, at one step

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 this runs every few steps: act when a multiple has been passed. Keras counts
        # micro-batches, and each execution ends on an optimizer step (train.py).
        step, previous = self.start_step + (batch + 1) // self.schedule.micro_steps, self.previous
        self.previous = step
        passed = lambda every: step // every > previous // every  # noqa: E731
        if passed(self.log_every) or step == self.total_steps:
            self.report(step, logs)
        stop = processes.any_signal(self.signal)  # every process stops at the same step
        if passed(self.save_every) or step == self.total_steps or stop:
            self.save(step)
        if stop:
            self.stopped = stop
            self.model.stop_training = True

    def report(self, step, logs):
        means, seq_per_s = self.windows.close(step, logs)
        left = (self.total_steps - step) * self.batch_size / max(seq_per_s, 1e-9)
        lr = float(self.schedule.at_step(step))
        log.info(
            "step %d/%d loss %.4f mlm_loss %.4f nsp_loss %.4f mlm_acc %.3f lr %.2e %.1f seq/s time left %s",
            step,
            self.total_steps,
            means["loss"],
            means.get("mlm_loss", 0),
            means.get("nsp_loss", 0),
            means.get("mlm_accuracy", 0),
            lr,
            seq_per_s,
            format_seconds(left),
        )
        if self.writer:
            write_scalars(self.writer, step, {**means, "learning_rate": lr, "sequences_per_second": seq_per_s})

    def save(self, step):
        if not self.writer:  # another process writes the run's checkpoints
            self.last_saved = step
            return
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()  # JAX keeps the training state outside the variables during fit.
        meta = dict(self.meta, train_seconds=self.train_seconds(), history=self.windows.history)
        path = checkpoints.save(self.model, self.model_dir, step=step, meta=meta, keep=self.keep)
        log.info("saved %s", path)
        self.last_saved = step

    def train_seconds(self):
        """Over every session that led here."""
        return self.meta["train_seconds"] + time.time() - self.started


def write_scalars(writer, step, scalars):
    """TensorBoard scalars through the core summary op: TensorFlow alone, no tensorboard package, writes them."""
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    with writer.as_default(step=step):
        for name, value in scalars.items():
            tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)
    writer.flush()


@contextlib.contextmanager
def stop_on_signals(monitor):
    """SIGTERM / Ctrl-C ask training to checkpoint and stop after the current step instead of dying mid-write."""

    def ask(signum, frame):
        log.warning("received signal %d: saving a checkpoint and stopping", signum)
        monitor.signal = signum

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def format_seconds(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
