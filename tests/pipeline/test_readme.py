"""Every command the README shows is exercised here, as the user types it (issue 21).

COMMANDS is the table: each command of the README's ```bash blocks (indented ones in list items too) and each
`$ ` line of its console blocks, keyed by its section, names the test below that exercises it. A command the
table does not know, or one it names that the README no longer has, fails `test_table_knows_every_command`.
Commands run in a scratch checkout (the repository's files linked into a folder, `.venv` included), so that
`.venv/bin/...`, `recipe.yaml` and `config.yaml` mean there what they mean in the repository root. Long runs
are dry-runs (`-n`); benchmarks run `--help` and must accept every flag the README passes them.
"""

import ast
import json
import os
import re
import shlex
import subprocess

import pytest

from workflow import ROOT

README = os.path.join(ROOT, "README.md")

# (section, command) -> the test that exercises it.
COMMANDS = {
    ("Two commands", "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && "
                     ".venv/bin/snakemake --cores 8 train"): "test_install_and_train",
    ("Two commands", "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt && "
                     ".venv/bin/python -m pytest -q"): "test_ci_runs_the_readme_test_command",
    ("Two commands", "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 --index-url "
                     "https://download.pytorch.org/whl/cpu"): "test_torch_cpu_build_satisfies_the_pin",
    ("The recipe's full run", ".venv/bin/snakemake --cores 8 train --configfile recipe.yaml"): "test_recipe_dry_run",
    ("The recipe's full run", ".venv/bin/snakemake --cores 1 config --configfile recipe.yaml"):
        "test_recipe_dry_run",
    ("Training (recipe step 10)", ".venv/bin/python bench/bench_reference_training.py --out /tmp/ref"):
        "test_benchmarks_accept_the_readme_flags",
    ("See the plan before running it", ".venv/bin/python tools/plan.py train"): "test_plan_and_dag_views",
    ("See the plan before running it", ".venv/bin/python tools/dag.py train"): "test_plan_and_dag_views",
    ("See the plan before running it", ".venv/bin/python tools/dag.py --rulegraph train"): "test_plan_and_dag_views",
    ("See the plan before running it", ".venv/bin/snakemake -n train"): "test_plan_and_dag_views",
    ("See the plan before running it", ".venv/bin/python tools/plan.py data --config tokenizer='{vocab_size: 3000}'"):
        "test_plan_console_example_is_what_plan_prints",
    ("See the plan before running it", ".venv/bin/snakemake --cores 8 data"): "test_redraw_the_rule_graph",
    ("See the plan before running it", ".venv/bin/python tools/dag.py --rulegraph --plain --out docs/rulegraph data "
                                       "export evaluate report"): "test_redraw_the_rule_graph",
    ("The report", ".venv/bin/snakemake --cores 8 report"): "test_report_commands",
    ("The report", ".venv/bin/snakemake report --report report.html"): "test_report_commands",
    ("While it runs", "tail -f results/logs/download/download.log"): "test_tail_names_a_log_the_rules_write",
    ("While it runs", "tail -f results/logs/normalize/normalize.log"): "test_tail_names_a_log_the_rules_write",
    ("While it runs", "tail -f results/logs/sentencepiece/sentencepiece.log"): "test_tail_names_a_log_the_rules_write",
    ("While it runs", "tail -f results/logs/pretraining_data/0000.log"): "test_tail_names_a_log_the_rules_write",
    ("While it runs", "tail -f results/logs/train/train.log"): "test_tail_names_a_log_the_rules_write",
    ("On a Cloud TPU", "gcloud auth application-default login"): "test_tpu_account_setup",
    ("On a Cloud TPU", "gcloud services enable tpu.googleapis.com --project YOUR-PROJECT"): "test_tpu_account_setup",
    ("On a Cloud TPU", "gsutil mb -l us-central1 gs://YOUR-BUCKET"): "test_tpu_account_setup",
    ("On a Cloud TPU", ".venv/bin/snakemake -n train --configfile recipe.yaml"): "test_tpu_dry_run",
    ("On a Cloud TPU", ".venv/bin/snakemake --cores 8 train --configfile recipe.yaml"): "test_tpu_dry_run",
    ("Fine-tuning: what pre-training bought", ".venv/bin/python bench/bench_downstream.py --lines 200000 --topics 8 "
                                              "--steps 3000 --seeds 1 2 3 --finetune-seq-length 32 --work /tmp/dsb "
                                              "--finetune-lr 1e-4"):
        "test_benchmarks_accept_the_readme_flags",
    ("Measured figures", ".venv/bin/python bench/bench_data.py"): "test_benchmarks_accept_the_readme_flags",
    ("On an accelerator", ".venv/bin/python bench/bench_device.py"): "test_benchmarks_accept_the_readme_flags",
    ("On an accelerator", ".venv/bin/python bench/bench_device.py --smoke"): "test_device_benchmark_smoke_run",
    ("What the recipe's full run costs on one machine", ".venv/bin/python bench/bench_scale.py --lines 1000000 "
                                                        "10000000"): "test_benchmarks_accept_the_readme_flags",
}

