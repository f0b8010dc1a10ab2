"""Pre-train BERT (masked LM + next sentence) on .tfrecord shards: recipe step 10, without TPUEstimator.

One run: choose the devices, build the model, then for each phase (phase 1; phase 2 at longer sequences when
configured) resume from the newest checkpoint in its model dir (weights, optimizer state, step and the curve so
far) and train to its `num_train_steps` with a checkpoint every `save_checkpoints_steps` and on SIGTERM/Ctrl-C;
then keep the final weights, evaluate on held-out shards and write a JSON manifest, last. Every path may be
local or gs://.

Several processes (hosts) train one model when the environment or the command line asks for it (processes.py):
each reads its share of every batch, process 0 alone writes checkpoints, events, weights and the manifest.

Keras fixes its backend when first imported, and importing TensorFlow imports it: the entry point
(train_cli.py: the command line and the Snakemake job) chooses the backend before it imports this file.
"""

import logging
import os
import time

from bert_pretraining.training import checkpoints
from bert_pretraining.training import devices
from bert_pretraining.training import evaluate
from bert_pretraining.training import input_pipeline
from bert_pretraining.training import processes
from bert_pretraining.training import train_settings
from bert_pretraining.logs import PipelineError
from bert_pretraining.training.train_callback import Monitor, format_seconds, stop_on_signals
from bert_pretraining.training.train_outputs import export_model, write_manifest

log = logging.getLogger("train")


class Interrupted(PipelineError):
    pass


def train(
    *,
    bert_config_path,
    vocab_path,
    train_files,
    model_dir,
    backend,
    device,
    mixed_precision,
    seed,
    phase2_train_files,
    **settings,
):
    """Train every phase of `settings` (train_settings.phases): phase 1 on `train_files`, then, when its
    phase2_num_train_steps is not 0, phase 2 on `phase2_train_files`. Returns (model, the last phase's summary
    with the earlier ones' in `previous_phases`).

    A `{config_hash}` in `model_dir` becomes the model config's fingerprint, so that each config trains in a
    folder of its own; without it, a checkpoint of another config in `model_dir` stops the run. Phase 2 keeps its
    checkpoints in a subfolder named after the phase-1 step it starts from (phase_folder).
    """
    keras = devices.select_backend(backend)
    from bert_pretraining.modeling import model as bert  # after select_backend: model.py imports Keras

    bert_config, config_hash, model_dir = checkpoints.config_folder(
        model_dir, bert_config_path=bert_config_path, vocab_path=vocab_path
    )
    # Before any device is touched: a no-op with one process, or once the command line has started them.
    index, count = processes.start(backend=backend, environ=os.environ)
    if index == 0:  # the writer; the others read only. Before reading its checkpoints; held until exit
        checkpoints.lock(model_dir)
    scope, replicas, platform = devices.distribution(backend=backend, device=device)
    precision = devices.precision_here(setting=mixed_precision, platform=platform, backend=backend)
    keras.mixed_precision.set_dtype_policy(precision)
    log.info(
        "backend %s, %d %s replica(s) over %d process(es), %s, model config %s, model dir %s",
        backend,
        replicas,
        platform,
        count,
        precision,
        config_hash,
        model_dir,
    )
    keras.utils.set_random_seed(seed)
    with scope():
        model = bert.build_pretrainer(bert_config)
    run = dict(scope=scope, config_hash=config_hash, bert_config=bert_config, seed=seed)
    run.update(backend=backend, platform=platform, replicas=replicas, precision=precision, process=index,
               processes=count)
    summaries = []
    for number, (phase, files) in enumerate(zip(train_settings.phases(settings), (train_files, phase2_train_files)), 1):
        # Phase 2 starts from the weights phase 1 ended with, which are in `model` now (trained or restored).
        folder = model_dir if number == 1 else phase_folder(model_dir, number, summaries[-1]["final_step"])
        section = train_settings.PHASE_SECTIONS[number - 1]
        summaries.append(train_phase(model, f"phase{number}", section, folder, files, run=run, **phase))
    return model, dict(summaries[-1], previous_phases=summaries[:-1])


