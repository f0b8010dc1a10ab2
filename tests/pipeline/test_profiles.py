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


def test_googlebatch_jobs_get_the_conda_that_the_profile_asks_for():
    """profiles/googlebatch keeps `software-deployment-method: conda`, and needs no image: with the plugin's
    default image family (a VM, not a container) its setup of each job installs Miniconda (on the PATH of the
    job's command), Snakemake and the GCS plugin; conda then builds each rule's env from envs/, which
    tests/pipeline/test_envs.py holds to what the rule imports at requirements.txt's pins. (Its container mode, batch-cos,
    is left alone: its entrypoint runs two pip installs after the job's command, which lose the job's exit
    status.)"""
    import yaml

    if importlib.util.find_spec("snakemake_executor_plugin_googlebatch") is None:
        pytest.skip("snakemake_executor_plugin_googlebatch is not installed")
    from snakemake_executor_plugin_googlebatch import ExecutorSettings, command

    with open(os.path.join(ROOT, "profiles", "googlebatch", "config.yaml")) as f:
        config = yaml.safe_load(f)
    assert config["software-deployment-method"] == "conda"
    assert not {"container-image", "googlebatch-image-family", "googlebatch-container"} & set(config)
    settings = ExecutorSettings()
    writer = command.get_writer(settings.image_family)(command="python -m snakemake", snakefile="",
                                                       settings=settings, resources={})
    setup, run = writer.setup(), writer.run()
    assert "bash ./miniconda.sh -b -u -p /opt/conda" in setup
    assert "install-snek.sh https://github.com/snakemake/snakemake\n" in setup
    assert "export PATH=/opt/conda/bin:${PATH}" in run and run.rstrip().endswith("python -m snakemake")
    assert "pip install" in command.write_entrypoint.split("%s")[1]  # what the note above says of batch-cos
