"""`snakemake train` on a Cloud TPU, end to end on this machine: the real google-cloud-tpu client against a local
stand-in of the TPU API whose VMs run the startup script here, and a real Cloud Storage emulator that both
gsutil and TensorFlow's gs:// file system reach. Nothing leaves 127.0.0.1."""

import concurrent.futures
import json
import os
import subprocess
import sys
import time

import pytest

from bert_pretraining.training import train_cli
from bert_pretraining.training import train_settings
from gcs_emulator import gcs_emulator, list_objects, unavailable
from schema_defaults import section_defaults
from bert_pretraining.cloud.tpu import queued_resource, startup_script, train_command
from tpu_standin import TpuStandIn
from workflow import ROOT, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

TPU = {
    "name": "bert-test",
    "project": "test-project",
    "zone": "us-central1-a",
    "spot": True,
    "poll_seconds": 1,
    # The stand-in's "VM image" is this machine with the project's environment. Its setup asserts what installing
    # the pinned requirements would find (every pin of the code's requirements.txt is installed there) in a
    # fraction of a second, where `pip install --no-index` took 5 to 15 s a VM.
    "python": sys.executable,
    "setup": [
        f"{sys.executable} -c \"import importlib.metadata as m; "
        "pins = [line.split('#')[0].strip().split('==') for line in open('code/requirements.txt')]; "
        "wrong = [p for p in pins if p != [''] and m.version(p[0]) != p[1]]; "
        "assert not wrong, f'not installed: {wrong}'\""
    ],
}
SMALL = {
    # Two shards (one to train on, one held out) of short examples, each sentence once.
    "shards": {"lines_per_shard": 9000},
    "pretraining_data": {"max_seq_length": 64, "max_predictions_per_seq": 10, "dupe_factor": 1},
    "model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
    "train": {
        "backend": "jax",
        "batch_size": 8,
        # Windows before the preemption and after it; 20 steps after the first checkpoint, so that the
        # preemption (its SIGTERM follows the first checkpoint's line) lands before the end even on a busy machine.
        "num_train_steps": 30,
        "save_checkpoints_steps": 10,
        "log_every_steps": 10,
        "eval_steps": 2,
    },
}


def test_startup_script_trains_from_the_bucket_and_reports_failures():
    # The VM's command line carries every training setting the local rule has, and reads back as them.
    settings = dict(train_settings.defaults(), batch_size=8, jit_compile=True, backend="jax")
    command = train_command(
        python="venv/bin/python",
        settings=settings,
        bert_config="gs://b/bert_model/bert_config.json",
        vocab="gs://b/bert_model/vocab.txt",
        train_files=["gs://b/pretraining_data/shard_0000.tfrecord"],
        eval_files=["gs://b/pretraining_data/shard_0001.tfrecord"],
        phase2_files=([], []),
        model_dir="gs://b/bert_model/checkpoints/abc",
        run_url="gs://b/bert_model/trained",
    )
    assert command[:2] == ["venv/bin/python", "code/scripts/train_cli.py"]
    assert command[command.index("--jit-compile") + 1] == "true"
    args, read_back = train_cli.parse_args(command[2:])
    assert read_back == settings and args.manifest == "gs://b/bert_model/trained/manifest.json"
    assert args.train_files == ["gs://b/pretraining_data/shard_0000.tfrecord"]
    missing = {key: value for key, value in settings.items() if key != "eval_steps"}
    with pytest.raises(KeyError, match="eval_steps"):  # a setting left out is an error, not the VM's default
        train_command(python="p", settings=missing, bert_config="c", vocab="v", train_files=[], eval_files=[],
                      phase2_files=([], []), model_dir="m", run_url="r")  # fmt: skip
    script = startup_script(
        code_url="gs://b/code", setup=["echo setup"], command=command, error_dir="gs://b/bert_model/trained/errors/n-1"
    )
    assert script.startswith("#!/bin/bash\n") and "gsutil -m -q rsync -r gs://b/code code" in script
    assert 'gs://b/bert_model/trained/errors/n-1/worker-"$worker".log' in script  # each worker its own log
    assert script.index("echo setup") < script.index("code/scripts/train_cli.py")
    resource = queued_resource(
        {
            "project": "p",
            "zone": "z",
            "accelerator_type": "v2-8",
            "runtime_version": "tpu-ubuntu2204-base",
            "spot": True,
        },
        "bert-1",
        script,
    )
    node = resource.tpu.node_spec[0]
    assert node.parent == "projects/p/locations/z" and node.node_id == "bert-1"
    assert node.node.metadata["startup-script"] == script and "spot" in resource