# What the chain's rules are, for reading plans.
DATA_RULES = {"download", "subset", "normalize", "shard", "tokenizer_text", "sentencepiece", "wordpiece_vocab",
              "vocab_check"}
REPORT_RULES = {"corpus_stats", "tokenizer_stats", "pretraining_stats", "training_plots", "report"}


def readme_text():
    with open(README, encoding="utf-8") as f:
        return f.read()


def readme_commands(text):
    """{(section, command)} of the ```bash blocks (at any indentation) and the `$ ` lines of plain ``` blocks.

    A `# ...` after two spaces is a comment; a trailing backslash continues the line."""
    found, section, fence, pending = [], None, None, ""
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None:
            if line.startswith("## ") or line.startswith("### "):
                section = line.lstrip("#").strip()
            opening = re.fullmatch(r"```(\w*)", stripped)
            if opening:
                fence = opening.group(1) or "console"
            continue
        if stripped == "```":
            fence = None
            continue
        if fence == "console":
            if not stripped.startswith("$ "):
                continue
            stripped = stripped[2:]
        elif fence != "bash":
            continue
        command = re.sub(r"\s{2,}#.*$", "", stripped).strip()
        if command.endswith("\\"):
            pending += command[:-1].strip() + " "
            continue
        command, pending = pending + command, ""
        if command:
            found.append((section, " ".join(command.split())))
    return found


def commands_of(test_name):
    return [command for (_, command), name in COMMANDS.items() if name == test_name]


def test_table_knows_every_command():
    found = readme_commands(readme_text())
    unknown = [key for key in found if key not in COMMANDS]
    assert not unknown, f"README commands no test exercises (add each to COMMANDS, with its test): {unknown}"
    gone = [key for key in COMMANDS if key not in found]
    assert not gone, f"COMMANDS names commands the README no longer has: {gone}"
    # Each entry names a test of this module, and each command is run by that test through commands_of().
    names = {name for name in COMMANDS.values()}
    assert {name for name in names if not callable(globals().get(name))} == set()


# The repository's files, linked into a scratch folder: a checkout to type commands in. `docs` is copied,
# since the README's redraw command writes there; results, .snakemake and .git stay behind.
LINKED = [".venv", ".ci", "Snakefile", "bench", "config.yaml", "envs", "profiles", "report", "requirements.txt",
          "requirements-dev.txt", "rules", "schemas", "scripts", "tools", "recipe.yaml", "tests"]


def checkout(folder, copy=()):
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        if name not in copy:
            os.symlink(os.path.join(ROOT, name), folder / name)
    shutil.copytree(os.path.join(ROOT, "docs"), folder / "docs")
    for name in copy:
        shutil.copy(os.path.join(ROOT, name), folder / name)
    return folder


