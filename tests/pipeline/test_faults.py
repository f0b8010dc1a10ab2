"""Faults a user meets: a job killed with kill -9, and errors the project raises on purpose."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from bert_pretraining.atomic import atomic_dir, atomic_path, temporary_name_pattern
from workflow import ROOT, snakemake, write_config

SCRIPTS = os.path.join(ROOT, "scripts")

# A job that rewrites a text file through blocks.transform_lines. With PAUSE_FLAG set it stops, before its
# fourth block, after creating that file: the moment the test kills it, with three blocks in the hidden file.
TRANSFORM_JOB = f"""
import os
import sys
import time
sys.path.insert(0, {SCRIPTS!r})
from bert_pretraining.text import blocks

calls = 0

def upper(text):
    global calls
    calls += 1
    if calls == 4 and os.environ.get("PAUSE_FLAG"):
        open(os.environ["PAUSE_FLAG"], "w").close()
        time.sleep(600)
    return text.upper()

blocks.transform_lines(sys.argv[1], sys.argv[2], upper, block_bytes=1 << 16)
"""


def alive(group):
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def job_processes(group):
    """Pids of the script jobs (python .snakemake/scripts/...) in process group `group`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                pgrp = int(f.read().rsplit(")", 1)[1].split()[2])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if pgrp == group and b".snakemake/scripts/" in cmdline:
            found.append(int(pid))
    return found


def wait_for(condition, what, limit=300):
    deadline = time.monotonic() + limit  # a guard against a hang, not a measurement
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def hidden(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_rerun_after_kill_9_removes_the_killed_attempts_file(tmp_path):
    src, out = tmp_path / "corpus.txt", tmp_path / "out"
    src.write_text("".join(f"line {i} of a generated corpus\n" for i in range(100_000)))  # 3.2 MB
    job = tmp_path / "job.py"
    job.write_text(TRANSFORM_JOB)
    dest = out / "proc_dataset.txt"
    flag = tmp_path / "paused"
    process = subprocess.Popen([sys.executable, str(job), str(src), str(dest)],
                               env=dict(os.environ, PAUSE_FLAG=str(flag)))
    deadline = time.monotonic() + 120  # a guard against a job that never gets there, not a measurement
    while not flag.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), "the job never reached its fourth block"
    process.send_signal(signal.SIGKILL)
    process.wait()

    left = hidden(out)
    assert len(left) == 1 and temporary_name_pattern(dest).fullmatch(left[0]), left
    assert (out / left[0]).stat().st_size >= 3 << 16  # killed mid-write: three blocks written
    assert not dest.exists()

    subprocess.run([sys.executable, str(job), str(src), str(dest)], check=True)
    assert hidden(out) == []
    assert dest.read_text() == src.read_text().upper()


def test_a_sibling_outputs_temporary_file_is_left_alone(tmp_path):
    # What killed attempts left: mkstemp's own names, for this output and for outputs beside it.
    def left_by(name, suffix=".tmp"):
        fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=tmp_path)
        os.close(fd)
        return os.path.basename(path)

    own = [left_by("shard_0002.tfrecord"), left_by("shard_0002.tfrecord")]
    siblings = [
        left_by("shard_0002"),  # `.shard_0002.<random>.tmp`: the random part is no `tfrecord`
        left_by("shard_0002.stats.json"),
        left_by("shard_0012.tfrecord"),
        left_by("shard_0002.tfrecord.gz"),
        left_by("shard_0002.tfrecord", suffix=".svg.tmp"),  # atomic_path(..., suffix=".svg") of that name
    ]
    assert all(temporary_name_pattern(tmp_path / "shard_0002.tfrecord").fullmatch(n) for n in own)
    with atomic_path(tmp_path / "shard_0002.tfrecord") as tmp:
        assert set(hidden(tmp_path)) == set(siblings) | {os.path.basename(tmp)}  # the stale ones are gone
        with open(tmp, "w") as f:
            f.write("records")
    assert set(hidden(tmp_path)) == set(siblings)
    assert (tmp_path / "shard_0002.tfrecord").read_text() == "records"


