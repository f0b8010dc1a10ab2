"""The whole chain, run for real on the offline default: targets, incremental rebuilds, bad input."""

import gzip
import json
import os
import re

import pytest

from schema_defaults import section_defaults
from workflow import QUICK_TRAIN, planned_jobs, snakemake, write_config

UPSTREAM = {"download", "subset", "normalize", "shard", "tokenizer_text"}
DATA_RULES = UPSTREAM | {"sentencepiece", "wordpiece_vocab", "vocab_check"}
VOCAB_DOWNSTREAM = {"sentencepiece", "wordpiece_vocab", "vocab_check", "bert_config", "pretraining_data", "train"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A finished `train` of the offline default, with small shards and a short training."""
    folder = tmp_path_factory.mktemp("run")
    write_config(folder, shards={"lines_per_shard": 4000}, train=QUICK_TRAIN)
    snakemake(folder, "--cores", "2", "train")
    return folder


def test_offline_default_builds_every_artifact(built):
    results = built / "results"
    for name in ["dataset.txt", "proc_dataset.txt", "tokenizer.model", "tokenizer.vocab", "vocab.txt"]:
        assert (results / name).stat().st_size > 0, name
    dataset = (results / "dataset.txt").read_text().split("\n")
    assert len((results / "proc_dataset.txt").read_text().split("\n")) == len(dataset)
    vocab = (results / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == 4096 and vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    shards = sorted(p.name for p in (results / "shards").iterdir() if not p.name.startswith("."))
    n_lines = len(dataset) - 1
    assert shards == [f"shard_{i:04d}" for i in range(-(-n_lines // 4000))]
    for name in DATA_RULES:
        assert list((results / "logs" / name).iterdir()), name
        assert list((results / "benchmarks" / name).iterdir()), name


def test_nothing_to_do_when_nothing_changed(built):
    assert planned_jobs(built, "train") == {}
    manifest = json.loads((built / "results" / "trained" / "manifest.json").read_text())
    assert manifest["final_step"] == QUICK_TRAIN["num_train_steps"]


def test_evaluate_export_and_a_forced_rerun_resumes(built):
    results = built / "results"
    snakemake(built, "--cores", "2", "evaluate", "export")
    held_out = json.loads((results / "trained" / "eval_metrics.json").read_text())
    last_shard = sorted((results / "pretraining_data").glob("shard_*.stats.json"))[-1]
    assert held_out["examples"] == json.loads(last_shard.read_text())["instances"]  # the shard training never read
    assert (results / "export" / "keras_hub" / "config.json").exists()
    assert (results / "export" / "huggingface" / "model.safetensors").exists()
    log = (results / "logs" / "train" / "train.log").read_text()
    assert f"step {QUICK_TRAIN['num_train_steps']}/{QUICK_TRAIN['num_train_steps']} loss" in log

    # Snakemake deletes a job's outputs before re-running it; the checkpoints are not among them.
    snakemake(built, "--cores", "2", "train", "--forcerun", "train")
    manifest = json.loads((results / "trained" / "manifest.json").read_text())
    assert manifest["start_step"] == manifest["final_step"] == QUICK_TRAIN["num_train_steps"]


def test_vocab_size_change_rebuilds_exactly_what_depends_on_the_vocabulary(built):
    jobs = planned_jobs(built, "train", "--config", "tokenizer={vocab_size: 3000}")
    assert set(jobs) == VOCAB_DOWNSTREAM | {"train"}
    assert jobs["pretraining_data"] == len(list((built / "results" / "shards").glob("shard_*")))


def test_max_lines_change_reruns_from_subset(built):
    jobs = planned_jobs(built, "train", "--config", "corpus={max_lines: 5000}")
    # The shards will change, so the per-shard jobs (and the check only they ask for) join the plan once
    # the shard checkpoint has run.
    assert set(jobs) == (DATA_RULES | VOCAB_DOWNSTREAM) - {"download", "pretraining_data", "vocab_check"}


def test_dry_run_on_a_clean_checkout(tmp_path):
    write_config(tmp_path)
    jobs = planned_jobs(tmp_path, "data")
    assert DATA_RULES <= set(jobs) and all(jobs[rule] == 1 for rule in DATA_RULES)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "sections,message",
    [
        ({"corpus": {"lang": "xx"}}, "corpus.lang"),
        ({"corpus": {"max_lines": 0}}, "corpus.max_lines"),
        ({"shards": {"lines_per_shard": -5}}, "shards.lines_per_shard"),
        ({"tokenizer": {"vocab_size": 200}}, "tokenizer.vocab_size"),
        ({"tokenizer": {"vocab_sise": 200}}, "vocab_sise"),
        ({"corpus": {"source": "/no/such/file.txt"}}, "corpus.source"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, sections, message):
    write_config(tmp_path, **sections)
    result = snakemake(tmp_path, "--cores", "1", "data", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_corrupt_gzip_leaves_no_dataset(tmp_path):
    (tmp_path / "corpus.txt.gz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(2000))
    write_config(tmp_path, corpus={"source": str(tmp_path / "corpus.txt.gz")})
    result = snakemake(tmp_path, "--cores", "1", "data", check=False)
    assert result.returncode != 0 and "gzip" in result.stdout + result.stderr
    assert not (tmp_path / "results" / "dataset.txt").exists()
    assert not [p for p in (tmp_path / "results").iterdir() if p.name.endswith(".tmp")]


def test_vocab_too_large_for_the_corpus_says_which_value_to_lower(tmp_path):
    words = "a small corpus of a few words in two documents".split()
    (tmp_path / "corpus.txt").write_text("".join(f"{' '.join(words[i % 7:])}\n" for i in range(500)))
    write_config(tmp_path, corpus={"source": str(tmp_path / "corpus.txt")}, tokenizer={"heldout_lines": 10})
    result = snakemake(tmp_path, "--cores", "1", "data", check=False)
    assert result.returncode != 0
    advice = re.search(r"set tokenizer.vocab_size to at most (\d+)", result.stdout + result.stderr)
    assert advice and not (tmp_path / "results" / "vocab.txt").exists()
    # following the advice works, and gives exactly that many lines
    size = int(advice.group(1))
    write_config(tmp_path, corpus={"source": str(tmp_path / "corpus.txt")}, tokenizer={"heldout_lines": 10,
                                                                                        "vocab_size": size})
    snakemake(tmp_path, "--cores", "1", "results/vocab.txt")
    assert len((tmp_path / "results" / "vocab.txt").read_text(encoding="utf-8").splitlines()) == size


@pytest.mark.parametrize("form,start", [("dot", "digraph"), ("mermaid-js", "---")])
def test_job_graph_before_anything_is_built(tmp_path, form, start):
    write_config(tmp_path)
    result = snakemake(tmp_path, "data", "--dag", form)
    assert result.stdout.startswith(start)
    for rule in DATA_RULES:
        assert rule in result.stdout


def results_state(folder):
    """{path: (bytes hash, mtime)} of every file under results/."""
    import hashlib

    state = {}
    for path in sorted((folder / "results").rglob("*")):
        if path.is_file():
            state[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return state


@pytest.mark.parametrize(
    "bad,advice,fixed",
    [
        (
            "pretraining_data={max_seq_length: 1024}",
            "set pretraining_data.max_seq_length to at most 512, or model.max_position_embeddings to at least 1024",
            "pretraining_data={max_seq_length: 512}",
        ),
        (
            "model={hidden_size: 100, num_attention_heads: 12}",
            "set model.hidden_size to 96 or 108, or model.num_attention_heads to 10",
            "model={hidden_size: 96, num_attention_heads: 12}",
        ),
        ("train={device: tpu}", "set train.backend to jax", "train={device: tpu, backend: jax}"),
    ],
)
def test_bad_combination_fails_before_any_job_and_keeps_every_output(built, bad, advice, fixed):
    """The jobs' own checks of config values (bert_config.py, train_settings.py) run before any job:
    a real run with a bad combination changes nothing on a built folder, and its advice, followed, passes."""
    before = results_state(built)
    result = snakemake(built, "--cores", "2", "train", "--config", bad, check=False)
    assert result.returncode != 0
    assert advice in result.stdout + result.stderr
    assert "Job stats" not in result.stdout + result.stderr
    assert results_state(built) == before
    snakemake(built, "-n", "train", "--config", fixed)


def test_gzip_records_train_end_to_end(built, tmp_path):
    """pretraining_data.compression: gzip on a built folder: every shard is rebuilt compressed, and training and
    evaluation read them (they learn the compression from the files)."""
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(built, folder, symlinks=True)
    shutil.rmtree(folder / "results" / "checkpoints")  # train from step 0, on the compressed records
    snakemake(folder, "--cores", "2", "train", "evaluate", "--config", "pretraining_data={compression: gzip}")
    results = folder / "results"
    records = sorted((results / "pretraining_data").glob("shard_*.tfrecord"))
    assert len(records) >= 3 and all(path.read_bytes()[:2] == b"\x1f\x8b" for path in records)
    manifest = json.loads((results / "trained" / "manifest.json").read_text())
    assert manifest["start_step"] == 0 and manifest["final_step"] == QUICK_TRAIN["num_train_steps"]
    held_out = json.loads(records[-1].with_name(records[-1].name.replace(".tfrecord", ".stats.json")).read_text())
    metrics = json.loads((results / "trained" / "eval_metrics.json").read_text())
    assert metrics["examples"] == held_out["instances"] > 0
    # The same examples, compressed: gzip only changed the bytes on disk.
    plain = built / "results" / "pretraining_data" / records[0].name
    assert gzip.decompress(records[0].read_bytes()) == plain.read_bytes()


PHASE2 = {"num_train_steps": 80, "batch_size": 4, "max_seq_length": 256, "max_predictions_per_seq": 40,
          "warmup_steps": 2, "learning_rate": 0.002, "gradient_accumulation_steps": 2}


def test_two_phases_resume_inside_phase2_and_export_the_positions_it_trained(built, tmp_path):
    """phase2 on a built folder: its 256-token examples from the same rule, phase 2 trained from phase 1's final
    checkpoint; SIGTERM inside phase 2, and the next run resumes there; the exports hold 256 positions, and those
    past 128 are no longer their initial values."""
    import shutil
    import signal
    import subprocess
    import time

    from workflow import command

    folder = tmp_path / "run"
    shutil.copytree(built, folder, symlinks=True)
    # No XLA: its compile takes longer than these few steps.
    write_config(folder, shards={"lines_per_shard": 4000},
                 train=dict(QUICK_TRAIN, save_checkpoints_steps=25, jit_compile=False), phase2=PHASE2)
    results = folder / "results"
    proc = subprocess.Popen(command(folder, "--cores", "2", "train"), cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    (phase1_dir,) = [p for p in (results / "checkpoints").iterdir() if p.is_dir()]
    phase2_dir = phase1_dir / f"phase2-from-{QUICK_TRAIN['num_train_steps']:08d}"
    deadline = time.time() + 900
    while time.time() < deadline and proc.poll() is None and not list(phase2_dir.glob("ckpt-*.npz")):
        time.sleep(0.05)
    trainer = json.loads((phase2_dir / "trainer.lock").read_text())["pid"]
    os.kill(trainer, signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0 and not (results / "trained" / "manifest.json").exists(), out
    stopped = sorted(phase2_dir.glob("ckpt-*.npz"))[-1]
    step = int(stopped.name[5:13])
    assert 25 <= step < PHASE2["num_train_steps"]

    snakemake(folder, "--cores", "2", "train", "export")
    log = (results / "logs" / "train" / "train.log").read_text()
    assert f"phase2: resumed from {phase2_dir.relative_to(folder)}/{stopped.name} at step {step}" in log
    manifest = json.loads((results / "trained" / "manifest.json").read_text())
    assert manifest["phase"] == "phase2" and manifest["final_step"] == PHASE2["num_train_steps"]
    assert [s["start_step"] for s in manifest["sessions"]] == [0, step]
    assert manifest["previous_phases"][0]["final_step"] == QUICK_TRAIN["num_train_steps"]
    phase2_records = sorted(p.name for p in (results / "pretraining_data_phase2").glob("shard_*.tfrecord"))
    assert phase2_records == sorted(p.name for p in (results / "pretraining_data").glob("shard_*.tfrecord"))

    from safetensors.numpy import load_file

    exported = load_file(str(results / "export" / "huggingface" / "model.safetensors"))
    positions = exported["bert.embeddings.position_embeddings.weight"]
    assert positions.shape[0] == 256 == json.loads((results / "export" / "huggingface" / "config.json").read_text())[
        "max_position_embeddings"]
    # The initial values: the model config's, from the trainer's seed.
    import keras

    from bert_pretraining.modeling import model as bert

    keras.utils.set_random_seed(section_defaults("train")["seed"])  # config.yaml keeps the schema's seed
    initial = bert.build_pretrainer(bert.read_bert_config(str(results / "bert_model" / "bert_config.json")))
    initial = initial.backbone.get_layer("position_embedding").position_embeddings.numpy()
    past = slice(128, 256)
    cosine = (positions[past] * initial[past]).sum() / (
        (positions[past] ** 2).sum() * (initial[past] ** 2).sum()) ** 0.5
    assert cosine < 0.99