def test_without_tpu_training_stays_local(tmp_path):
    write_config(tmp_path, bucket="test-bucket")
    jobs = planned_jobs(tmp_path, "train")
    assert "tpu_code" not in jobs and "upload" not in jobs


def test_tpu_needs_a_bucket_and_jax(tmp_path):
    cases = {
        "tpu.name is set but bucket is not": dict(tpu=TPU, train={"backend": "jax"}),
        "train.backend must be jax with a TPU": dict(tpu=TPU, bucket="test-bucket", train={"backend": "tensorflow"}),
        "tpu.accelerator_type: 'v4-12' is not a TPU type the pipeline can map to hosts": dict(
            tpu=dict(TPU, project="p", accelerator_type="v4-12"), bucket="test-bucket", train={"backend": "jax"}
        ),
    }
    folders = [tmp_path / str(i) for i in range(len(cases))]
    for folder, sections in zip(folders, cases.values()):
        folder.mkdir()
        write_config(folder, **sections)
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:  # the dry-runs at once
        results = pool.map(lambda folder: snakemake(folder, "-n", "train", check=False), folders)
    for says, result in zip(cases, results):
        assert says in result.stdout + result.stderr


def test_slices_map_to_hosts():
    from bert_pretraining.cloud.tpu_slices import slice_hosts

    # (hosts, JAX devices a host): names count TensorCores for v2-v4 and v5p, chips for v5e and v6e
    expected = {"v2-8": (1, 8), "v3-32": (4, 8), "v4-8": (1, 4), "v4-16": (2, 4), "v5p-16": (2, 4),
                "v5litepod-1": (1, 1), "v5litepod-8": (1, 8), "v5litepod-16": (4, 4), "v5litepod-256": (64, 4),
                "v6e-8": (1, 8), "v6e-16": (4, 4)}  # fmt: skip
    assert {name: slice_hosts(name) for name in expected} == expected
    for wrong in ("v4-12", "v5litepod-12", "v5litepod-512", "v2-4", "v7-8", "tpu"):
        with pytest.raises(ValueError, match=f"tpu.accelerator_type: '{wrong}' is not a TPU type"):
            slice_hosts(wrong)


