"""TensorFlow's gs:// against the local emulator (see gcs_emulator.py): tf.data reads records that gsutil uploaded,
and training keeps everything in the bucket (config, vocabulary, records, checkpoints, TensorBoard events, final
model, manifest) and resumes from the bucket's newest checkpoint. TensorFlow reads the proxy settings when it
starts, so it runs in subprocesses that start with the emulator's env."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gcs_emulator import gcs_emulator, unavailable
from bert_pretraining.cloud.upload import gsutil_command

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

from workflow import ROOT  # noqa: E402
SCRIPTS = os.path.join(ROOT, "scripts")
SEQ, PREDS = 32, 5
RUN = "gs://test-bucket/run"


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    """The emulator, holding run/bert_model/, run/train/ (two shards) and run/eval/ (one), uploaded with gsutil."""
    from synthetic_data import write_dataset

    local = tmp_path_factory.mktemp("run")
    files, config = write_dataset(str(local / "all"), shards=3, per_shard=64, max_seq_length=SEQ,
                                  max_predictions=PREDS)
    for folder, names in [("train", files[:2]), ("eval", files[2:]),
                          ("bert_model", [config, str(local / "all" / "vocab.txt")])]:
        os.makedirs(local / "upload" / folder)
        for name in names:
            shutil.copy(name, local / "upload" / folder)
    with gcs_emulator(tmp_path_factory.mktemp("gcs")) as gcs:
        gsutil(gcs, "-m", "rsync", "-r", str(local / "upload"), RUN)
        yield {"gcs": gcs, "files": files}


def gsutil(gcs, *args):
    result = subprocess.run([gsutil_command(), *args], env=gcs["env"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def run(gcs, *args, timeout=300):
    """A Python process started with the emulator's env, so TensorFlow's gs:// reaches the emulator."""
    env = dict(gcs["env"], PYTHONPATH=SCRIPTS, KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    return result


def tunnelled(gcs):
    """Requests that came through the https_proxy tunnel, as TensorFlow sends them to Google."""
    return [r for r in gcs["requests"] if r[0].endswith(".googleapis.com")]


def test_tf_data_reads_uploaded_records_through_a_glob(bucket):
    from bert_pretraining.training import input_pipeline

    gcs = bucket["gcs"]
    code = f"""
import json
from bert_pretraining.training import input_pipeline
pattern = "{RUN}/*/shard_*.tfrecord"
batches = input_pipeline.make_dataset(pattern, 50, {SEQ}, {PREDS}, training=False).as_numpy_iterator()
print(json.dumps({{"files": input_pipeline.list_files(pattern),
                  "token_ids": [x["token_ids"].tolist() for x, y, w in batches]}}))
"""
    out = json.loads(run(gcs, "-c", code).stdout.splitlines()[-1])
    assert out["files"] == [f"{RUN}/eval/shard_0002.tfrecord", f"{RUN}/train/shard_0000.tfrecord",
                            f"{RUN}/train/shard_0001.tfrecord"]
    # the same examples, in the same order, as tf.data reads from the local files
    files = bucket["files"]
    expected = np.concatenate([x["token_ids"] for i in (2, 0, 1) for x, y, w in
                               input_pipeline.make_dataset(files[i], 64, SEQ, PREDS, training=False).as_numpy_iterator()])
    assert np.array_equal(np.concatenate([np.array(t) for t in out["token_ids"]]), expected)
    assert len(expected) == 3 * 64
    hosts = {r[0] for r in tunnelled(gcs)}
    assert hosts == {"www.googleapis.com", "storage.googleapis.com"}  # listing, and the reads themselves


def train_args(steps):
    return [
        os.path.join(SCRIPTS, "train_cli.py"),
        "--bert-config", f"{RUN}/bert_model/bert_config.json",
        "--vocab", f"{RUN}/bert_model/vocab.txt",
        "--train-files", f"{RUN}/train/*.tfrecord",
        "--eval-files", f"{RUN}/eval/shard_0002.tfrecord",
        "--model-dir", f"{RUN}/checkpoints/{{config_hash}}",
        "--manifest", f"{RUN}/trained/manifest.json",
        "--final-model-dir", f"{RUN}/trained/model",
        "--num-train-steps", str(steps),
        "--save-checkpoints-steps", "2",
        "--log-every-steps", "2",
        "--batch-size", "16",
        "--eval-batch-size", "32",
        "--eval-steps", "1",
        "--shuffle-buffer", "64",
        "--max-seq-length", str(SEQ),
        "--max-predictions-per-seq", str(PREDS),
        "--jit-compile", "false",
    ]


def objects(gcs, url):
    return sorted(line for line in gsutil(gcs, "ls", "-r", url).splitlines() if line.startswith("gs://")
                  and not line.endswith(":"))


def test_training_keeps_everything_in_the_bucket_and_resumes_from_it(bucket, tmp_path):
    import tensorflow as tf

    gcs = bucket["gcs"]
    start = len(gcs["requests"])
    first = run(gcs, *train_args(4))
    manifest = json.loads(gsutil(gcs, "cat", f"{RUN}/trained/manifest.json"))
    model_dir = f"{RUN}/checkpoints/{manifest['config_hash']}"
    assert manifest["final_step"] == 4 and manifest["start_step"] == 0
    assert manifest["model_dir"] == model_dir and manifest["checkpoint"] == f"{model_dir}/ckpt-00000004.npz"
    assert manifest["eval"]["examples"] == 32
    assert "no checkpoint in gs://" in first.stderr
    found = objects(gcs, f"{RUN}/checkpoints")
    assert [o for o in found if o.endswith(".npz")] == [f"{model_dir}/ckpt-00000002.npz",
                                                        f"{model_dir}/ckpt-00000004.npz"]
    events = [o for o in found if o.startswith(f"{model_dir}/train/events.out.tfevents.")]
    assert len(events) == 1
    local = tmp_path / "events"
    gsutil(gcs, "cp", events[0], str(local))
    tags = [v.tag for e in tf.compat.v1.train.summary_iterator(str(local)) for v in e.summary.value]
    assert tags.count("loss") == 2  # steps 2 and 4
    assert objects(gcs, f"{RUN}/trained") == [f"{RUN}/trained/manifest.json"] + [
        f"{RUN}/trained/model/{name}" for name in ("bert_config.json", "pretrainer.weights.h5", "vocab.txt")]
    # the manifest comes last, under a temporary name renamed into place: it marks the run finished
    served = gcs["requests"][start:]
    writes = [i for i, r in enumerate(served) if "trained%2Fmodel%2F" in r[2] and r[1] in ("PUT", "POST")]
    renamed = [i for i, r in enumerate(served) if "rewriteTo" in r[2] and r[2].endswith("manifest.json")]
    assert writes and renamed and max(writes) < renamed[0]

    second = run(gcs, *train_args(6))
    assert f"resumed from {model_dir}/ckpt-00000004.npz at step 4" in second.stderr
    manifest = json.loads(gsutil(gcs, "cat", f"{RUN}/trained/manifest.json"))
    assert manifest["final_step"] == 6 and manifest["start_step"] == 4
    assert manifest["checkpoint"] == f"{model_dir}/ckpt-00000006.npz"
    assert f"{model_dir}/ckpt-00000006.npz" in objects(gcs, f"{RUN}/checkpoints")
    # TensorFlow asked for nothing but Google's storage hosts, and the proxy sent nothing elsewhere
    served = gcs["requests"][start:]
    assert {r[0] for r in served} == {"127.0.0.1", "www.googleapis.com", "storage.googleapis.com"}
    assert not [r for r in served if r[1] == "CONNECT" or r[3] is None or r[3] >= 500]


def test_an_upload_cut_short_is_sent_again_whole(bucket, tmp_path):
    """A passing outage while TensorFlow uploads (a checkpoint, say): it asks the session what arrived, hears
    308 with nothing kept, and sends it all again; the object ends whole, not empty."""
    gcs = bucket["gcs"]
    start = len(gcs["requests"])
    gcs["faults"]["fail_writes"] = 2
    code = f"""
import tensorflow as tf
with tf.io.gfile.GFile("{RUN}/outage/blob.bin", "wb") as f:
    f.write(bytes(range(256)) * 1000)
"""
    run(gcs, "-c", code, timeout=120)
    puts = [r[3] for r in gcs["requests"][start:] if r[1] == "PUT" and "outage%2Fblob.bin" in r[2]]
    assert puts == [503, 308, 503, 308, 200]  # upload, status query, upload, status query, upload
    gsutil(gcs, "cp", f"{RUN}/outage/blob.bin", str(tmp_path / "blob.bin"))
    assert (tmp_path / "blob.bin").read_bytes() == bytes(range(256)) * 1000
