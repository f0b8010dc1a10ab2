"""The data steps on a real one-node Slurm cluster: every job a Slurm job, outputs identical to a local run."""

import filecmp
import os
import subprocess

import pytest

from slurm_cluster import local_slurm, slurm_job_ids, unavailable
from workflow import ROOT, command, snakemake, write_config

TARGET = "examples"
SLURM_ARGS = [
    "--workflow-profile", os.path.join(ROOT, "profiles", "slurm"),
    "--jobs", "4",
    "--max-threads", "2",
    "--cores", "2",  # the test node's size
    "--slurm-no-account",
    "--slurm-status-command", "squeue",  # no slurmdbd here, so no sacct
    "--slurm-init-seconds-before-status-checks", "1",
    "--slurm-keep-successful-logs",
]

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def _outputs(results):
    """Every file under results/ except logs, benchmarks and Snakemake's own marks."""
    files = set()
    for folder, _, names in os.walk(results):
        rel = os.path.relpath(folder, results)
        if rel.split(os.sep)[0] in ("logs", "benchmarks"):
            continue
        files |= {os.path.normpath(os.path.join(rel, n)) for n in names if not n.startswith(".")}
    return files


def test_data_steps_run_as_slurm_jobs_with_identical_outputs(tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for folder in (local, cluster):
        folder.mkdir()
        # Two shards (of the sample's 16,825 lines): the fewest that show one submission per shard; short
        # examples, each sentence once, so that a shard's job ends before the Slurm plugin's second poll.
        write_config(folder, shards={"lines_per_shard": 9000},
                     pretraining_data={"max_seq_length": 64, "max_predictions_per_seq": 10, "dupe_factor": 1})
    # The local run to compare with goes on meanwhile, niced: the Slurm run mostly waits for its polls.
    with open(tmp_path / "local.log", "w") as log:
        reference = subprocess.Popen(command(local, TARGET, "--cores", "2"), cwd=local, stdout=log,
                                     stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(10))
    try:
        # A node larger than this machine, so that jobs the DAG lets run side by side (shard beside the
        # tokenizer's steps) do not queue behind one another; jobs start as soon as they are submitted.
        with local_slurm(tmp_path / "cluster", cpus=8, start_at_once=True):
            snakemake(cluster, TARGET, *SLURM_ARGS)
            known = slurm_job_ids()
        assert reference.wait(timeout=600) == 0, (tmp_path / "local.log").read_text()
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()

    logs = cluster / ".snakemake" / "slurm_logs"
    # .snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<Slurm job id>.log
    ran = {rule.name.removeprefix("rule_"): [p.stem for p in rule.rglob("*.log")] for rule in logs.iterdir()}
    assert {"download", "subset", "normalize", "sentencepiece", "wordpiece_vocab", "shard", "bert_config"} <= set(ran)
    shards = len(list((cluster / "results" / "shards").glob("shard_*")))
    assert shards > 1 and len(ran["pretraining_data"]) == shards  # the per-shard jobs, one submission each
    job_ids = [job for jobs in ran.values() for job in jobs]
    assert job_ids and set(job_ids) <= known  # each was a job of this cluster's controller

    files = _outputs(local / "results")
    assert files == _outputs(cluster / "results") and "vocab.txt" in files
    for name in sorted(files):
        assert filecmp.cmp(local / "results" / name, cluster / "results" / name, shallow=False), name
