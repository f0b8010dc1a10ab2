"""Every cluster profile plans the whole chain without cluster or cloud credentials."""

import importlib.util
import os

import pytest

from gcs_emulator import gcs_emulator, unavailable
from workflow import ROOT, snakemake, write_config


def profile(name):
    return ["--workflow-profile", os.path.join(ROOT, "profiles", name)]


def test_slurm_profile_dry_run(tmp_path):
    write_config(tmp_path)
    result = snakemake(tmp_path, "-n", "train", *profile("slurm"))
    assert "sentencepiece" in result.stdout


@pytest.mark.parametrize("name,plugin", [("kubernetes", "snakemake_executor_plugin_kubernetes"),
                                         ("googlebatch", "snakemake_executor_plugin_googlebatch")])
def test_bucket_profiles_dry_run_against_a_local_emulator(tmp_path, name, plugin):
    """Their data lives in a bucket; the storage plugin is the only part a dry-run talks to."""
    for module in (plugin, "snakemake_storage_plugin_gcs"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    if unavailable():
        pytest.skip(unavailable())
    write_config(tmp_path)
    with gcs_emulator(tmp_path / "gcs", buckets=("my-bucket",)) as gcs:
        env = dict(gcs["env"], REQUESTS_CA_BUNDLE=gcs["cert"])
        result = snakemake(tmp_path, "-n", "train", *profile(name), "--storage-gcs-project", "test",
                           "--default-storage-prefix", "gs://my-bucket/bert", env=env)
    assert "sentencepiece" in result.stdout and "gs://my-bucket/bert" in result.stdout
