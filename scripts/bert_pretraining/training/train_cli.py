"""Training's entry points: the command line (on a TPU VM, or without Snakemake) and the train rule's job.

    python scripts/train_cli.py --bert-config bert_model/bert_config.json --vocab bert_model/vocab.txt \\
        --train-files pretraining_data/shard_0000.tfrecord ... --eval-files pretraining_data/shard_0009.tfrecord \\
        --model-dir gs://BUCKET/bert_model --manifest manifest.json --final-model-dir trained_model --backend jax

Its training options are train_settings.KEYS, with the config schema's defaults (`--help` lists them). Several
processes (hosts) train one model when --num-processes or Keras's KERAS_DISTRIBUTION_* variables name more than
one, or in a Slurm job step or TPU slice of several (processes.py): each runs this same command. Keras
fixes its backend when first imported, and importing TensorFlow imports it: both entries set KERAS_BACKEND
before they import train.py.
"""

import argparse
import logging
import os
import sys

from bert_pretraining.training import checkpoints
from bert_pretraining.training import processes
from bert_pretraining.training import train_settings
from bert_pretraining.logs import PipelineError, rule_log

SETTINGS = [name for _, _, name in train_settings.names()]


def parse_args(argv):
    """(paths, {setting: value})."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bert-config", required=True, help="bert_config.json (local or gs://)")
    p.add_argument("--vocab", required=True, help="vocab.txt (local or gs://)")
    p.add_argument("--train-files", required=True, nargs="+", help=".tfrecord files, folders or glob patterns")
    p.add_argument("--eval-files", nargs="*", default=[], help="held-out .tfrecord files (local or gs://)")
    p.add_argument("--phase2-train-files", nargs="*", default=[], help="phase 2's .tfrecord files (--phase2-num-train-steps)")
    p.add_argument("--phase2-eval-files", nargs="*", default=[], help="phase 2's held-out .tfrecord files")
    p.add_argument(
        "--model-dir", required=True, help="checkpoint folder (local or gs://; {config_hash} is replaced); resumes"
    )
    p.add_argument("--manifest", required=True, help="JSON manifest to write, last (local or gs://)")
    p.add_argument("--final-model-dir", required=True, help="folder for the final weights (local or gs://)")
    add_process_arguments(p)
    train_settings.add_arguments(p, keys=SETTINGS)
    args = p.parse_args(argv)
    return args, train_settings.from_args(p, args, keys=SETTINGS)


def add_process_arguments(p):
    """Training over several processes (processes.py); unset, Keras's KERAS_DISTRIBUTION_* variables or what JAX
    detects (Slurm, TPU slices) decide."""
    p.add_argument("--coordinator-address", help="host:port of process 0 (keras.distribution.initialize's "
                   "job_addresses; else KERAS_DISTRIBUTION_JOB_ADDRESSES, or what JAX detects)")
    p.add_argument("--num-processes", type=int, help="processes that train together (else "
                   "KERAS_DISTRIBUTION_NUM_PROCESSES, or what JAX detects)")
    p.add_argument("--process-id", type=int, help="this process's index, 0 for the one that writes (else "
                   "KERAS_DISTRIBUTION_PROCESS_ID, or what JAX detects)")
    p.add_argument("--heartbeat-timeout", type=int, help="seconds after which a silent process counts as lost and "
                   "the others stop (default: JAX's 100)")


def cli(argv):
    args, settings = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ["KERAS_BACKEND"] = settings["backend"]
    reason = processes.requested(os.environ, args.num_processes)
    try:
        processes.check_backend(settings["backend"], reason)
        if processes.supervising(os.environ, reason):
            sys.exit(processes.supervise(processes.trainer_command(argv), os.environ, reason))
    except PipelineError as error:
        logging.error("%s", error)
        sys.exit(1)
    from bert_pretraining.training import train

    try:
        processes.start(backend=settings["backend"], environ=os.environ, coordinator_address=args.coordinator_address,
                        num_processes=args.num_processes, process_id=args.process_id,
                        heartbeat_timeout=args.heartbeat_timeout)
        train.main(
            **settings,
            bert_config_path=args.bert_config,
            vocab_path=args.vocab,
            train_files=args.train_files,
            eval_files=args.eval_files,
            phase2_train_files=args.phase2_train_files,
            phase2_eval_files=args.phase2_eval_files,
            model_dir=args.model_dir,
            manifest_path=args.manifest,
            final_model_dir=args.final_model_dir,
        )
    except train.Interrupted as stopped:
        logging.error("%s", stopped)
        sys.exit(train_settings.INTERRUPTED)
    except PipelineError as error:  # what to change, in one line; no traceback
        logging.error("%s", error)
        sys.exit(1)


def snakemake_job(snakemake):
    """The train rule's job. TensorFlow talks on stderr as it loads, so the job's log becomes stderr first. The
    log is appended to: a second job, refused by the model dir's lock, leaves the running trainer's lines."""
    params = dict(snakemake.params.items())
    with rule_log(snakemake.log[0], mode="a"):
        os.environ["KERAS_BACKEND"] = params["backend"]
        from bert_pretraining.training import train

        train.main(
            **dict(params, model_dir=checkpoints.per_config(params["model_dir"])),  # a folder per model config
            bert_config_path=snakemake.input.bert_config,
            vocab_path=snakemake.input.vocab,
            train_files=list(snakemake.input.records),
            eval_files=[snakemake.input.held_out],
            phase2_train_files=list(snakemake.input.phase2_records),
            phase2_eval_files=list(snakemake.input.phase2_held_out),
            manifest_path=snakemake.output.manifest,
            final_model_dir=snakemake.output.model,
        )