def phase_folder(model_dir, number, after_step):
    """Phase 2's checkpoints: one folder per phase-1 step it started from, so that phase 1 trained further
    starts phase 2 over instead of resuming it from older weights."""
    return f"{model_dir.rstrip('/')}/phase{number}-from-{after_step:08d}"


def train_phase(
    model,
    name,
    section,
    model_dir,
    train_files,
    *,
    run,
    batch_size,
    learning_rate,
    warmup_steps,
    num_train_steps,
    optimizer,
    weight_decay,
    gradient_clip_norm,
    gradient_accumulation_steps,
    save_checkpoints_steps,
    keep_checkpoints,
    log_every_steps,
    max_seq_length,
    max_predictions_per_seq,
    jit_compile,
    steps_per_execution,
    shuffle_buffer,
):
    """Train `model` to `num_train_steps` of this phase, resuming from the newest checkpoint in `model_dir`, with
    an optimizer and schedule of the phase's own. Returns the phase's summary."""
    micro_steps = gradient_accumulation_steps
    error = train_settings.batch_size_error(section, batch_size, micro_steps, run["replicas"])
    if error:
        raise PipelineError(error)
    if run["process"] == 0:
        checkpoints.lock(model_dir)  # phase 1's is held already; phase 2's folder has one of its own
    # `optimizer` is the setting's name (adamw, lamb); the Keras optimizer built from it is the model's.
    update = dict(optimizer=optimizer, weight_decay=weight_decay, gradient_clip_norm=gradient_clip_norm)
    schedule, built = compile_phase(model, run, learning_rate=learning_rate, warmup_steps=warmup_steps,
                                    num_train_steps=num_train_steps, micro_steps=micro_steps, update=update,
                                    jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    meta = resume(model, built, name, model_dir, run)
    start_step = meta["step"]
    check_steps_left(name, start_step, num_train_steps, steps_per_execution)

    run_start, last_saved = time.time(), start_step
    if start_step < num_train_steps:
        meta["sessions"] = meta["sessions"] + [{"start_step": start_step, "started": checkpoints.utc_now()}]
        # A resumed run shuffles with a seed of its own, as TPUEstimator's restarted input_fn did, rather than
        # replaying the first batches the run already trained on.
        # Every process reads the same stream and keeps its share of each batch: together, the batches of one.
        dataset = input_pipeline.make_dataset(train_files, batch_size // micro_steps, max_seq_length,
                                              max_predictions_per_seq, training=True, seed=run["seed"] + start_step,
                                              shuffle_buffer=shuffle_buffer, num_shards=run["processes"],
                                              shard_index=run["process"])
        monitor = Monitor(schedule=schedule, model_dir=model_dir, meta=meta, start_step=start_step,
                          total_steps=num_train_steps, batch_size=batch_size, save_every=save_checkpoints_steps,
                          keep=keep_checkpoints, log_every=log_every_steps, writer=run["process"] == 0)
        fit(model, dataset, monitor, name, micro_batches=(num_train_steps - start_step) * micro_steps)
        last_saved, meta["history"] = monitor.last_saved, monitor.windows.history

    # Process 0 may still be writing the final checkpoint, which the summary names (found on a two-host TPU slice).
    processes.barrier(f"{name} saved")
    summary = phase_summary(name, model_dir, run, meta, start_step=start_step, final_step=last_saved,
                            run_seconds=time.time() - run_start, num_train_steps=num_train_steps,
                            batch_size=batch_size, gradient_accumulation_steps=micro_steps,
                            max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
                            learning_rate=learning_rate, warmup_steps=warmup_steps)
    return dict(summary, **update)


def compile_phase(
    model, run, *, learning_rate, warmup_steps, num_train_steps, micro_steps, update, jit_compile, steps_per_execution
):
    """Compile `model` with a schedule and optimizer of the phase's own; returns (schedule, optimizer). `update`:
    make_optimizer's optimizer, weight_decay and gradient_clip_norm; float16 adds dynamic loss scaling."""
    from bert_pretraining.modeling import model as bert

    with run["scope"]():
        schedule = bert.WarmupLinearDecay(learning_rate, warmup_steps, num_train_steps, micro_steps)
        optimizer = bert.make_optimizer(schedule, **update, loss_scale=run["precision"] == "mixed_float16")
        # Keras counts micro-batches: an execution of whole optimizer steps ends on a step, where the callback acts.
        bert.compile_pretrainer(
            model, optimizer, jit_compile=jit_compile, steps_per_execution=steps_per_execution * micro_steps
        )
        optimizer.build(model.trainable_variables)
    return schedule, optimizer


def resume(model, optimizer, name, model_dir, run):
    """Restore the newest checkpoint in `model_dir`, if any, into `model` and `optimizer`; returns what it keeps
    beside the arrays (at step 0 when there is none)."""
    from bert_pretraining.modeling import model as bert

    # sessions: [{start_step, started}] of every run that saved a checkpoint in this line of checkpoints;
    # history: their log windows, each marked with its session.
    meta = dict(
        config_hash=run["config_hash"],
        bert_config=run["bert_config"],
        phase=name,
        step=0,
        train_seconds=0.0,
        sessions=[],
        history=[],
    )
    if run["process"] == 0:  # it holds the lock: a temporary file there is what a killed run left
        checkpoints.remove_partial(model_dir)
    newest = checkpoints.listing(model_dir)[-1:]
    processes.agree(newest[0][0] if newest else -1, f"newest checkpoint step in {model_dir}")
    if newest:
        with run["scope"]():
            meta = checkpoints.restore(model, newest[0][1], config_hash=run["config_hash"])
        if "sessions" not in meta:
            log.warning("%s keeps no log history (an older checkpoint): the curve starts here", newest[0][1])
            meta.update(sessions=[], history=[])
        log.info("%s: resumed from %s at step %d", name, newest[0][1], meta["step"])
    else:
        log.info("%s: no checkpoint in %s: starting from step 0", name, model_dir)
    bert.set_optimizer_step(optimizer, meta["step"])
    return meta


def check_steps_left(name, start_step, num_train_steps, steps_per_execution):
    """Keras runs whole executions: the steps left must be a multiple of them, or it would overshoot the last."""
    if start_step > num_train_steps:
        log.warning("checkpoint step %d is past num_train_steps %d: keeping it", start_step, num_train_steps)
    if (num_train_steps - start_step) % steps_per_execution and start_step < num_train_steps:
        raise PipelineError(
            f"train.steps_per_execution {steps_per_execution} does not divide the {num_train_steps - start_step} "
            f"steps left in {name} (from step {start_step} to {num_train_steps}): change either"
        )


def fit(model, dataset, monitor, name, *, micro_batches):
    """Train on `micro_batches` of `dataset`; the monitor saves the checkpoints, and on SIGTERM/Ctrl-C a last one
    before the run stops (Interrupted)."""
    with stop_on_signals(monitor):
        model.fit(dataset, epochs=1, steps_per_epoch=micro_batches, callbacks=[monitor], verbose=0, shuffle=False)
    if monitor.stopped:
        raise Interrupted(
            f"training stopped by signal {monitor.stopped} at step {monitor.last_saved} of {name}; "
            "its checkpoint is saved: run again to resume"
        )


def phase_summary(
    name,
    model_dir,
    run,
    meta,
    *,
    start_step,
    final_step,
    run_seconds,
    num_train_steps,
    batch_size,
    gradient_accumulation_steps,
    max_seq_length,
    max_predictions_per_seq,
    learning_rate,
    warmup_steps,
):
    """What the phase did, for the manifest: its settings, where it ran, its speed and its whole loss curve."""
    steps_run = final_step - start_step
    return {
        "phase": name,
        "final_step": final_step,
        "start_step": start_step,
        "num_train_steps": num_train_steps,
        "config_hash": run["config_hash"],
        "model_dir": model_dir,
        "checkpoint": checkpoints.listing(model_dir)[-1][1],
        "backend": run["backend"],
        "platform": run["platform"],
        "replicas": run["replicas"],
        "precision": run["precision"],
        "batch_size": batch_size,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "max_seq_length": max_seq_length,
        "max_predictions_per_seq": max_predictions_per_seq,
        "learning_rate": learning_rate,
        "warmup_steps": warmup_steps,
        "run_seconds": round(run_seconds, 1),
        "train_seconds": round(meta["train_seconds"] + run_seconds, 1),
        "sequences_per_second": round(steps_run * batch_size / run_seconds, 1) if steps_run else None,
        # The whole curve, from step 0: every session that led to this checkpoint, the windows of one that died
        # after its last checkpoint left out (they belong to weights that were never kept).
        "sessions": meta["sessions"],
        "losses": meta["history"],
    }


def main(*, manifest_path, final_model_dir, eval_files, phase2_eval_files, eval_batch_size, eval_steps, **settings):
    """Train, keep the final weights, evaluate them on the last phase's held-out shard, write the manifest (train's
    summary) and print the metrics. `settings`: train()'s arguments. The model dirs stay locked until the
    manifest is written. With several processes, process 0 does all after training, and the others wait."""
    try:
        model, summary = train(**settings)
        index, count = processes.current()
        if index == 0:
            files = phase2_eval_files if summary["previous_phases"] else eval_files
            write_outputs(model, summary, settings, manifest_path=manifest_path, final_model_dir=final_model_dir,
                          eval_files=files, eval_batch_size=eval_batch_size, eval_steps=eval_steps)
        processes.barrier("outputs written")  # the others end once process 0 has written everything
    finally:
        checkpoints.release_locks()
    if index:
        print(f"process {index} of {count}: trained {summary['phase']} to step {summary['final_step']}")
        return summary
    last = summary["losses"][-1] if summary["losses"] else {}
    print(
        f"trained {summary['phase']} to step {summary['final_step']} in {format_seconds(summary['train_seconds'])}"
        + (f", loss {last['loss']:.4f}" if last else "")
        + "".join(f", {k} {v:.4f}" for k, v in summary.get("eval", {}).items() if isinstance(v, float))
    )
    return summary


def write_outputs(model, summary, settings, *, manifest_path, final_model_dir, eval_files, eval_batch_size, eval_steps):
    """The final weights, the held-out metrics (into `summary`) and, last, the manifest. With several processes,
    from a copy of the model on this process's devices alone: the distributed model runs only with every process
    taking part, and the others are done."""
    if processes.current()[1] > 1:
        model = local_copy(model, settings)
    export_model(
        model,
        bert_config_path=settings["bert_config_path"],
        vocab_path=settings["vocab_path"],
        out_dir=final_model_dir,
    )
    if eval_files:
        summary["eval"] = evaluate.evaluate(
            model,
            files=eval_files,
            batch_size=eval_batch_size,
            max_seq_length=summary["max_seq_length"],
            max_predictions_per_seq=summary["max_predictions_per_seq"],
            max_steps=eval_steps,
        )
    write_manifest(summary, manifest_path)  # last: its presence marks a finished run


def local_copy(model, settings):
    """`model`'s weights in a model on this process's devices alone."""
    import keras

    from bert_pretraining.modeling import model as bert

    bert_config, _, _ = checkpoints.config_folder(
        "", bert_config_path=settings["bert_config_path"], vocab_path=settings["vocab_path"]
    )
    keras.distribution.set_distribution(None)
    copy = bert.build_pretrainer(bert_config)
    copy.set_weights([variable.numpy() for variable in model.weights])
    return copy
