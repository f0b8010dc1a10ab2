"""The config's first check, when the workflow is parsed: read `--config` strings as the schema types them, fill
in the schema's defaults, and turn a schema error into one line that names the key and a value that works.

Plain functions of a config dict and the schema, so tests call them without Snakemake; rules/common.smk runs
them before any job.
"""

import difflib

import jsonschema
import yaml

from bert_pretraining.atomic import atomic_path

from bert_pretraining.text.wordpiece_vocab import CONTROL_SYMBOLS, smallest_vocab_size


class ConfigError(ValueError):
    """One line: the key the user set, what is wrong with it, and a value that works."""


def load_schema(path):
    with open(path) as f:
        return yaml.safe_load(f)


def valid(value, schema):
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def coerce_cli_strings(values, schema):
    """`--config section='{key: false}'` reaches the workflow as the string "false" (Snakemake reads nested
    values as plain strings): read such a string as YAML wherever the schema refuses the string and accepts
    what it spells (a number, a boolean, null, an enum's true/false)."""
    if not isinstance(values, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        value = values.get(key)
        if isinstance(value, dict):
            coerce_cli_strings(value, sub)
        elif isinstance(value, str) and not (valid(value, sub) and "null" not in types(sub)):
            try:
                parsed = yaml.safe_load(value)
                if isinstance(parsed, str) and "number" in types(sub):
                    parsed = float(parsed)  # YAML 1.1 reads 1e-3 (no dot) as a string
            except (yaml.YAMLError, ValueError):
                continue
            # Of the type the schema asks for: a value out of its range then gets the range's message.
            if not isinstance(parsed, str) and valid(parsed, {k: sub[k] for k in ("type", "enum") if k in sub}):
                values[key] = parsed


def types(schema):
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def vocab_size_error(vocab_size, num_placeholders):
    """The message for a vocab_size too small for the control symbols and placeholders, or None."""
    smallest = smallest_vocab_size(num_placeholders)
    if isinstance(vocab_size, int) and not isinstance(vocab_size, bool) and vocab_size >= smallest:
        return None
    return (
        f"tokenizer.vocab_size: {vocab_size!r} cannot hold the {len(CONTROL_SYMBOLS)} control symbols and "
        f"{num_placeholders} placeholders (tokenizer.num_placeholders) with room for any word piece; use a "
        f"vocab_size of at least {smallest}, or fewer placeholders"
    )


def bucket_error(bucket):
    """A gs:// URL where the bucket's name belongs: name the two keys it splits into."""
    if isinstance(bucket, str) and bucket.startswith("gs://"):
        name, _, prefix = bucket[len("gs://") :].strip("/").partition("/")
        return (
            f"bucket: {bucket!r} is a URL; give the bucket's name alone, without gs:// (bucket: {name})"
            + (f", and the folder inside it as bucket_prefix: {prefix}" if prefix else "")
        )
    return None


def unknown_key_message(path, key, allowed):
    where = ".".join([*path, key])
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"{where}: unknown key; did you mean {'.'.join([*path, close[0]])}?"
    section = ".".join(path) or "the config"
    return f"{where}: unknown key; {section} takes {', '.join(sorted(allowed))}"


def explain(error, config, schema):
    """One line for a jsonschema error: the dotted key, and advice where the schema's own message has none."""
    path = [str(part) for part in error.absolute_path]
    key = ".".join(path) or "config"
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return "; ".join(unknown_key_message(path, name, list(error.schema["properties"])) for name in unknown)
    if path == ["tokenizer", "vocab_size"]:
        placeholders = config.get("tokenizer", {}).get("num_placeholders")
        if not isinstance(placeholders, int) or placeholders < 0:
            placeholders = schema["properties"]["tokenizer"]["properties"]["num_placeholders"]["default"]
        return vocab_size_error(error.instance, placeholders) or f"{key}: {error.message}"
    if path == ["bucket"]:
        return bucket_error(error.instance) or f"{key}: {error.message}"
    if error.validator == "enum":
        return f"{key}: {error.instance!r} is not one of {', '.join(map(show, error.validator_value))}"
    return f"{key}: {error.message}"


def show(value):
    """A value as a user writes it in YAML."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def validate(config, schema, fill_defaults):
    """Coerce `--config` strings, then `fill_defaults(config)` (Snakemake's validate, which fills in the schema's
    defaults and raises on an invalid config); on an error, ConfigError with one line for it."""
    coerce_cli_strings(config, schema)
    try:
        fill_defaults(config)
    except Exception:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
        if error is None:
            raise
        raise ConfigError(f"invalid configuration: {explain(error, config, schema)}") from None


def write_config(config, path):
    """The resolved config as YAML (the `config` target's resolved_config.yaml)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
