"""The data-preparation DAG, run for real: targets, incremental rebuilds, bad input."""

import os

import pytest

from workflow import planned_jobs, snakemake, write_config

UPSTREAM = {"download", "subset", "normalize", "shard", "tokenizer_text"}
DATA_RULES = UPSTREAM | {"sentencepiece", "wordpiece_vocab", "vocab_check"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A finished run of the offline default's data steps, with small shards."""
    folder = tmp_path_factory.mktemp("run")
    write_config(folder, shards={"lines_per_shard": 4000})
    snakemake(folder, "--cores", "2", "data")
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
    assert planned_jobs(built, "data") == {}


def test_vocab_size_change_rebuilds_only_the_vocabulary(built):
    jobs = planned_jobs(built, "data", "--config", "tokenizer={vocab_size: 3000}")
    assert {"sentencepiece", "wordpiece_vocab", "vocab_check"} <= set(jobs)
    assert not UPSTREAM & set(jobs)


def test_max_lines_change_reruns_from_subset(built):
    jobs = planned_jobs(built, "data", "--config", "corpus={max_lines: 5000}")
    assert DATA_RULES - {"download"} <= set(jobs)
    assert "download" not in jobs


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
    assert "set tokenizer.vocab_size to at most" in result.stdout + result.stderr
    assert not (tmp_path / "results" / "vocab.txt").exists()


@pytest.mark.parametrize("form,start", [("dot", "digraph"), ("mermaid-js", "---")])
def test_job_graph_before_anything_is_built(tmp_path, form, start):
    write_config(tmp_path)
    result = snakemake(tmp_path, "data", "--dag", form)
    assert result.stdout.startswith(start)
    for rule in DATA_RULES:
        assert rule in result.stdout
