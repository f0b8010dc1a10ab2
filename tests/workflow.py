"""Run the real Snakemake workflow in a scratch folder, with a config derived from the repository's."""

import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), "snakemake")


def write_config(folder, **sections):
    """config.yaml from the repository's, with `sections` merged over it (one level deep)."""
    with open(os.path.join(ROOT, "config.yaml")) as f:
        config = yaml.safe_load(f)
    for key, value in sections.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    path = os.path.join(folder, "config.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def command(folder, *args, snakefile=None):
    """The snakemake command line that `snakemake` runs (in `folder`), for a test that starts it itself."""
    # --configfile takes several values, so it goes last, where it cannot swallow a target
    return [SNAKEMAKE, *args, "-s", snakefile or os.path.join(ROOT, "Snakefile"), "--configfile",
            os.path.join(folder, "config.yaml")]


def snakemake(folder, *args, check=True, env=None, snakefile=None, timeout=1800):
    """Run snakemake on the repository's Snakefile (or `snakefile`) with `folder` as working directory.

    `timeout`: seconds; a run that hangs (a gsutil retrying a dead service, say) fails its test, not the suite."""
    cmd = command(folder, *args, snakefile=snakefile)
    result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(folder, target, *args):
    """{rule: count} from the job table of a dry-run."""
    result = snakemake(folder, "-n", target, *args)
    out = result.stdout + result.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        jobs[match.group(1)] = int(match.group(2))
    return jobs


def workflow_copy(folder, extra_rules):
    """A copy of the workflow in `folder` whose Snakefile also includes `extra_rules` (Snakemake code).

    For tests that need rules the pipeline does not have (a stand-in per-shard rule, say); returns the
    copy's Snakefile.
    """
    import shutil

    dest = os.path.join(folder, "workflow")
    for name in ["rules", "schemas", "scripts", "envs", "report", "profiles"]:
        if os.path.isdir(os.path.join(ROOT, name)):
            shutil.copytree(os.path.join(ROOT, name), os.path.join(dest, name),
                            ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(ROOT, "Snakefile")) as f:
        snakefile = f.read()
    with open(os.path.join(dest, "rules", "extra.smk"), "w") as f:
        f.write(extra_rules)
    path = os.path.join(dest, "Snakefile")
    with open(path, "w") as f:
        f.write(snakefile + '\n\ninclude: "rules/extra.smk"\n')
    return path