def test_a_slice_runs_on_every_worker_and_a_lost_worker_restarts_it(tmp_path, monkeypatch, caplog):
    """A two-host slice (v4-16) runs the real startup script on both workers, each with its number and what JAX
    needs to find its peer; losing worker 1 is a preemption: the slice is deleted and requested again, and the
    one result (process 0's manifest) comes back. The command stands in for training (tested above)."""
    from bert_pretraining.cloud import tpu

    with gcs_emulator(tmp_path / "gcs") as gcs:
        env = dict(gcs["env"], PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        subprocess.run(["gsutil", "-q", "cp", "-", "gs://test-bucket/p/code/README"], input="code", text=True,
                       env=env, check=True)  # fmt: skip
        # Worker 0 writes the manifest on the slice's second start; worker 1 says it trains, and is lost the
        # first time it does.
        run_url, starts = "gs://test-bucket/p/trained", tmp_path / "starts"
        code = (
            "import os, subprocess, sys, time\n"
            "e = os.environ; me = e['KERAS_DISTRIBUTION_PROCESS_ID']\n"
            "print('worker', e['TPU_WORKER_ID'], 'process', me, 'of', e['KERAS_DISTRIBUTION_NUM_PROCESSES'],"
            " 'at', e['KERAS_DISTRIBUTION_JOB_ADDRESSES'], e['XLA_FLAGS'], flush=True)\n"
            "if me == '1': print('training', flush=True); time.sleep(600)\n"
            f"open({str(starts)!r}, 'a').write('start\\n')\n"
            f"if len(open({str(starts)!r}).readlines()) == 1: time.sleep(600)\n"
            f"subprocess.run(['gsutil', '-q', 'cp', '-', '{run_url}/manifest.json'], input='{{}}', text=True,"
            " check=True)\n"
        )
        startup = tpu.startup_script(
            code_url="gs://test-bucket/p/code", setup=["echo set up"], command=[sys.executable, "-c", code],
            error_dir=f"{run_url}/errors/{tpu.NODE_ID}",
        )  # fmt: skip
        with TpuStandIn(tmp_path / "vms", env, lose=("^training", 1)) as standin:
            for key, value in dict(env, TPU_EMULATOR_HOST=standin.url).items():
                monkeypatch.setenv(key, value)
            config = dict(TPU, accelerator_type="v4-16", runtime_version="tpu-ubuntu2204-base", keep=False,
                          max_preemptions=1)  # fmt: skip
            with caplog.at_level("INFO", logger="tpu"):
                used = tpu.follow(tpu.tpu_client(), config, startup=startup, run_url=run_url,
                                  model_dir="gs://test-bucket/p/ck", total_steps=5)  # fmt: skip
            first, second = (
                f"projects/test-project/locations/us-central1-a/queuedResources/bert-test-{n}" for n in (1, 2)
            )
            assert used == [first, second] and standin.lost == [(first, 1)] and standin.resources == {}
            assert "is ACTIVE (VM REPAIRING: worker 1 lost)" in caplog.text and "2 workers" in caplog.text
            for node in ("bert-test-1", "bert-test-2"):
                envs = [standin.envs[node, worker] for worker in (0, 1)]
                assert len({e["KERAS_DISTRIBUTION_JOB_ADDRESSES"] for e in envs}) == 1
                for worker, e in enumerate(envs):
                    console = (tmp_path / "vms" / node / f"worker-{worker}" / "console.log").read_text()
                    address = e["KERAS_DISTRIBUTION_JOB_ADDRESSES"]
                    assert "set up" in console and f"worker {worker} process {worker} of 2 at {address} " in console
                    assert "--xla_force_host_platform_device_count=4" in console, console


def test_train_on_a_tpu_with_a_preemption(tmp_path, monkeypatch):
    from bert_pretraining.cloud import tpu

    with gcs_emulator(tmp_path / "gcs") as gcs:
        env = dict(gcs["env"], PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        # the first VM is preempted right after its first checkpoint reaches the bucket
        with TpuStandIn(tmp_path / "vms", env, preempt=r"saved gs://") as standin:
            write_config(tmp_path, bucket="test-bucket", bucket_prefix="run", tpu=TPU, **SMALL)
            snakemake(tmp_path, "--cores", "2", "train", env=dict(env, TPU_EMULATOR_HOST=standin.url))

            manifest = json.loads((tmp_path / "results" / "trained" / "manifest.json").read_text())
            first, second = (
                f"projects/test-project/locations/us-central1-a/queuedResources/bert-test-{n}" for n in (1, 2)
            )
            assert manifest["tpu"]["queued_resources"] == [first, second]
            assert standin.preempted == [first]
            assert manifest["final_step"] == 30 and 10 <= manifest["start_step"] < 30  # resumed, not restarted
            # the whole curve came back with the manifest: both VMs' windows, each marked with its session
            assert [(w["step"], w["session"]) for w in manifest["losses"]] == [
                (step, int(step > manifest["start_step"])) for step in (10, 20, 30)
            ]
            assert [s["start_step"] for s in manifest["sessions"]] == [0, manifest["start_step"]]
            assert manifest["model_dir"].startswith("gs://test-bucket/run/bert_model/checkpoints/")
            assert standin.resources == {}  # both TPUs deleted
            assert ("DELETE", f"/v2/{first}") in standin.calls and ("DELETE", f"/v2/{second}") in standin.calls
            console = (tmp_path / "vms" / "bert-test-2" / "worker-0" / "console.log").read_text()
            assert f"resumed from {manifest['model_dir']}/ckpt-{manifest['start_step']:08d}.npz" in console
            log = (tmp_path / "results" / "logs" / "train" / "train.log").read_text()
            assert "SUSPENDED" in log and "training finished" in log
            assert (tmp_path / "results" / "trained" / "model" / "pretrainer.weights.h5").stat().st_size > 0

            objects = list_objects(env, "gs://test-bucket/run")
            checkpoints = [o for o in objects if "/ckpt-" in o]
            assert f"{manifest['model_dir']}/ckpt-00000030.npz" in checkpoints
            assert any("/train/events.out.tfevents" in o for o in objects)
            assert "gs://test-bucket/run/code/scripts/train_cli.py" in objects

            # the upload mirrors bert_model/ again, and leaves training's checkpoints and result alone
            snakemake(tmp_path, "--cores", "2", "upload", "--forcerun", "upload", env=env)
            assert [o for o in list_objects(env, "gs://test-bucket/run") if "/ckpt-" in o] == checkpoints

            # a VM that cannot set itself up: one clear error, its log's last line, no manifest, and no TPU left
            # running. The train job's function, in this process rather than through a third Snakemake run (whose
            # start-up and job process, TensorFlow imported, cost 10-20 s more on the same code path).
            for key, value in dict(env, TPU_EMULATOR_HOST=standin.url).items():
                monkeypatch.setenv(key, value)
            results, failed = tmp_path / "results", tmp_path / "failed"
            records = sorted(str(p) for p in (results / "pretraining_data").glob("shard_*.tfrecord"))
            error = r"^training failed on the TPU VM: \+ exit 3 \(its log: gs://test-bucket/run/bert_model/trained/"
            with pytest.raises(tpu.TpuError, match=error):
                tpu.train_on_tpu(
                    tpu=dict(section_defaults("tpu"), **dict(TPU, setup=["exit 3"])),
                    bucket_url="gs://test-bucket/run",
                    model_dir="gs://test-bucket/run/bert_model/checkpoints",
                    records=records[:-1],
                    held_out=records[-1],
                    phase2_records=[],
                    phase2_held_out=[],
                    manifest_path=str(failed / "manifest.json"),
                    model_path=str(failed / "model"),
                    bert_config=str(results / "bert_model" / "bert_config.json"),
                    vocab=str(results / "bert_model" / "vocab.txt"),
                    **dict(train_settings.defaults(), backend="jax"),
                )
            assert standin.resources == {}
            assert not failed.exists()

            # A two-host slice (v4-16: two workers of 4 devices) trains the same examples as one run of 8 devices,
            # into a model dir of its own: each worker runs the real startup script and training command, process
            # 0 writes the checkpoints and the one manifest that comes back.
            slice_dir, sliced = "gs://test-bucket/run/slice_checkpoints", tmp_path / "sliced"
            manifest = tpu.train_on_tpu(
                tpu=dict(section_defaults("tpu"), **dict(TPU, accelerator_type="v4-16")),
                bucket_url="gs://test-bucket/run",
                model_dir=slice_dir,
                records=records[:-1],
                held_out=records[-1],
                phase2_records=[],
                phase2_held_out=[],
                manifest_path=str(sliced / "manifest.json"),
                model_path=str(sliced / "model"),
                bert_config=str(results / "bert_model" / "bert_config.json"),
                vocab=str(results / "bert_model" / "vocab.txt"),
                **dict(train_settings.defaults(), **dict(SMALL["train"], num_train_steps=10, eval_steps=1),
                       max_seq_length=64, max_predictions_per_seq=10),
            )  # fmt: skip
            assert manifest["final_step"] == 10 and manifest["tpu"]["hosts"] == 2 and standin.resources == {}
            for worker in (0, 1):
                console = (tmp_path / "vms" / "bert-test-1" / f"worker-{worker}" / "console.log").read_text()
                assert f"process {worker} of 2" in console and "8 devices in all" in console, console[-3000:]
            assert "process 1 of 2: trained phase1 to step 10" in console, console[-3000:]  # worker 1 ended well
            assert [o for o in list_objects(env, slice_dir) if "/ckpt-" in o][-1].endswith("/ckpt-00000010.npz")
            assert (sliced / "model" / "pretrainer.weights.h5").stat().st_size > 0


def test_a_rerun_follows_the_tpu_it_started_instead_of_starting_another(tmp_path, monkeypatch):
    from bert_pretraining.cloud import tpu

    with gcs_emulator(tmp_path / "gcs") as gcs:
        env = dict(gcs["env"], PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        with TpuStandIn(tmp_path / "vms", env) as standin:
            for key, value in dict(env, TPU_EMULATOR_HOST=standin.url).items():
                monkeypatch.setenv(key, value)
            config = dict(
                TPU, accelerator_type="v2-8", runtime_version="tpu-ubuntu2204-base", keep=False, max_preemptions=1
            )
            run_url = "gs://test-bucket/r/bert_model/trained"
            script = f"sleep 3; echo '{{\"final_step\": 5}}' | gsutil -q cp - {run_url}/manifest.json\n"
            client = tpu.tpu_client()
            # an earlier run of the job started bert-test-4, then the job was stopped; bert-test-3 was lost
            for number in (3, 4):
                client.create_queued_resource(
                    parent="projects/test-project/locations/us-central1-a",
                    queued_resource_id=f"bert-test-{number}",
                    queued_resource=queued_resource(config, f"bert-test-{number}", script),
                )
            standin.set_state("projects/test-project/locations/us-central1-a/queuedResources/bert-test-3", "FAILED")
            used = tpu.follow(
                client, config, startup="exit 1", run_url=run_url, model_dir="gs://test-bucket/r/ck", total_steps=5
            )
            assert used == ["projects/test-project/locations/us-central1-a/queuedResources/bert-test-4"]
            assert [m for m, _ in standin.calls].count("POST") == 2  # only the two above: nothing new requested
            assert standin.resources == {}


def test_stopping_the_job_deletes_the_tpu(tmp_path):
    with gcs_emulator(tmp_path / "gcs") as gcs:
        env = dict(gcs["env"], PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        with TpuStandIn(tmp_path / "vms", env) as standin:
            code = (
                "import sys; sys.path[:0] = ['tests/fixtures', 'scripts']; from bert_pretraining.cloud import tpu\n"
                f"TPU = {TPU!r}\n"
                "tpu.follow(tpu.tpu_client(), dict(TPU, accelerator_type='v2-8', runtime_version='x', keep=False,"
                " max_preemptions=1), startup='sleep 600', run_url='gs://test-bucket/s/trained',"
                " model_dir='gs://test-bucket/s/ck', total_steps=5)\n"
            )
            job = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=dict(env, TPU_EMULATOR_HOST=standin.url),
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 60
            while not any(r["state"]["state"] == "ACTIVE" for r in list(standin.resources.values())):
                assert time.monotonic() < deadline and job.poll() is None, job.stderr.read()
                time.sleep(0.2)
            job.terminate()
            assert job.wait(timeout=60) != 0
            assert standin.resources == {} and not standin.vms


def test_missing_credentials_say_how_to_log_in(monkeypatch):
    from bert_pretraining.cloud import tpu

    monkeypatch.delenv("TPU_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    with pytest.raises(tpu.TpuError, match="gcloud auth application-default login"):
        tpu.tpu_client()


def test_a_refused_credential_says_how_to_log_in(tmp_path, monkeypatch):
    from bert_pretraining.cloud import tpu

    with TpuStandIn(tmp_path / "vms", dict(os.environ)) as standin:
        standin.refuse = True
        monkeypatch.setenv("TPU_EMULATOR_HOST", standin.url)
        with pytest.raises(tpu.TpuError, match="refused .*gcloud auth application-default login"):
            tpu.follow(tpu.tpu_client(), TPU, startup="", run_url="gs://b/r", model_dir="gs://b/c", total_steps=1)
