"""bert_config.json: its keys and their checks, for every step that writes or reads one (model.py, export.py),
and the job of recipe step 8, the model dir (bert_model/bert_config.json and a copy of vocab.txt beside it).

The settings' defaults are the config schema's `model` section alone; this module only checks what it is given.
The JSON is written with sorted keys and a fixed layout, so it is byte-identical whenever its inputs are.
"""

import json
import shutil

from bert_pretraining.atomic import atomic_path
from bert_pretraining.logs import PipelineError

# bert_config.json's keys, in google-research/bert's order: vocab_size (tokenizer.vocab_size), then the config's
# `model` section, which the schema lists with the same names.
KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
)
MODEL_KEYS = KEYS[1:]
# The activations the project's trainer computes (tanh-approximated GELU under either name).
HIDDEN_ACTS = ("gelu", "gelu_new")
INT_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)
PROB_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


class BertConfigError(PipelineError, ValueError):
    """A model setting the trainer cannot honour; the message names the key."""


def setting(key):
    """The config.yaml setting a bert_config.json key comes from."""
    return "tokenizer.vocab_size" if key == "vocab_size" else f"model.{key}"


def check(config):
    """Raise a BertConfigError naming the setting, unless `config` (every key of KEYS) is a model the trainer can
    build; returns it with the probabilities and the initializer range as floats."""
    config = dict(config)
    for key in INT_KEYS:
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BertConfigError(f"{setting(key)} must be a positive integer, got {value!r}")
    for key in PROB_KEYS:
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise BertConfigError(f"model.{key} must be in [0, 1), got {value!r}")
        config[key] = float(value)
    if not isinstance(config["initializer_range"], (int, float)) or config["initializer_range"] <= 0:
        raise BertConfigError(f"model.initializer_range must be positive, got {config['initializer_range']!r}")
    config["initializer_range"] = float(config["initializer_range"])
    if config["hidden_act"] not in HIDDEN_ACTS:
        raise BertConfigError(f"model.hidden_act must be one of {HIDDEN_ACTS}, got {config['hidden_act']!r}")
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    if hidden % heads:
        multiples = " or ".join(str(m) for m in (hidden // heads * heads, hidden // heads * heads + heads) if m)
        divisor = max(d for d in range(1, heads) if hidden % d == 0)
        raise BertConfigError(
            f"model.hidden_size ({hidden}) must be a multiple of model.num_attention_heads ({heads}): "
            f"set model.hidden_size to {multiples}, or model.num_attention_heads to {divisor}"
        )
    return config


def make_bert_config(model, vocab_size, *, max_seq_length, length_key="pretraining_data.max_seq_length"):
    """The bert_config.json fields from the config's `model` section and tokenizer.vocab_size, checked, also
    against `max_seq_length` (the setting `length_key`: a phase's examples must fit the positions). The workflow
    calls this before any job for each phase (rules/common.smk), the job again (write_model_dir)."""
    missing = sorted(set(MODEL_KEYS) - set(model))
    unknown = sorted(set(model) - set(MODEL_KEYS))
    if missing or unknown:
        raise BertConfigError(f"model settings: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}")
    config = check({**model, "vocab_size": vocab_size})
    if max_seq_length > config["max_position_embeddings"]:
        raise BertConfigError(
            f"{length_key} ({max_seq_length}) exceeds "
            f"model.max_position_embeddings ({config['max_position_embeddings']}): set "
            f"{length_key} to at most {config['max_position_embeddings']}, or "
            f"model.max_position_embeddings to at least {max_seq_length}"
        )
    return config


def read_bert_config(path):
    """A google-research `bert_config.json` (its KEYS; others are ignored), refused with one line if it lacks a
    key or holds a value the trainer cannot honour. Training, evaluation and export all read it through this."""
    with open(path) as f:
        config = json.load(f)
    missing = [key for key in KEYS if key not in config]
    if missing:
        raise BertConfigError(
            f"{path} lacks {', '.join(missing)}: rule bert_config writes a complete one from the config's model "
            "section and tokenizer.vocab_size"
        )
    try:
        check({key: config[key] for key in KEYS})
    except BertConfigError as error:
        raise BertConfigError(f"{path}: {error}") from None
    return config  # as written: the checkpoint folder's hash is taken over these values


def write_model_dir(vocab_path, config_path, vocab_out_path, *, model, vocab_size, max_seq_length):
    """Write bert_config.json and copy vocab.txt, each under a temporary name renamed when complete."""
    config = make_bert_config(model, vocab_size, max_seq_length=max_seq_length)
    with open(vocab_path, "rb") as f:
        data = f.read()
    vocab_tokens = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)  # one token a line
    if vocab_tokens != vocab_size:
        raise BertConfigError(f"vocab.txt has {vocab_tokens} tokens but tokenizer.vocab_size is {vocab_size}")
    with atomic_path(config_path) as tmp, open(tmp, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with atomic_path(vocab_out_path) as tmp:
        shutil.copyfile(vocab_path, tmp)
    return config
