"""The training settings: one list of keys for the train rule (rules/common.smk's TRAIN_PARAMS), the training
command line (train_cli.py, bench/bench_train.py) and the TPU VM's command (tpu.py).

Their defaults, types, allowed values and documentation are the config schema's alone; the schema travels with
the scripts to a TPU VM (rule tpu_code), so the command line there has the same defaults as the workflow.
"""

import os

import jsonschema
import yaml

from bert_pretraining.logs import PipelineError

# <checkout>/schemas/, beside scripts/ (on a TPU VM: code/schemas/ beside code/scripts/)
CHECKOUT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCHEMA = os.path.join(CHECKOUT, "schemas", "config.schema.yaml")
# {config section: the keys of it that training takes}, in the order the command line lists them.
KEYS = {
    "train": (
        "backend",
        "device",
        "batch_size",
        "learning_rate",
        "warmup_steps",
        "num_train_steps",
        "optimizer",
        "weight_decay",
        "gradient_clip_norm",
        "save_checkpoints_steps",
        "keep_checkpoints",
        "log_every_steps",
        "mixed_precision",
        "jit_compile",
        "gradient_accumulation_steps",
        "steps_per_execution",
        "shuffle_buffer",
        "seed",
        "eval_batch_size",
        "eval_steps",
    ),
    # The examples' shape, which the input pipeline parses.
    "pretraining_data": ("max_seq_length", "max_predictions_per_seq"),
    # The second phase's own values: PHASE2 + key, e.g. phase2_num_train_steps (--phase2-num-train-steps).
    "phase2": (
        "num_train_steps",
        "max_seq_length",
        "max_predictions_per_seq",
        "batch_size",
        "learning_rate",
        "warmup_steps",
        "gradient_accumulation_steps",
    ),
}
PHASE2 = "phase2_"
# The trainer's exit status when a signal stopped it after saving a checkpoint: the TPU follower (tpu.py) tells a
# preemption from a failure by it.
INTERRUPTED = 130
# The config section that holds each phase's own values (phase 1's are train's), for messages that name keys.
PHASE_SECTIONS = ("train", "phase2")
TYPES = {"integer": int, "number": float, "string": str}
NAMES = {"integer": "an integer", "number": "a number"}


def names():
    """[(section, key, the setting's name)]: a key of the phase2 section is named with the PHASE2 prefix."""
    return [(section, key, PHASE2 + key if section == "phase2" else key) for section, keys in KEYS.items() for key in keys]


def from_config(config):
    """{name: value} of every training setting of a validated config."""
    return {name: config[section][key] for section, key, name in names()}


def properties():
    """{name: its schema} of every training setting."""
    with open(SCHEMA) as f:
        sections = yaml.safe_load(f)["properties"]
    return {name: sections[section]["properties"][key] for section, key, name in names()}


def phases(settings):
    """Each training phase's own settings: phase 1 as `settings` name them, then phase 2 (when its
    num_train_steps is not 0), the same but for the values of its own."""
    first = {name: value for name, value in settings.items() if not name.startswith(PHASE2)}
    second = {name[len(PHASE2) :]: value for name, value in settings.items() if name.startswith(PHASE2)}
    return [first] + ([dict(first, **second)] if second.get("num_train_steps") else [])


def check_backend(*, backend, device, tpu_name):
    """A TPU, named (tpu.name) or asked for (train.device), trains with JAX: TensorFlow 2.21 has no TPU runtime.
    The workflow runs this before any job (rules/common.smk), and devices.py again as training starts."""
    if backend != "jax" and (tpu_name or device == "tpu"):
        asked = "tpu.name is set" if tpu_name else "train.device is tpu"
        raise PipelineError(
            f"train.backend must be jax with a TPU ({asked}, and TensorFlow 2.21 has no TPU runtime): "
            "set train.backend to jax"
        )


def nearest_multiples(value, step):
    """'96 or 108': the multiples of `step` either side of `value`, for advice."""
    below = value // step * step
    return " or ".join(str(n) for n in (below, below + step) if n)


def batch_size_error(section, batch_size, gradient_accumulation_steps, replicas=1):
    """A phase's batch must split into its micro-batches on every replica: the message naming the keys and the
    nearest batch sizes that do, or None. The workflow checks this before any job (replicas unknown there: 1)."""
    step = gradient_accumulation_steps * replicas
    if batch_size % step == 0:
        return None
    across = f" times the {replicas} replicas" if replicas > 1 else ""
    return (
        f"{section}.batch_size ({batch_size}) is not a multiple of {section}.gradient_accumulation_steps "
        f"({gradient_accumulation_steps}){across}: set {section}.batch_size to {nearest_multiples(batch_size, step)}"
    )


def steps_per_execution_error(section, num_train_steps, steps_per_execution):
    """Keras runs whole executions, so a phase trained from step 0 must end on one: the message, or None."""
    if num_train_steps % steps_per_execution == 0:
        return None
    return (
        f"train.steps_per_execution ({steps_per_execution}) does not divide {section}.num_train_steps "
        f"({num_train_steps}): set {section}.num_train_steps to {nearest_multiples(num_train_steps, steps_per_execution)}, or "
        "train.steps_per_execution to a divisor of it"
    )


def defaults():
    return {key: spec["default"] for key, spec in properties().items()}


def flag(key):
    return "--" + key.replace("_", "-")


def text(value):
    """A value as the command line spells it (YAML's true/false for booleans, null for None)."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def types(spec):
    """The schema's type names of a setting: ["number"], or ["number", "null"] where null is allowed."""
    return spec["type"] if isinstance(spec["type"], list) else [spec["type"]]


def typed(spec, given):
    """The command line's text `given` as the schema types it (`null` is None where the schema allows null);
    raises ValueError."""
    if given == "null" and "null" in types(spec):
        return None
    (kind,) = [kind for kind in types(spec) if kind != "null"]
    return TYPES[kind](given)


def add_arguments(parser, *, keys):
    """An option for each of `keys`, typed, documented and defaulted by the schema."""
    specs = properties()
    for key in keys:
        spec = specs[key]
        kwargs = {"default": text(spec["default"]), "help": " ".join(spec.get("description", "").split())}
        if "enum" in spec:
            kwargs["choices"] = [text(value) for value in spec["enum"]]
        parser.add_argument(flag(key), dest=key, **kwargs)


def from_args(parser, args, *, keys):
    """{key: value} of the options that add_arguments added, read as the schema types them and checked by it."""
    specs, settings = properties(), {}
    for key in keys:
        spec, given = specs[key], getattr(args, key)
        if "enum" in spec:
            value = {text(choice): choice for choice in spec["enum"]}[given]
        else:
            try:
                value = typed(spec, given)
            except ValueError:
                parser.error(f"{flag(key)}: {given!r} is not {' or '.join(NAMES.get(kind, kind) for kind in types(spec))}")
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(spec).iter_errors(value))
        if error:
            parser.error(f"{flag(key)}: {error.message}")
        settings[key] = value
    return settings


def to_argv(settings):
    """The options that give the training command line `settings`, every setting of names()."""
    argv = []
    for _, _, name in names():
        argv += [flag(name), text(settings[name])]
    return argv