def typed(folder, command, *extra, check=True, timeout=600):
    """Run `command` as typed in a shell in `folder`, with `extra` arguments appended (`-n`, say)."""
    line = command + "".join(" " + shlex.quote(arg) for arg in extra)
    result = subprocess.run(["bash", "-c", line], cwd=folder, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{line} failed in {folder}:\n{result.stdout}\n{result.stderr}")
    return result


def job_stats(out):
    """{rule: count} of a dry-run's first job table; {} when there is nothing to do."""
    if "Nothing to be done" in out:
        return {}
    jobs = {}
    for line in out.split("Job stats:")[1].splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        jobs[match.group(1)] = int(match.group(2))
    return jobs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A checkout of the offline default with `data` built, by the README's own command for it (seconds)."""
    folder = checkout(tmp_path_factory.mktemp("readme") / "checkout")
    (command,) = [c for c in commands_of("test_redraw_the_rule_graph") if "snakemake" in c]
    typed(folder, command)
    return folder


@pytest.fixture(scope="module")
def train_dry_run(built):
    """The README's `snakemake -n train` on the built folder, read by two tests."""
    (command,) = [c for c in commands_of("test_plan_and_dag_views") if c.startswith(".venv/bin/snakemake -n")]
    return typed(built, command).stdout


def test_install_and_train(built):
    venv, install, train = [part.strip() for part in commands_of("test_install_and_train")[0].split("&&")]
    assert venv == "python3 -m venv .venv"
    assert install == ".venv/bin/pip install -r requirements.txt" and os.path.exists(f"{ROOT}/requirements.txt")
    assert train == ".venv/bin/snakemake --cores 8 train"
    # test_workflow's `built` runs this command for real on the offline default (shorter training, 4000-line
    # shards); here the same command, dry, on a built `data` plans what is left of the chain.
    with open(os.path.join(ROOT, "tests", "pipeline", "test_workflow.py")) as f:
        assert 'snakemake(folder, "--cores", "2", "train")' in f.read()
    jobs = job_stats(typed(built, train, "-n").stdout)
    shards = len(list((built / "results" / "shards").glob("shard_*")))
    assert jobs == {"bert_config": 1, "pretraining_data": shards, "train": 1}


def test_ci_runs_the_readme_test_command():
    (command,) = commands_of("test_ci_runs_the_readme_test_command")
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert command in lines, ".ci/run must run the README's test command as written"
    assert lines[-1] == command  # last: the tests are what CI's exit status reports


def test_recipe_dry_run(tmp_path):
    train, resolve = commands_of("test_recipe_dry_run")
    folder = checkout(tmp_path)
    result = typed(folder, train, "-n")
    jobs = job_stats(result.stdout)
    # Before the shards exist, the plan reaches `train` through the `shard` checkpoint; no cloud jobs.
    assert set(jobs) == DATA_RULES - {"vocab_check"} | {"bert_config", "train"}
    assert "output: results-recipe/vocab.txt" in result.stdout
    assert not (folder / "results-recipe").exists()
    # Resolving the config runs no job of the chain (seconds): run for real, it writes where the README says.
    typed(folder, resolve)
    import yaml

    assert isinstance(yaml.safe_load((folder / "results-recipe" / "resolved_config.yaml").read_text()), dict)
    assert not (folder / "results-recipe" / "raw").exists()


def uncomment_tpu_block(text, names):
    """recipe.yaml as step 2 of "On a Cloud TPU" asks: the `bucket:` and `tpu:` block at its end uncommented,
    the names filled in."""
    head, start, block = text.partition("# bucket:")
    assert start, "recipe.yaml has no commented `bucket:` block"
    block = re.sub(r"(?m)^# ?", "", start + block)
    for placeholder, name in names.items():
        block = block.replace(placeholder, name)
    return head + block


def test_tpu_dry_run(tmp_path):
    folder = checkout(tmp_path, copy=["recipe.yaml"])
    recipe = folder / "recipe.yaml"
    recipe.write_text(uncomment_tpu_block(recipe.read_text(), {"YOUR-BUCKET": "my-bucket",
                                                               "YOUR-PROJECT": "my-project"}))
    see, run = commands_of("test_tpu_dry_run")
    assert "-n" in see.split() and run == see.replace(" -n ", " --cores 8 ")
    for command, extra in [(see, ()), (run, ("-n",))]:
        result = typed(folder, command, *extra)
        jobs = job_stats(result.stdout)
        assert {"upload", "tpu_code", "train"} <= set(jobs), command
        assert jobs["upload"] == jobs["tpu_code"] == jobs["train"] == 1
        # The log step 5 of the section follows, in the recipe's results folder.
        assert "log: results-recipe/logs/train/train.log" in result.stdout
    assert not (folder / "results-recipe").exists()


def test_tpu_account_setup():
    """The one-time cloud set-up cannot run here; it must fit what the pipeline uses: the TPU API the client
    calls, and a bucket in the region of the example's zone."""
    login, enable, make_bucket = commands_of("test_tpu_account_setup")
    assert login == "gcloud auth application-default login"  # Application Default Credentials: what the clients read
    from google.cloud import tpu_v2

    api = enable.split()[3]
    assert tpu_v2.TpuClient.DEFAULT_ENDPOINT == api
    with open(os.path.join(ROOT, "recipe.yaml")) as f:
        import yaml

        recipe = yaml.safe_load(uncomment_tpu_block(f.read(), {}))
    region = make_bucket.split()[make_bucket.split().index("-l") + 1]
    assert recipe["tpu"]["zone"].rsplit("-", 1)[0] == region
    assert make_bucket.endswith(f"gs://{recipe['bucket']}") and enable.endswith(recipe["tpu"]["project"])


def test_plan_and_dag_views(built, train_dry_run):
    plan, dag, rulegraph, _ = commands_of("test_plan_and_dag_views")
    assert f"Plan for train: " in typed(built, plan).stdout
    typed(built, dag)
    typed(built, rulegraph)
    for name in ["jobs", "rules"]:
        graph = (built / "results" / "dag" / f"{name}.mmd").read_text()
        assert "pretraining_data" in graph and "train" in graph, name
        assert (built / "results" / "dag" / f"{name}.dot").exists()
    assert set(job_stats(train_dry_run)) == {"bert_config", "pretraining_data", "train"}
    assert "reason: " in train_dry_run


def console_example(text, command):
    """The lines the README shows after `$ command` in its console block."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"$ {command}")
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "```")
    return lines[start + 1:end]


def test_plan_console_example_is_what_plan_prints(built):
    (command,) = commands_of("test_plan_console_example_is_what_plan_prints")
    printed = typed(built, command).stdout.splitlines()
    shown = console_example(readme_text(), command)
    # Same rows, statuses and reasons; column widths aside.
    normal = lambda lines: [" ".join(line.split()) for line in lines]  # noqa: E731
    assert normal(shown) == normal(printed)


def test_redraw_the_rule_graph(built):
    # The fixture ran the first command (`snakemake --cores 8 data`) for real; the second redraws the picture.
    _, redraw = commands_of("test_redraw_the_rule_graph")
    assert (built / "results" / "vocab.txt").exists()
    typed(built, redraw)
    with open(os.path.join(ROOT, "docs", "rulegraph.mmd"), encoding="utf-8") as f:
        assert (built / "docs" / "rulegraph.mmd").read_text(encoding="utf-8") == f.read()


def test_report_commands(built):
    make, html = commands_of("test_report_commands")
    # Training takes minutes: dry-run. It trains first, then makes every statistic and plot.
    jobs = job_stats(typed(built, make, "-n").stdout)
    assert REPORT_RULES | {"train"} <= set(jobs)
    # report.html needs those outputs: tests/pipeline/test_report.py's fixture builds them and runs this command
    # (with --cores 1, which `snakemake --report` takes as it runs nothing), then reads the page.
    with open(os.path.join(ROOT, "tests", "pipeline", "test_report.py")) as f:
        source = f.read()
    assert f'snakemake(folder, {", ".join(map(repr, html.split()[1:]))}'.replace("'", '"') in source


def test_tail_names_a_log_the_rules_write(built, train_dry_run):
    """Each `tail -f` path is the `log:` of a job: written by the built data steps, or planned in `train`'s."""
    logs = set(re.findall(r"^\s+log: (.+)$", train_dry_run, re.M))
    for command in commands_of("test_tail_names_a_log_the_rules_write"):
        path = command.split()[-1]
        written = (built / path).is_file() and os.path.getsize(built / path) > 0
        assert written or path in logs, path


BENCH = re.compile(r"\.venv/bin/python (bench/\w+\.py)(.*)", re.S)


def test_benchmarks_accept_the_readme_flags():
    """A benchmark's dry run: its `--help` starts, and lists every flag the README passes it (in the blocks
    above and in the text)."""
    flags = {}
    for command in commands_of("test_benchmarks_accept_the_readme_flags") + [
            m.group(1) for m in re.finditer(r"`(\.venv/bin/python bench/[^`]+)`", readme_text())]:
        script, args = BENCH.match(command).groups()
        flags.setdefault(script, set()).update(a for a in args.split() if a.startswith("-"))
    # The slowest --help imports TensorFlow and torch; started together, they overlap.
    running = {script: subprocess.Popen([os.path.join(ROOT, ".venv", "bin", "python"), script, "--help"], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for script in flags}
    for script, process in running.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{script} --help: {err}"
        options = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", out.split("options:")[-1]))
        assert flags[script] <= options, f"{script} does not take {flags[script] - options}"


def test_device_benchmark_smoke_run(tmp_path):
    """The accelerator benchmark's smoke run, as typed: both backends train a tiny model on what this machine has
    (a CPU in CI, which it says)."""
    (command,) = commands_of("test_device_benchmark_smoke_run")
    out = typed(checkout(tmp_path / "checkout"), command, timeout=300).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(("tensorflow ", "jax "))]
    assert {row[0] for row in rows} == {"tensorflow", "jax"} and all(float(row[5]) > 0 for row in rows), out
    assert "no accelerator present" in out or "MFU" in out


def test_torch_cpu_build_satisfies_the_pin():
    """PyPI's torch is the CUDA build on Linux x86_64; the README installs the CPU build first, from PyTorch's
    index (which CI cannot reach), and `pip install -r requirements-dev.txt` must then keep it."""
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet

    (command,) = commands_of("test_torch_cpu_build_satisfies_the_pin")
    venv, install = [part.strip() for part in command.split("&&")]
    assert venv == "python3 -m venv .venv"
    args = install.split()
    assert args[:3] == [".venv/bin/pip", "install", args[2]] and args[3:] == [
        "--index-url", "https://download.pytorch.org/whl/cpu"]
    with open(os.path.join(ROOT, "requirements-dev.txt")) as f:
        pins = [line.split("#")[0].strip() for line in f]
    assert args[2] in pins, "the README's torch must be requirements-dev.txt's pin"
    assert "--index-url" not in " ".join(pins) and "--extra-index-url" not in " ".join(pins)  # CI: PyPI only
    pin = SpecifierSet(args[2].split("torch")[1])
    # The local label of the CPU wheels ("+cpu") is ignored by a pin without one (PEP 440), so pip keeps it.
    assert f"{pin}".startswith("==") and pin.contains(pin.__str__()[2:] + "+cpu")
    assert pin.contains(version("torch"))


def source_of(path, predicate):
    """The first node of `path` (under the repository) for which `predicate(node, source)` holds."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        source = f.read()
    return next(node for node in ast.walk(ast.parse(source)) if predicate(node, source)), source


def code_format_seconds():
    """train_callback.format_seconds, compiled alone (importing its module would import TensorFlow)."""
    node, source = source_of("scripts/bert_pretraining/training/train_callback.py",
                             lambda n, _: isinstance(n, ast.FunctionDef) and n.name == "format_seconds")
    namespace = {}
    exec(compile(ast.Module([node], []), "train_callback.py", "exec"), namespace)
    return namespace["format_seconds"]


def seconds_of(text):
    hours, minutes, seconds = map(int, re.fullmatch(r"(\d+)h(\d+)m(\d+)s", text).groups())
    return hours * 3600 + minutes * 60 + seconds


def quoted(pattern):
    """The README's code spans that match `pattern`, at least one."""
    spans = re.findall(rf"`({pattern}[^`]*)`", readme_text())
    assert spans, f"the README quotes no line like {pattern}"
    return spans


def test_quoted_progress_line_is_what_training_logs():
    """train.log's progress line, as the callback formats it: the README's figures, put through the code's own
    format string, give the README's line back, character for character."""
    call, _ = source_of("scripts/bert_pretraining/training/train_callback.py", lambda n, _: isinstance(n, ast.Call) and n.args and isinstance(
        n.args[0], ast.Constant) and str(n.args[0].value).startswith("step %d/%d"))
    fmt = call.args[0].value
    specs = re.findall(r"%[.\d]*([dfes])", fmt)
    loose = "".join(re.escape(part) if i % 2 == 0 else r"(\S+)"
                    for i, part in enumerate(re.split(r"(%[.\d]*[dfes])", fmt)))
    format_seconds = code_format_seconds()
    for line in quoted(r"step \d"):
        match = re.fullmatch(loose, line)
        assert match, f"README line {line!r} has not the fields of {fmt!r}"
        values = [int(v) if s == "d" else float(v) if s in "fe" else format_seconds(seconds_of(v))
                  for v, s in zip(match.groups(), specs)]
        assert fmt % tuple(values) == line


def test_quoted_last_console_line_is_what_training_prints():
    """The train job's last console line: the README's figures, put through train.py's own expression (the
    held-out metrics in the order evaluate.py returns them), give the README's line back."""
    call, source = source_of("scripts/bert_pretraining/training/train.py", lambda n, src: isinstance(n, ast.Call) and getattr(
        n.func, "id", None) == "print" and n.args and "trained" in ast.get_source_segment(src, n.args[0]))
    metrics, _ = source_of("scripts/bert_pretraining/training/evaluate.py", lambda n, _: isinstance(n, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == "masked_lm_accuracy" for k in n.keys))
    floats = [k.value for k, v in zip(metrics.keys, metrics.values) if getattr(v.func, "id", None) == "float"]
    ints = [k.value for k, v in zip(metrics.keys, metrics.values) if getattr(v.func, "id", None) == "int"]
    expression = compile(ast.Expression(call.args[0]), "train.py", "eval")
    for line in quoted("trained "):
        match = re.fullmatch(r"trained (\S+) to step (\d+) in (\S+), loss ([^,\s]+)((?:, \w+ [^,\s]+)*)", line)
        assert match, line
        phase, step, took, loss, rest = match.groups()
        shown = re.findall(r", (\w+) ([^,\s]+)", rest)
        assert [name for name, _ in shown] == floats, "every held-out float metric, in evaluate.py's order"
        summary = {"phase": phase, "final_step": int(step), "train_seconds": float(seconds_of(took)),
                   "losses": [{"loss": float(loss)}], "eval": {**{k: float(v) for k, v in shown},
                                                               **{k: 1 for k in ints}}}
        printed = eval(expression, {"summary": summary, "last": summary["losses"][-1],
                                    "format_seconds": code_format_seconds()})
        assert printed == line
