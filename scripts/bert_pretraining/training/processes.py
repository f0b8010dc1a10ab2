"""Training over several processes, one per host (or several on one host): JAX's distributed runtime, started
through Keras 3's own `keras.distribution.initialize`, and one `DataParallel` over the devices of every process.

Every process runs the same training command. They find each other from, in this order:
- the command line's --coordinator-address / --num-processes / --process-id, passed to
  keras.distribution.initialize as they are;
- Keras's variables KERAS_DISTRIBUTION_JOB_ADDRESSES (the coordinator, process 0, first; or only it),
  KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID, which keras.distribution.initialize reads;
- what JAX detects by itself: a Slurm job step of several tasks (srun), a Cloud TPU slice of several workers.
None of these: one process, as before, and nothing here starts.

Process 0 writes what the run leaves (checkpoints, TensorBoard events, the manifest, the final weights) and
alone holds the model dir's lock; the others read the checkpoint it resumes from and wait for it at the end.
A process that dies takes the others with it: JAX's distributed runtime stops them (SIGABRT) once its
heartbeats stop, and the command line (train_cli.py) runs each trainer under a small supervising process
(supervise) that turns that into one error line.
"""

import contextlib
import functools
import logging
import os
import signal
import subprocess
import sys

from bert_pretraining.logs import PipelineError

log = logging.getLogger("train")

KERAS_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")
# Set by supervise() in the trainer it starts: that one trains instead of supervising again.
SUPERVISED = "BERT_PRETRAINING_SUPERVISED"


class LostProcess(PipelineError):
    pass


def requested(environ, num_processes=None):
    """Why this run trains over several processes (for messages), or None for one process.

    `num_processes`: the command line's --num-processes. Slurm counts when the process runs in a job step of
    several tasks (srun: SLURM_STEP_ID and SLURM_NTASKS > 1), not in a batch script that merely asked for them;
    a TPU slice when TPU_WORKER_HOSTNAMES (or TPU_PROCESS_ADDRESSES) names several workers."""
    if num_processes is not None:
        return f"--num-processes {num_processes}" if num_processes > 1 else None
    count = environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES")
    if count and int(count) > 1:
        return f"KERAS_DISTRIBUTION_NUM_PROCESSES={count}"
    addresses = environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES", "")
    if "," in addresses:
        return f"KERAS_DISTRIBUTION_JOB_ADDRESSES names {len(addresses.split(','))} processes"
    if "SLURM_STEP_ID" in environ and int(environ.get("SLURM_NTASKS", "1")) > 1:
        return f"a Slurm job step of {environ['SLURM_NTASKS']} tasks"
    workers = environ.get("TPU_PROCESS_ADDRESSES") or environ.get("TPU_WORKER_HOSTNAMES") or ""
    if "," in workers:
        return f"a TPU slice of {len(workers.split(','))} workers"
    return None


def check_backend(backend, reason):
    """Multi-process training is JAX's distributed runtime: one clear error for TensorFlow."""
    if reason and backend != "jax":
        raise PipelineError(
            f"training over several processes ({reason}) needs the JAX backend: set train.backend: jax "
            "(--backend jax), or start one process"
        )


def current():
    """(this process's index, the number of processes): (0, 1) unless start() has joined several."""
    jax = sys.modules.get("jax")
    if jax is None or not jax.distributed.is_initialized():
        return 0, 1
    return jax.process_index(), jax.process_count()


def start(*, backend, environ, coordinator_address=None, num_processes=None, process_id=None, heartbeat_timeout=None):
    """Join the run's other processes (once; before anything touches a device) when the arguments or `environ`
    ask for several (requested); returns current(). `heartbeat_timeout`: seconds after which a silent process
    counts as lost (None: JAX's 100), also the time the others wait for it at exit."""
    reason = requested(environ, num_processes)
    if reason is None:
        return current()
    check_backend(backend, reason)
    if current()[1] == 1:
        import jax
        import keras

        try:
            with jax_timeouts(jax, heartbeat_timeout):
                keras.distribution.initialize(coordinator_address, num_processes, process_id)
        except (RuntimeError, ValueError) as error:  # jax's XlaRuntimeError is a RuntimeError
            raise PipelineError(
                f"training over several processes ({reason}): the processes did not find each other "
                f"({str(error).splitlines()[0]}); start the same command on every host, process 0's address "
                "reachable from all"
            ) from error
        log.info("process %d of %d (%s), %d devices in all", jax.process_index(), jax.process_count(), reason,
                 jax.device_count())
    return current()


@contextlib.contextmanager
def jax_timeouts(jax, seconds):
    """keras.distribution.initialize calls jax.distributed.initialize with JAX's timeouts; within this block it
    calls it with `seconds` as the heartbeat and shutdown timeouts."""
    if not seconds:
        yield
        return
    initialize = jax.distributed.initialize
    jax.distributed.initialize = functools.partial(
        initialize, heartbeat_timeout_seconds=seconds, shutdown_timeout_seconds=seconds
    )
    try:
        yield
    finally:
        jax.distributed.initialize = initialize


def barrier(name):
    """Wait until every process has come here (nothing to wait for with one)."""
    if current()[1] > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def agree(value, what):
    """Refuse to go on unless every process holds the same integer `value` (process 0's is the reference)."""
    if current()[1] == 1:
        return
    import numpy as np
    from jax.experimental import multihost_utils

    reference = int(multihost_utils.broadcast_one_to_all(np.int64(value)))
    if reference != value:
        raise PipelineError(
            f"process {current()[0]} sees {what} {value}, process 0 sees {reference}: every process must read the "
            "same model dir (a gs:// folder, or one on a file system the hosts share)"
        )


def any_signal(signum):
    """The largest of every process's `signum` (0: none asked to stop), so that all stop at one step when a
    signal (a preemption's SIGTERM, Ctrl-C) reached one of them, or each at its own step."""
    if current()[1] == 1:
        return signum
    import numpy as np
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.int32(signum))))


def supervise(command, environ, reason):
    """Run the trainer `command` in a process of its own and return its exit status, passing SIGTERM and SIGINT
    on (it saves a checkpoint and stops). JAX's distributed runtime ends a process with SIGABRT when another
    process of the run is lost: that becomes LostProcess, one line that says what happened and what to do."""
    trainer = subprocess.Popen(command, env=dict(environ, **{SUPERVISED: "1"}))
    forward = lambda signum, frame: trainer.send_signal(signum)  # noqa: E731
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = trainer.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if status == -signal.SIGABRT:
        raise LostProcess(
            f"training over several processes ({reason}) stopped: another process of the run was lost (killed, "
            "crashed, or its host went away), and JAX's distributed runtime ended this one (its log's last lines "
            "say which). Run the same command again on every host: it resumes from the last checkpoint"
        )
    if status < 0:
        raise PipelineError(f"the training process was ended by signal {-status} ({signal.Signals(-status).name})")
    return status


def supervising(environ, reason):
    """Whether this process should start the trainer under supervise() rather than train itself."""
    return bool(reason) and not environ.get(SUPERVISED)


def trainer_command(argv):
    """This training command again, for supervise(): the same script and arguments."""
    checkout = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    return [sys.executable, os.path.join(checkout, "scripts", "train_cli.py"), *argv]
