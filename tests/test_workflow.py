"""The whole chain, run for real on the offline default: targets, incremental rebuilds, bad input."""

import gzip
import json
import os
import re

import pytest

from workflow import planned_jobs, snakemake, write_config

UPSTREAM = {"download", "subset", "normalize", "shard", "tokenizer_text"}
DATA_RULES = UPSTREAM | {"sentencepiece", "wordpiece_vocab", "vocab_check"}
VOCAB_DOWNSTREAM = {"sentencepiece", "wordpiece_vocab", "vocab_check", "bert_config", "pretraining_data", "train"}
# A few training steps: enough to run the chain end to end
QUICK_TRAIN = {"num_train_steps": 20, "save_checkpoints_steps": 10, "log_every_steps": 10, "batch_size": 8,
               "eval_steps": 2, "warmup_steps": 2}


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
    """The jobs' own checks of config values (bert_config.py, pretraining_data.py, tpu.py) run before any job:
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
