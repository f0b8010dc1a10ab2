"""The software each job runs with: every conda environment a rule declares holds what the rule's script imports
(directly or through the scripts/ modules it pulls in), at requirements.txt's pins, and the Kubernetes image
installs exactly requirements.txt.

requirements.txt is the one place versions are written. The envs/*.yaml stay hand-written (which packages an
environment needs, and why, is a choice per environment that a generator would have to keep in yet another
file), and these tests hold them to it: every pin equal to requirements.txt's, nothing a script imports
missing. The light environments are also built for real, with pip in a fresh venv (CI cannot reach conda's
channels, and conda's part is only python and pip), and everything their rules import is imported there.
envs/train.yaml is checked statically only: building it takes minutes (README, "On a cluster")."""

import concurrent.futures
import functools
import json
import os
import re
import subprocess
import sys
import time
from importlib import metadata
from importlib.util import find_spec

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bert_pretraining.script_imports import external_imports, imported_modules
from workflow import ROOT, write_config

SCRIPTS = os.path.join(ROOT, "scripts")
ENV_NAMES = sorted(name[:-5] for name in os.listdir(os.path.join(ROOT, "envs")) if name.endswith(".yaml"))
# Built for real below. train's build (tensorflow, keras-hub, tensorflow-text: 2.3 GB) added about 70 s here,
# 58 s to build and 12 s to import, with pip's cache warm (README, "On a cluster").
BUILT_ENVS = ("data", "pretraining_data", "report", "train")
CHANNELS = ["conda-forge", "nodefaults"]  # conda-forge alone: no Anaconda defaults channel and its terms
PYTHON = "3.11"


def pins(path):
    """{canonical name: Requirement} of a requirements file's own lines (not those it includes with -r)."""
    found = {}
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line and not line.startswith("-"):
                req = Requirement(line)
                found[canonicalize_name(req.name)] = req
    return found


REQUIREMENTS = pins(os.path.join(ROOT, "requirements.txt"))
DEV_REQUIREMENTS = pins(os.path.join(ROOT, "requirements-dev.txt"))


def read_env(name):
    """(the env file's conda part, its pip list)."""
    with open(os.path.join(ROOT, "envs", f"{name}.yaml")) as f:
        env = yaml.safe_load(f)
    pip = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict)]
    return env, pip[0] if pip else []


