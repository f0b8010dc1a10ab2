"""Upload to Cloud Storage with gsutil, against a real emulator on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from gcs_emulator import gcs_emulator, list_objects, unavailable
from bert_pretraining.cloud.upload import LOGIN
from workflow import ROOT, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


# A second phase (never trained here): its examples are per-shard files in a folder of their own.
PHASE2 = {"num_train_steps": 10, "max_seq_length": 256, "max_predictions_per_seq": 40}


def test_no_bucket_no_upload_job(tmp_path):
    write_config(tmp_path)
    assert "upload" not in planned_jobs(tmp_path, "examples")


def test_upload_mirrors_the_folders_and_records_them(tmp_path):
    with gcs_emulator(tmp_path / "gcs") as gcs:
        env = gcs["env"]
        # with a second phase, whose examples are uploaded too
        write_config(tmp_path, bucket="test-bucket", bucket_prefix="run1", shards={"lines_per_shard": 4000},
                     phase2=PHASE2)
        snakemake(tmp_path, "--cores", "2", "upload", env=env)
        manifest = json.loads((tmp_path / "results" / "upload" / "manifest.json").read_text())
        urls = sorted(o["url"] for o in manifest["objects"])
        assert urls == list_objects(env, "gs://test-bucket/run1")
        assert "gs://test-bucket/run1/bert_model/bert_config.json" in urls
        records = [u for u in urls if u.endswith(".tfrecord")]
        assert len(records) == 2 * len(list((tmp_path / "results" / "shards").glob("shard_*")))
        assert len(manifest["copied"]) == len(urls)

        # one changed shard is uploaded again, the others are not
        changed = tmp_path / "results" / "pretraining_data" / "shard_0001.tfrecord"
        changed.write_bytes(changed.read_bytes()[:-7] + b"changed")
        snakemake(tmp_path, "--cores", "2", "upload", "--forcerun", "upload", env=env)
        manifest = json.loads((tmp_path / "results" / "upload" / "manifest.json").read_text())
        assert manifest["copied"] == ["results/pretraining_data/shard_0001.tfrecord"]

        # fewer shards: every phase's stale files go, here and from the bucket
        write_config(tmp_path, bucket="test-bucket", bucket_prefix="run1", shards={"lines_per_shard": 9000},
                     phase2=PHASE2)
        snakemake(tmp_path, "--cores", "2", "upload", env=env)
        shards = sorted(p.name for p in (tmp_path / "results" / "shards").glob("shard_*"))
        for folder in ("pretraining_data", "pretraining_data_phase2"):
            local = sorted(p.name for p in (tmp_path / "results" / folder).glob("shard_*.tfrecord"))
            remote = [u.rsplit("/", 1)[1] for u in list_objects(env, f"gs://test-bucket/run1/{folder}")
                      if u.endswith(".tfrecord")]
            assert local == sorted(remote) == [f"{shard}.tfrecord" for shard in shards], folder
        assert 2 * len(shards) < len(records)


def test_missing_bucket_is_one_clear_error(tmp_path):
    with gcs_emulator(tmp_path / "gcs") as gcs:
        write_config(tmp_path, bucket="no-such-bucket", shards={"lines_per_shard": 9000})
        result = snakemake(tmp_path, "--cores", "2", "upload", env=gcs["env"], check=False)
        assert result.returncode != 0
        assert "gs://no-such-bucket does not exist" in result.stdout + result.stderr
        assert not (tmp_path / "results" / "upload" / "manifest.json").exists()


def test_unreachable_storage_fails_without_a_manifest(tmp_path):
    with gcs_emulator(tmp_path / "gcs") as gcs:
        env = gcs["env"]
    # the emulator is gone: the upload must fail, and no manifest may claim what is not there
    write_config(tmp_path, bucket="test-bucket", shards={"lines_per_shard": 9000})
    result = snakemake(tmp_path, "--cores", "2", "upload", env=env, check=False)
    assert result.returncode != 0 and "ERROR:" in result.stdout + result.stderr
    assert not (tmp_path / "results" / "upload" / "manifest.json").exists()


def _upload(folder, env):
    """The upload target with a deadline: a gsutil that hangs must fail the test, not stall the suite."""
    result = snakemake(folder, "--cores", "2", "upload", env=env, check=False, timeout=240)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR:")]
    return result.returncode, errors


def test_storage_gone_mid_upload_fails_cleanly_and_a_rerun_finishes(tmp_path):
    write_config(tmp_path, bucket="test-bucket", bucket_prefix="run1", shards={"lines_per_shard": 4000})
    snakemake(tmp_path, "--cores", "2", "examples")  # the data first, so that the failure is the upload's
    manifest = tmp_path / "results" / "upload" / "manifest.json"
    with gcs_emulator(tmp_path / "gcs") as gcs:
        gcs["faults"]["stop_after_uploads"] = 3  # then every connection is dropped, as by a service gone away
        returncode, errors = _upload(tmp_path, gcs["env"])
        uploaded = gcs["faults"]["uploads"]  # 3, or a few more that were under way in parallel
    assert returncode != 0 and not manifest.exists()
    # the command that failed and why, not only gsutil's closing count
    assert len(errors) == 1 and errors[0].startswith("ERROR: gsutil rsync failed: "), errors
    assert "could not be copied" in errors[0] and "closed connection" in errors[0], errors
    assert errors[0].endswith("run again to retry"), errors

    # the emulator back, with what it held: the re-run copies only what is missing, and records the bucket
    with gcs_emulator(tmp_path / "gcs") as gcs:
        env = gcs["env"]
        before = list_objects(env, "gs://test-bucket/run1")
        assert len(before) == uploaded >= 3
        returncode, errors = _upload(tmp_path, env)
        assert returncode == 0 and not errors
        recorded = json.loads(manifest.read_text())
        urls = sorted(o["url"] for o in recorded["objects"])
        assert urls == list_objects(env, "gs://test-bucket/run1")
        assert len(recorded["copied"]) == len(urls) - len(before) > 0


def test_refused_credentials_are_one_clear_error(tmp_path):
    write_config(tmp_path, bucket="test-bucket", shards={"lines_per_shard": 9000})
    snakemake(tmp_path, "--cores", "2", "examples")
    with gcs_emulator(tmp_path / "gcs") as gcs:
        # no valid credential; no access (gsutil words a 403 to an anonymous caller as a paragraph of its own)
        for status, reason in [(401, "401 Anonymous caller"), (403, "no credentials are configured")]:
            gcs["faults"]["refuse"] = status
            returncode, errors = _upload(tmp_path, gcs["env"])
            assert returncode != 0 and not (tmp_path / "results" / "upload" / "manifest.json").exists()
            assert len(errors) == 1 and errors[0].startswith("ERROR: Cloud Storage refused the request ("), errors
            assert reason in errors[0] and errors[0].endswith(LOGIN), errors


def processes_naming(text):
    """Pids of the live processes whose command line contains `text` (zombies have none)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def interruptible():
    """Ctrl-C reaches the caller as it reaches a command started from a shell: SIGINT at its default, unblocked.
    In CI, late in the whole suite, the caller twice did not end within 60 s of its SIGINT (alone, and after the
    TPU tests, this test passed; the pytest process's own SIGINT state was the default): an ignored or blocked
    SIGINT inherited from the test process is ruled out here; the cause is not known."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def test_a_stopped_gsutil_leaves_no_process_behind(tmp_path):
    """gsutil forks helpers that outlive a killed gsutil: stopping the caller (Ctrl-C; tpu.py turns SIGTERM into
    the same) must take them all."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts, never answers: gsutil waits on it
        boto = tmp_path / "boto.cfg"
        boto.write_text(f"[Credentials]\ngs_json_host = 127.0.0.1\ngs_json_port = {server.getsockname()[1]}\n"
                        "[Boto]\nhttps_validate_certificates = False\nnum_retries = 0\n"
                        "[GSUtil]\nprefer_api = json\nsoftware_update_check_period = 0\n")
        url = f"gs://test-bucket/{uuid.uuid4().hex}/manifest.json"
        caller = subprocess.Popen(
            [sys.executable, "-c",
             "import os; from bert_pretraining.cloud import upload; upload.gsutil_ls(os.environ['URL'])"],
            env=dict(os.environ, BOTO_CONFIG=str(boto), URL=url, PYTHONPATH=os.path.join(ROOT, "scripts")),
            stderr=subprocess.DEVNULL,
            preexec_fn=interruptible,
        )
        try:
            deadline = time.monotonic() + 60
            while len(processes_naming(url)) < 3:  # gsutil and its two helpers
                assert time.monotonic() < deadline and caller.poll() is None, processes_naming(url)
                time.sleep(0.1)
            caller.send_signal(signal.SIGINT)
            caller.wait(timeout=60)
            assert processes_naming(url) == []
        finally:
            caller.kill()
            for pid in processes_naming(url):
                os.kill(pid, signal.SIGKILL)
