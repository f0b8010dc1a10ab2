"""The repository's own hygiene: Snakemake's linter and snakefmt find nothing, and a TPU VM gets the training
code and what it imports, not every script of the checkout."""

import modulefinder
import os
import re
import subprocess
import sys

import pytest

from workflow import ROOT, SNAKEMAKE, snakemake, write_config

SNAKEFMT = os.path.join(os.path.dirname(sys.executable), "snakefmt")


# The default config, and one with a bucket and a TPU: the rules that only those define are linted too.
@pytest.mark.parametrize("config", [[], ["--config", "bucket=test-bucket", "tpu={name: n, project: p}",
                                         "train={backend: jax}"]], ids=["local", "tpu"])
def test_snakemake_lint_finds_nothing(config):
    result = subprocess.run([SNAKEMAKE, "--lint", *config], cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "Congratulations, your workflow is in a good condition!" in out, out


def test_snakefmt_leaves_every_file_unchanged():
    result = subprocess.run([SNAKEFMT, "--check", "--diff", "."], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tpu_code_ships_what_training_imports(tmp_path):
    write_config(tmp_path, bucket="test-bucket", tpu={"name": "bert-test", "project": "p"},
                 train={"backend": "jax"})
    snakemake(tmp_path, "--cores", "1", "results/tpu/code")
    code = tmp_path / "results" / "tpu" / "code"
    shipped = sorted(p.name for p in (code / "scripts").iterdir())
    # The scripts the VM runs (tpu.py's command line names them) are there, with the schema that gives the
    # training command line its defaults.
    with open(os.path.join(ROOT, "scripts", "tpu.py"), encoding="utf-8") as f:
        entries = set(re.findall(r"code/scripts/(\w+\.py)", f.read()))
    assert entries and entries <= set(shipped), (entries, shipped)
    assert (code / "schemas" / "config.schema.yaml").read_bytes() == open(
        os.path.join(ROOT, "schemas", "config.schema.yaml"), "rb").read()
    assert (code / "requirements.txt").is_file()
    # Every module of scripts/ that the shipped code imports (anywhere, found by Python's own modulefinder) is
    # shipped: with only the shipped folder on the path, none of them is missing.
    ours = {name[:-3] for name in os.listdir(os.path.join(ROOT, "scripts")) if name.endswith(".py")}
    finder = modulefinder.ModuleFinder(path=[str(code / "scripts")])
    for name in shipped:
        finder.run_script(str(code / "scripts" / name))
    assert not ours & set(finder.badmodules), sorted(ours & set(finder.badmodules))
    # and nothing training does not import: the data steps' and the report's scripts stay home
    assert {"download.py", "normalize.py", "sentencepiece_model.py", "corpus_stats.py"}.isdisjoint(shipped)
    assert {"train.py", "input_pipeline.py", "model.py"} <= set(shipped)