def test_atomic_dir_clears_a_killed_attempts_folder_and_only_its_own(tmp_path):
    stale = tempfile.mkdtemp(prefix=".shards.", suffix=".tmp", dir=tmp_path)
    with open(os.path.join(stale, "shard_0000"), "w") as f:
        f.write("half a shard")
    other = tempfile.mkdtemp(prefix=".shards_old.", suffix=".tmp", dir=tmp_path)
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "shard_0000").write_text("the previous run's shard\n")
    with atomic_dir(tmp_path / "shards") as tmp:
        assert hidden(tmp_path) == sorted([os.path.basename(other), os.path.basename(tmp)])
        with open(os.path.join(tmp, "shard_0000"), "w") as f:
            f.write("a new shard\n")
    assert hidden(tmp_path) == [os.path.basename(other)]  # the replaced folder went too
    assert os.listdir(tmp_path / "shards") == ["shard_0000"]
    assert (tmp_path / "shards" / "shard_0000").read_text() == "a new shard\n"


RAISING_JOB = f"""
import sys
sys.path.insert(0, {SCRIPTS!r})
from bert_pretraining.logs import PipelineError, rule_log

class SettingError(PipelineError):
    pass

def check(kind):
    if kind == "on purpose":
        raise SettingError("tokenizer.vocab_size: 99 is too small; use at least 262")
    raise ValueError("an unexpected bug")

with rule_log(sys.argv[1]):
    check(sys.argv[2])
"""


@pytest.mark.parametrize("kind", ["on purpose", "a bug"])
def test_rule_log_puts_the_traceback_in_the_log_and_a_bugs_on_the_console_too(tmp_path, kind):
    job = tmp_path / "job.py"
    job.write_text(RAISING_JOB)
    log = tmp_path / "job.log"
    result = subprocess.run([sys.executable, str(job), str(log), kind], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" in log.read_text() and "in check" in log.read_text()
    if kind == "on purpose":
        assert result.stderr == "ERROR: tokenizer.vocab_size: 99 is too small; use at least 262\n"
    else:  # a bug keeps its traceback on the console
        assert result.stderr.startswith("ERROR: an unexpected bug\nTraceback")
        assert result.stderr.rstrip().endswith("ValueError: an unexpected bug")


def test_a_failed_job_shows_one_error_line_and_logs_the_traceback(tmp_path):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("")
    write_config(tmp_path, corpus={"source": str(corpus)})
    result = snakemake(tmp_path, "--cores", "1", "data", check=False, timeout=600)
    console = result.stdout + result.stderr
    assert result.returncode != 0
    error = f"ERROR: the corpus {corpus} is empty: point corpus.source at text, one sentence per line"
    assert console.count(error) == 1 and "Traceback" not in console
    log = (tmp_path / "results" / "logs" / "subset" / "subset.log").read_text()
    assert "Traceback" in log and "CorpusError: the corpus" in log


def test_kill_9_of_snakemake_and_the_recovery_the_readme_gives(tmp_path):
    """README, 'Interrupted runs': what a kill -9 of Snakemake leaves, and how to recover."""
    write_config(tmp_path)
    target = "results/raw/corpus.txt"
    markers = tmp_path / ".snakemake" / "incomplete"
    cmd = [os.path.join(os.path.dirname(sys.executable), "snakemake"), "--cores", "1", target,
           "-s", os.path.join(ROOT, "Snakefile"), "--configfile", str(tmp_path / "config.yaml")]
    run = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)  # its jobs share its process group: the test can end them
    try:
        wait_for(lambda: job_processes(run.pid), "the download job to start")
        run.send_signal(signal.SIGKILL)
        run.wait()
        # The job outlives Snakemake, and finishes its output.
        assert job_processes(run.pid)
        wait_for(lambda: not alive(run.pid), "the orphaned job to end")
    finally:
        if alive(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
    assert (tmp_path / target).stat().st_size > 0
    assert os.listdir(tmp_path / ".snakemake" / "locks") and os.listdir(markers)

    refused = snakemake(tmp_path, "--cores", "1", target, check=False)
    assert refused.returncode != 0 and "--unlock" in refused.stderr
    snakemake(tmp_path, "--unlock")
    plan = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "plan.py"), "--json", target,
                           "-s", os.path.join(ROOT, "Snakefile"), "--configfile", str(tmp_path / "config.yaml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True)
    row = next(r for r in json.loads(plan.stdout)["rows"] if r["rule"] == "download")
    assert row["status"] == "will rebuild"
    assert row["why"] == [f"incomplete output (an interrupted run): {target}"]

    rerun = snakemake(tmp_path, "--cores", "1", target)
    assert "rule download" in rerun.stdout + rerun.stderr  # the job marked incomplete ran again
    assert not os.listdir(markers) and hidden(tmp_path / "results" / "raw") == []
