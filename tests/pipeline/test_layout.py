"""The repository's own hygiene: Snakemake's linter and snakefmt find nothing, and a TPU VM gets the training
code and what it imports, not every script of the checkout."""

import json
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
    shipped = sorted(str(p.relative_to(code / "scripts")) for p in (code / "scripts").rglob("*.py"))
    # The scripts the VM runs (tpu.py's command line names them) are there, with the schema that gives the
    # training command line its defaults.
    with open(os.path.join(ROOT, "scripts", "bert_pretraining", "cloud", "tpu.py"), encoding="utf-8") as f:
        entries = set(re.findall(r"code/scripts/(\w+\.py)", f.read()))
    assert entries and entries <= set(shipped), (entries, shipped)
    assert (code / "schemas" / "config.schema.yaml").read_bytes() == open(
        os.path.join(ROOT, "schemas", "config.schema.yaml"), "rb").read()
    assert (code / "requirements.txt").is_file()
    # Every module of the package that the entry imports (anywhere, functions included: Python's own
    # modulefinder reads every code object) is shipped: with only the shipped folder on the path, none is missing.
    finder = modulefinder.ModuleFinder(path=[str(code / "scripts")])
    for entry in entries:
        finder.run_script(str(code / "scripts" / entry))
    missing = sorted(name for name in finder.badmodules if name.startswith("bert_pretraining"))
    assert not missing, missing
    assert "bert_pretraining.training.train" in finder.modules
    # The training package and what it imports, nothing else: not the data steps, the report, the submitter that
    # follows the VM or the uploader (the VM trains; it neither submits nor uploads).
    stages = {path.split("/")[1] for path in shipped if path.count("/") == 2}
    assert stages == {"training", "modeling", "examples"}, stages
    assert not [path for path in shipped if path.startswith("bert_pretraining/examples/") and
                path.rsplit("/", 1)[1] not in ("__init__.py", "records.py")], shipped


def import_cycle(graph):
    """One cycle of `graph` ({module: modules it imports}) as a list ending where it starts, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [node, target] if target in path else [node, target]
            if target not in state:
                found = visit(target, path + [node])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_import_cycle_among_the_projects_modules():
    """Every import counts, inside functions too (a deferred import only hides a cycle until that function
    runs). A module's package (its __init__.py) is not an edge: the package's folders import nothing."""
    from bert_pretraining.script_imports import SCRIPTS, import_statements, module_file, package_modules

    package = os.path.join(SCRIPTS, "bert_pretraining")
    modules = [
        os.path.relpath(os.path.join(folder, name), SCRIPTS)[:-3].replace("/", ".")
        for folder, _, names in os.walk(package) for name in names if name.endswith(".py")
    ]
    graph = {
        module: {
            imported
            for name, names in import_statements(module_file(module))
            if name.startswith("bert_pretraining")
            for imported in package_modules(name, names)
            if not module_file(imported).endswith("__init__.py")
        }
        for module in modules
    }
    assert len(graph) > 40 and import_cycle(graph) is None, " -> ".join(import_cycle(graph) or [])
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_the_workflows_parse_imports_only_the_configs_contracts(tmp_path):
    """Snakemake's parse of the workflow (every `snakemake` command) imports the small modules that hold the
    config's contracts, not the stages' code, TensorFlow or numpy."""
    write_config(tmp_path)
    code = (
        "import sys, json, atexit\n"
        "atexit.register(lambda: print('MODULES', json.dumps(sorted(sys.modules))))\n"
        "from snakemake.cli import main\n"
        f"sys.argv = ['snakemake', '-n', 'data', '-s', {os.path.join(ROOT, 'Snakefile')!r}, '--configfile', "
        f"{str(tmp_path / 'config.yaml')!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    line = [line for line in result.stdout.splitlines() if line.startswith("MODULES ")]
    assert line, result.stdout + result.stderr
    loaded = set(json.loads(line[-1][len("MODULES "):]))
    ours = {name for name in loaded if name.startswith("bert_pretraining.")}
    contracts = {"config_validation", "derived_config", "logs", "atomic", "script_imports", "training.train_settings",
                 "cloud.bucket", "cloud.tpu_slices",
                 "modeling.bert_config", "text.wordpiece_vocab", "text.wordpiece_tokenizer", "text.chars"}
    folders = {"text", "examples", "modeling", "training", "cloud", "report"}
    assert ours - {f"bert_pretraining.{name}" for name in contracts | folders} == set(), sorted(ours)
    # and what those modules import is what Snakemake's own environment has (PyYAML, jsonschema)
    from bert_pretraining.script_imports import external_imports

    needs = set()
    for name in ours:
        with open(tmp_path / "entry.py", "w") as f:
            f.write(f"import {name}\n")
        needs |= {module.split(".")[0] for module, _ in external_imports(str(tmp_path / "entry.py"))}
    assert needs <= {"yaml", "jsonschema"}, needs


def test_no_function_in_scripts_runs_over_80_lines():
    """Each function of the rule scripts and the package reads in one screen: a longer one does several jobs."""
    import ast

    long = []
    for folder, _, names in os.walk(os.path.join(ROOT, "scripts")):
        for name in [name for name in names if name.endswith(".py")]:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            long += [f"{os.path.relpath(path, ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
                     for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and node.end_lineno - node.lineno + 1 > 80]
    assert not long, long
