"""The model dir of recipe step 8: bert_model/bert_config.json and a copy of vocab.txt beside it.

The JSON is written with sorted keys and a fixed layout, so it is byte-identical whenever its inputs are.
"""

import json
import shutil

from atomic import atomic_path
from logs import PipelineError, rule_log

# The activations the project's trainer computes (tanh-approximated GELU under either name).
HIDDEN_ACTS = ("gelu", "gelu_new")
INT_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "vocab_size",
)
PROB_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


class BertConfigError(PipelineError, ValueError):
    """A model setting the trainer cannot honour; the message names the key."""


def make_bert_config(model, vocab_size, *, max_seq_length=None, vocab_tokens=None):
    """The bert_config.json fields: the model settings plus vocab_size, validated.

    The workflow calls this before any job (rules/common.smk) with the config alone; the job again with the
    vocabulary's size, and model.read_bert_config on any bert_config.json it loads."""
    config = dict(model)
    config["vocab_size"] = vocab_size
    expected = set(INT_FIELDS) | set(PROB_FIELDS) | {"hidden_act", "initializer_range"}
    missing = sorted(expected - set(config))
    unknown = sorted(set(config) - expected)
    if missing or unknown:
        raise BertConfigError(f"model settings: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}")
    for field in INT_FIELDS:
        value = config[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BertConfigError(f"model.{field} must be a positive integer, got {value!r}")
    for field in PROB_FIELDS:
        value = config[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise BertConfigError(f"model.{field} must be in [0, 1), got {value!r}")
        config[field] = float(value)
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
    if max_seq_length is not None and max_seq_length > config["max_position_embeddings"]:
        raise BertConfigError(
            f"pretraining_data.max_seq_length ({max_seq_length}) exceeds "
            f"model.max_position_embeddings ({config['max_position_embeddings']}): set "
            f"pretraining_data.max_seq_length to at most {config['max_position_embeddings']}, or "
            f"model.max_position_embeddings to at least {max_seq_length}"
        )
    if vocab_tokens is not None and vocab_tokens != vocab_size:
        raise BertConfigError(f"vocab.txt has {vocab_tokens} tokens but tokenizer.vocab_size is {vocab_size}")
    return config


def write_model_dir(vocab_path, config_path, vocab_out_path, *, model, vocab_size, max_seq_length=None):
    """Write bert_config.json and copy vocab.txt, each under a temporary name renamed when complete."""
    with open(vocab_path, "rb") as f:
        data = f.read()
    vocab_tokens = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)  # one token a line
    config = make_bert_config(model, vocab_size, max_seq_length=max_seq_length, vocab_tokens=vocab_tokens)
    with atomic_path(config_path) as tmp, open(tmp, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with atomic_path(vocab_out_path) as tmp:
        shutil.copyfile(vocab_path, tmp)
    return config


if __name__ == "__main__" and "snakemake" in globals():
    with rule_log(snakemake.log[0]):  # noqa: F821
        write_model_dir(
            snakemake.input.vocab,  # noqa: F821
            snakemake.output.config,  # noqa: F821
            snakemake.output.vocab,  # noqa: F821
            model=dict(snakemake.params.model),  # noqa: F821
            vocab_size=snakemake.params.vocab_size,  # noqa: F821
            max_seq_length=snakemake.params.max_seq_length,  # noqa: F821
        )
