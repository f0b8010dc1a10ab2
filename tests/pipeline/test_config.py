"""The config as users give it: the shipped config files resolve, through the README's own commands, to the
values the README's table gives; every config error names the key the user set and a value that works, and
that value, given back to Snakemake, works."""

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from bert_pretraining import config_validation
from bert_pretraining.training import train_settings
from workflow import ROOT, SNAKEMAKE

SCHEMA = config_validation.load_schema(os.path.join(ROOT, "schemas", "config.schema.yaml"))
SCHEMA_DEFAULT = object()  # the table's "the schema's default"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """What a user's clone holds of the workflow, the workflow profile included; commands run inside it."""
    folder = tmp_path_factory.mktemp("checkout")
    for name in ("Snakefile", "config.yaml", "recipe.yaml"):
        shutil.copy(os.path.join(ROOT, name), folder / name)
    for name in ("rules", "schemas", "scripts", "envs", "report", "profiles"):
        shutil.copytree(os.path.join(ROOT, name), folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def run(folder, *args):
    return subprocess.run([SNAKEMAKE, *args], cwd=folder, capture_output=True, text=True, timeout=300)


def resolved(folder, *args, results="results"):
    """The config `snakemake --cores 1 config ARGS` resolves, as it writes it."""
    result = run(folder, "--cores", "1", "config", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(folder / results / "resolved_config.yaml") as f:
        return yaml.safe_load(f)


def leaves(config):
    """{'section.key' or 'key': value} of a resolved config."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": item for sub, item in value.items()})
        else:
            flat[key] = value
    return flat


def table_value(text):
    """A value as the README's table writes it: `a string`, 1,000 (thousands), 2e-5, true, null, {}, ""."""
    if text == "the schema's default":
        return SCHEMA_DEFAULT
    if text.startswith("`") and text.endswith("`"):
        return text[1:-1]
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", text):
        return int(text.replace(",", ""))
    value = yaml.safe_load(text)
    return float(text) if isinstance(value, str) and value else value  # YAML reads 1e-7 as a string


def readme_table():
    """{'section.key': (offline default, recipe)} from the README's configuration table."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    lines = text[text.index("| key | offline default | recipe | meaning |") :].splitlines()[2:]
    table = {}
    for line in lines:
        if not line.startswith("|"):
            break
        keys, offline, recipe, _ = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        keys = re.findall(r"`([^`]+)`", keys)
        section = keys[0].rpartition(".")[0]
        keys = [keys[0]] + [f"{section}.{key}" if section else key for key in keys[1:]]
        offline = [table_value(value) for value in re.split(r", (?=\S)", offline)]
        recipe = offline if recipe == "same" else [table_value(value) for value in re.split(r", (?=\S)", recipe)]
        assert len(keys) == len(offline) == len(recipe), line
        for key, *values in zip(keys, offline, recipe):
            assert key not in table, f"{key} twice in the README's table"
            table[key] = tuple(values)
    return table


def schema_default(key):
    section, _, name = key.rpartition(".")
    spec = SCHEMA["properties"][section]["properties"][name] if section else SCHEMA["properties"][name]
    return spec["default"]


def test_shipped_configs_resolve_to_the_readme_table(checkout):
    offline = leaves(resolved(checkout))
    recipe = leaves(resolved(checkout, "--configfile", "recipe.yaml", results="results-recipe"))
    table = readme_table()
    assert set(table) == set(offline) == set(recipe), (set(offline) ^ set(table), set(recipe) ^ set(table))
    for key, (offline_value, recipe_value) in table.items():
        for name, value, got in (("offline", offline_value, offline[key]), ("recipe", recipe_value, recipe[key])):
            expected = schema_default(key) if value is SCHEMA_DEFAULT else value
            assert got == expected and isinstance(got, bool) == isinstance(expected, bool), (key, name, got, expected)
    # The recipe trains BERT-base with the recipe's schedule, whatever config.yaml says.
    assert (recipe["model.hidden_size"], recipe["model.num_hidden_layers"], recipe["train.num_train_steps"]) == (
        768, 12, 1_000_000)


def test_config_yaml_holds_only_what_the_offline_default_changes():
    with open(os.path.join(ROOT, "config.yaml")) as f:
        config = yaml.safe_load(f)
    same = [key for key, value in leaves(config).items() if value == schema_default(key)]
    assert not same, f"config.yaml repeats the schema's defaults of {same}"


def test_several_config_files_merge_in_order(checkout):
    (checkout / "mine.yaml").write_text("tokenizer:\n  vocab_size: 3000\n")
    config = leaves(resolved(checkout, "--configfile", "config.yaml", "mine.yaml"))
    assert config["tokenizer.vocab_size"] == 3000 and config["model.hidden_size"] == 128  # config.yaml's


def test_command_line_strings_are_read_as_the_schema_types_them(checkout):
    config = leaves(resolved(checkout, "--config", "tokenizer={strip_accents: false}",
                             "train={jit_compile: true, learning_rate: 1e-3}", "corpus={max_lines: null}"))
    assert config["tokenizer.strip_accents"] is False and config["train.jit_compile"] is True
    assert config["train.learning_rate"] == 0.001 and config["corpus.max_lines"] is None
    assert config["corpus.lang"] == "en" and config["model.hidden_size"] == 128  # config.yaml's, under --config


# (a bad value as a user gives it, the advice it must get, the fix that advice names)
ADVICE = [
    ("tokenizer={vocab_sise: 3000}", r"tokenizer\.vocab_sise: unknown key; did you mean tokenizer\.(\w+)\?",
     lambda m: [f"tokenizer={{{m[1]}: 3000}}"]),
    ("bucket=gs://my-bucket/bert",
     r"give the bucket's name alone, without gs:// \(bucket: ([\w.-]+)\), and the folder inside it as "
     r"bucket_prefix: (\S+)", lambda m: [f"bucket={m[1]}", f"bucket_prefix={m[2]}"]),
    ("tokenizer={vocab_size: -5}", r"tokenizer\.vocab_size: -5 .* use a vocab_size of at least (\d+)",
     lambda m: [f"tokenizer={{vocab_size: {m[1]}}}"]),
    ("phase2={num_train_steps: 100, max_seq_length: 1024}",
     r"phase2\.max_seq_length \(1024\) exceeds model\.max_position_embeddings \(512\): set phase2\.max_seq_length "
     r"to at most (\d+)", lambda m: [f"phase2={{num_train_steps: 100, max_seq_length: {m[1]}}}"]),
    ("train={batch_size: 30, gradient_accumulation_steps: 4}",
     r"train\.batch_size \(30\) is not a multiple of train\.gradient_accumulation_steps \(4\): set train\.batch_size "
     r"to (\d+) or (\d+)", lambda m: [f"train={{batch_size: {m[2]}, gradient_accumulation_steps: 4}}"]),
    ("phase2={num_train_steps: 100, batch_size: 6, gradient_accumulation_steps: 4}",
     r"phase2\.batch_size \(6\) is not a multiple of phase2\.gradient_accumulation_steps \(4\): set "
     r"phase2\.batch_size to (\d+)", lambda m: [f"phase2={{num_train_steps: 100, batch_size: {m[1]}, "
                                                 "gradient_accumulation_steps: 4}"]),
    ("train={steps_per_execution: 3}",
     r"train\.steps_per_execution \(3\) does not divide train\.num_train_steps \(1000\): set train\.num_train_steps "
     r"to (\d+)", lambda m: [f"train={{steps_per_execution: 3, num_train_steps: {m[1]}}}"]),
    ("tokenizer={strip_accents: maybe}", r"tokenizer\.strip_accents: 'maybe' is not one of auto, (true), false",
     lambda m: [f"tokenizer={{strip_accents: {m[1]}}}"]),
]


def test_each_config_error_names_the_key_and_its_advice_works(checkout):
    """Each bad value stops `snakemake -n train` with one line naming the key and a value; the value it names,
    given instead, plans the run."""

    outputs = []

    def bad_then_fixed(case):
        bad, advice, fix = case
        result = run(checkout, "-n", "train", "--config", bad)
        out = result.stdout + result.stderr
        outputs.append(out)
        match = re.search(advice, out)
        if result.returncode == 0 or not match or "Traceback" in out:
            return f"{bad}: no advice /{advice}/ in\n{out[-2000:]}"
        fixed = run(checkout, "-n", "train", "--config", *fix(match))
        if fixed.returncode != 0 or "Job stats" not in fixed.stdout:
            return f"{bad}: its advice {fix(match)} failed:\n{(fixed.stdout + fixed.stderr)[-2000:]}"
        return None

    with ThreadPoolExecutor(max_workers=3) as pool:
        failures = [failure for failure in pool.map(bad_then_fixed, ADVICE) if failure]
    assert not failures, "\n\n".join(failures)
    # The errors the README quotes are what Snakemake printed here, word for word.
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    quoted = readme.split("with one line naming the key you set and a value that works:\n\n```\n")[1].split("```")[0]
    assert len(quoted.splitlines()) == 5
    for line in quoted.splitlines():
        assert any(line in out for out in outputs), line


@pytest.mark.parametrize(
    "config,message",
    [
        ({"tokenizer": {"vocab_size": 100, "num_placeholders": 10}}, None),
        ({"tokenizer": {"vocab_size": 0, "num_placeholders": 10}}, "use a vocab_size of at least 16"),
        ({"tokenizer": {"vocab_size": "a"}}, "use a vocab_size of at least 262"),
        ({"shards": {"lines_per_shard": 0}}, "shards.lines_per_shard: 0 is less than the minimum of 1"),
        ({"trian": {}}, "trian: unknown key; did you mean train?"),
        ({"train": {"zzz": 1}}, "train.zzz: unknown key; train takes backend, batch_size"),
        ({"bucket": "My_Bucket"}, "bucket: 'My_Bucket' does not match"),
        ({"train": {"jit_compile": "perhaps"}}, "train.jit_compile: 'perhaps' is not one of auto, true, false"),
    ],
)
def test_schema_errors_read_as_one_line_naming_the_key(config, message):
    from snakemake.utils import validate

    schema_path = os.path.join(ROOT, "schemas", "config.schema.yaml")
    if message is None:
        config_validation.validate(config, SCHEMA, lambda values: validate(values, schema_path))
        assert config["train"]["batch_size"] == 128  # the schema's defaults filled in
        return
    with pytest.raises(config_validation.ConfigError) as error:
        config_validation.validate(config, SCHEMA, lambda values: validate(values, schema_path))
    assert str(error.value).startswith("invalid configuration: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_cli_strings_keep_what_the_schema_takes_as_a_string():
    config = {"corpus": {"lang": "no", "max_lines": "5"}, "tpu": {"name": "null", "zone": "123"},
              "results": "007", "bucket": "true"}
    config_validation.coerce_cli_strings(config, SCHEMA)
    # "no" is Norwegian, not YAML's false; a zone and a results folder are strings; null is null where allowed
    assert config == {"corpus": {"lang": "no", "max_lines": 5}, "tpu": {"name": None, "zone": "123"},
                      "results": "007", "bucket": "true"}


def test_the_trainer_and_the_workflow_give_the_same_batch_advice():
    assert train_settings.batch_size_error("phase2", 8, 3) == (
        "phase2.batch_size (8) is not a multiple of phase2.gradient_accumulation_steps (3): set phase2.batch_size "
        "to 6 or 9")
    assert "times the 8 replicas: set train.batch_size to 96 or 128" in train_settings.batch_size_error(
        "train", 100, 4, replicas=8)
    assert train_settings.batch_size_error("train", 128, 4, replicas=8) is None