# The rules as Snakemake itself reads them (a script's path can be a variable, as train's is), in the default
# config and in one with a bucket and a TPU, which define the upload and TPU rules and train's other script.
LOAD_RULES = """
import json
import sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
with SnakemakeApi(OutputSettings(quiet=None)) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(cores=1), config_settings=ConfigSettings(),
                            snakefile=Path(sys.argv[1]), workdir=Path.cwd())._workflow
    print(json.dumps([{"name": rule.name, "basedir": str(rule.basedir), "script": rule.script,
                       "shell": rule.shellcmd, "conda": rule.conda_env, "resources": sorted(rule.resources)}
                      for rule in workflow.rules]))
"""
CONFIGS = {"local": {}, "tpu": {"bucket": "test-bucket", "tpu": {"name": "n", "project": "p"},
                                "train": {"backend": "jax"}}}


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    """Every rule of both configs, with its script as an absolute path (None for a shell or target rule)."""
    found = {}
    for name, sections in CONFIGS.items():
        folder = tmp_path_factory.mktemp(name)
        write_config(folder, **sections)
        result = subprocess.run([sys.executable, "-c", LOAD_RULES, os.path.join(ROOT, "Snakefile")], cwd=folder,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        for rule in json.loads(result.stdout.splitlines()[-1]):
            if rule["script"]:
                rule["script"] = os.path.normpath(os.path.join(rule["basedir"], rule["script"]))
            found[rule["name"], rule["script"]] = rule
    assert {"download", "tokenizer_stats", "upload", "tpu_code"} <= {name for name, _ in found}
    assert {os.path.basename(script) for name, script in found if name == "train"} == {"train_cli.py", "train_on_tpu.py"}
    return list(found.values())


def env_of(rule):
    return os.path.splitext(os.path.basename(rule["conda"]))[0]


def test_every_rule_that_runs_something_declares_an_environment_and_resources(rules):
    """README: every rule declares `resources:` (what a cluster job asks for), and its conda environment."""
    for rule in rules:
        if rule["script"] or rule["shell"]:
            assert rule["conda"] and env_of(rule) in ENV_NAMES, rule
            assert {"mem_mb", "runtime"} <= set(rule["resources"]), rule


def test_every_env_pins_what_requirements_txt_pins():
    for name in ENV_NAMES:
        env, pip = read_env(name)
        assert env["channels"] == CHANNELS, name
        # conda's part is Python and pip only; every package comes through pip at requirements.txt's pin
        assert [dep for dep in env["dependencies"] if not isinstance(dep, dict)] == [f"python={PYTHON}", "pip"]
        assert pip, name
        for line in pip:
            req = Requirement(line)
            pinned = REQUIREMENTS.get(canonicalize_name(req.name))
            assert pinned is not None, f"envs/{name}.yaml: {line} is not in requirements.txt"
            assert str(req.specifier) == str(pinned.specifier) and req.extras == pinned.extras, (
                f"envs/{name}.yaml: {line}, but requirements.txt pins {pinned}")
    # and requirements.txt pins each of its packages to one version (a range would let the envs drift again)
    for req in REQUIREMENTS.values():
        assert re.fullmatch(r"==[^,*<>=!~]+", str(req.specifier)), req


def test_the_tested_python_is_the_environments_python():
    """The envs, the image and the interpreter these tests (and the pins) run on name one Python."""
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON
    assert dockerfile()["base"] == f"python:{PYTHON}-slim"


@functools.cache
def packages_distributions():
    return metadata.packages_distributions()


def requirements_closure(lines):
    """Canonical names of the distributions `lines` (requirement strings) install, with their dependencies'
    (Requires-Dist, with the extras asked for, from the metadata installed here: the versions the pins give)."""
    seen, todo = set(), [Requirement(line) for line in lines]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = frozenset(req.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for line in metadata.requires(name) or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": extra}) for extra in ("", *extras)):
                todo.append(dep)
    return {name for name, _ in seen}


def distribution_of(module, names):
    """The distribution that provides `from module import names` (or `import module`): packages_distributions()
    by the top-level name, and for a namespace package that several share (google.*), the one whose files hold
    the module itself."""
    top = module.split(".")[0]
    dists = {canonicalize_name(dist) for dist in packages_distributions().get(top, [])}
    if len(dists) <= 1:
        return dists.pop() if dists else None
    for candidate in [f"{module}.{name}" for name in names] + [module]:
        try:
            spec = find_spec(candidate)
        except ModuleNotFoundError:  # a name inside a module, not a submodule
            continue
        if spec is None or not spec.origin:
            continue  # a namespace package: no file of its own
        for dist in dists:
            files = metadata.distribution(dist).files or []
            if any(os.path.realpath(file.locate()) == os.path.realpath(spec.origin) for file in files):
                return dist
    return None


def test_each_rules_env_holds_what_its_script_imports(rules):
    """Every third-party module that a rule's script imports, or a scripts/ module that it pulls in, comes from
    a distribution that its env lists, or that one of those depends on."""
    missing = []
    for rule in rules:
        if not rule["script"]:
            continue
        env = env_of(rule)
        provided = requirements_closure(read_env(env)[1])
        for module, names in sorted(external_imports(rule["script"])):
            dist = distribution_of(module, names)
            if dist not in provided:
                missing.append(f"{rule['name']} ({os.path.basename(rule['script'])}): {module} "
                               f"from {dist or 'no installed distribution'}, not in envs/{env}.yaml")
    assert not missing, "\n".join(missing)


def test_the_import_check_finds_a_missing_package(rules):
    """The check above is not vacuous: without numpy, the data env would fail it (tokenizer_text imports it)."""
    provided = requirements_closure([line for line in read_env("data")[1] if not line.startswith("numpy")])
    entry = os.path.join(SCRIPTS, "tokenizer_text.py")
    assert {distribution_of(module, names) for module, names in external_imports(entry)} - provided == {"numpy"}


def test_the_namespace_packages_resolve_to_their_own_distribution():
    assert distribution_of("google.cloud", ("tpu_v2",)) == "google-cloud-tpu"
    assert distribution_of("google.auth.credentials", ("AnonymousCredentials",)) == "google-auth"
    assert distribution_of("google_crc32c", ()) == "google-crc32c"


# --- The environments, built for real -------------------------------------------------------------------------

# What pip prints when it cannot reach the package index (then the real test skips; any other failure fails,
# "No matching distribution" for a pin that does not exist among them).
OFFLINE = re.compile(r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|"
                     r"Network is unreachable|ConnectTimeoutError|ProxyError")


def build_venv(folder, lines):
    """A fresh venv (no system site packages) with `lines` pip-installed; (seconds, failure output or None).

    The tests' own pip installs into it (pip --python): no pip of its own to set up. --no-compile: the .pyc files
    are written when imported, which here is a few modules, not every file of the packages (a third of the time)."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], capture_output=True, text=True)
    if result.returncode == 0:
        result = subprocess.run([sys.executable, "-m", "pip", "--python", os.path.join(folder, "bin", "python"),
                                 "install", "-q", "--no-compile", "--disable-pip-version-check", *lines],
                                capture_output=True, text=True, timeout=1200)
    return time.monotonic() - start, None if result.returncode == 0 else result.stdout + result.stderr


@pytest.fixture(scope="module")
def venvs(tmp_path_factory):
    """{env name: venv folder}, built once, side by side (downloads and unpacking overlap), removed after the
    module: train's alone is 2.3 GB, and pytest keeps its last three runs' folders. The removal (half a minute
    here) goes on in the background, after the tests."""
    root = tmp_path_factory.mktemp("venvs")
    with concurrent.futures.ThreadPoolExecutor(len(BUILT_ENVS)) as pool:
        builds = {name: pool.submit(build_venv, str(root / name), read_env(name)[1]) for name in BUILT_ENVS}
    seconds = {name: build.result()[0] for name, build in builds.items()}
    failures = {name: build.result()[1] for name, build in builds.items() if build.result()[1]}
    try:
        for name, output in failures.items():
            if OFFLINE.search(output):
                pytest.skip(f"pip cannot reach the package index to build envs/{name}.yaml: "
                            f"{OFFLINE.search(output).group(0)}")
        assert not failures, failures
        print("venv builds:", {name: f"{value:.0f} s" for name, value in seconds.items()})
        yield {name: str(root / name) for name in BUILT_ENVS}
    finally:
        subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True)


# Run in the env's venv (python -I: nothing from this venv, PYTHONPATH or the user's site): import each package
# module its rules pull in (the rule scripts themselves run only under Snakemake) and each `from module import
# name` as written, which covers the imports inside functions that importing the modules does not run.
IMPORT_ALL = """
import importlib
import json
import sys
sys.path.insert(0, sys.argv[1])
ours, theirs = json.loads(sys.argv[2])
for name in ours:
    importlib.import_module(name)
for module, names in theirs:
    imported = importlib.import_module(module)
    for name in names:
        if not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")
print("imported", len(ours), "scripts and", len(theirs), "imports")
"""


@pytest.mark.parametrize("env", BUILT_ENVS)
def test_a_venv_of_the_envs_pip_part_imports_what_its_rules_import(rules, venvs, env):
    entries = {rule["script"] for rule in rules if rule["script"] and env_of(rule) == env}
    assert entries, env
    ours = sorted({module for entry in entries for module in imported_modules(entry)})
    theirs = sorted({(module, names) for entry in entries for module, names in external_imports(entry)})
    python = os.path.join(venvs[env], "bin", "python")
    result = subprocess.run([python, "-I", "-c", IMPORT_ALL, SCRIPTS, json.dumps([ours, theirs])],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, MPLBACKEND="Agg"))
    assert result.returncode == 0, result.stderr
    if env == "data":
        # upload.py runs the gsutil beside its Python: the env must have it, and it must start
        result = subprocess.run([os.path.join(venvs[env], "bin", "gsutil"), "version"], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0 and "gsutil version: " in result.stdout, result.stdout + result.stderr


# --- The Kubernetes image -------------------------------------------------------------------------------------


def dockerfile():
    """The Dockerfile's base image, the files it copies, its pip install arguments and the tag it documents."""
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read()
    logical = re.sub(r"\\\n", " ", text)  # continuation lines joined
    runs = [line.split(None, 1)[1] for line in logical.splitlines() if line.startswith("RUN ")]
    installs = [cmd.split("pip install", 1)[1].split("&&")[0].split() for cmd in runs if "pip install" in cmd]
    return {
        "base": re.search(r"^FROM (\S+)", text, re.M).group(1),
        "copies": re.findall(r"^COPY (\S+) (\S+)", text, re.M),
        "installs": installs,
        "tag": re.search(r"docker build -t (\S+) \.", text).group(1),
    }


def test_the_image_installs_requirements_txt_and_pinned_plugins():
    image = dockerfile()
    assert len(image["installs"]) == 1, image
    args = [arg for arg in image["installs"][0] if arg not in ("--no-cache-dir",)]
    # requirements.txt as copied in, whole
    assert ("requirements.txt", "/tmp/requirements.txt") in image["copies"]
    # the build context (.dockerignore: everything out, then back in) holds what the Dockerfile copies, no more
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        patterns = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*" and {p[1:] for p in patterns[1:]} == {source for source, _ in image["copies"]}
    assert args[args.index("-r") + 1] == "/tmp/requirements.txt"
    extras = [Requirement(arg) for i, arg in enumerate(args) if arg != "-r" and args[i - 1] != "-r"]
    assert not [arg for arg in extras if str(arg).startswith("-")], args
    # and the plugins a job needs, each at requirements-dev.txt's pin (the version the tests ran)
    assert {canonicalize_name(req.name) for req in extras} == {"snakemake-storage-plugin-gcs"}
    for req in extras:
        assert str(req) == str(DEV_REQUIREMENTS[canonicalize_name(req.name)]), req
    # requirements-dev.txt installs all of requirements.txt beside them: the venv the tests run in is one where
    # the image's packages were resolved and installed together
    with open(os.path.join(ROOT, "requirements-dev.txt")) as f:
        assert "-r requirements.txt" in f.read().splitlines()


def test_the_kubernetes_profile_runs_its_jobs_in_the_image():
    with open(os.path.join(ROOT, "profiles", "kubernetes", "config.yaml")) as f:
        profile = yaml.safe_load(f)
    assert profile["container-image"] == dockerfile()["tag"]
    # the image has no conda: its own packages are the jobs' environment
    assert "software-deployment-method" not in profile
    # the storage plugin the profile uses is the one the image installs
    assert profile["default-storage-provider"] == "gcs"
