import json
import os
import re

import pytest
import yaml

from bert_pretraining.modeling import bert_config
from bert_pretraining.modeling.bert_config import make_bert_config, read_bert_config, write_model_dir
from bert_pretraining.logs import PipelineError
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS

from schema_defaults import SCHEMA  # noqa: E402

BERT_BASE = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=2,
    initializer_range=0.02,
)


@pytest.fixture
def vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text(
        "\n".join(list(SPECIAL_TOKENS) + [f"w{i}" for i in range(27)]) + "\n"
    )
    return path


def test_writes_the_recipes_config_and_copies_the_vocab(tmp_path, vocab):
    out = tmp_path / "bert_model"
    write_model_dir(
        vocab, out / "bert_config.json", out / "vocab.txt", model=BERT_BASE, vocab_size=32, max_seq_length=128
    )
    config = json.loads((out / "bert_config.json").read_text())
    assert config == {**BERT_BASE, "vocab_size": 32}
    assert (out / "vocab.txt").read_bytes() == vocab.read_bytes()
    assert sorted(os.listdir(out)) == ["bert_config.json", "vocab.txt"]


def test_readable_by_the_trainer(tmp_path, vocab):
    model = pytest.importorskip("bert_pretraining.modeling.model")  # modeling/model.py: the training side reads the same file
    out = tmp_path / "bert_config.json"
    write_model_dir(vocab, out, tmp_path / "v.txt", model=BERT_BASE, vocab_size=32, max_seq_length=128)
    assert model.read_bert_config(out)["vocab_size"] == 32


def test_same_inputs_same_bytes(tmp_path, vocab):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_model_dir(vocab, a, tmp_path / "va.txt", model=BERT_BASE, vocab_size=32, max_seq_length=128)
    write_model_dir(
        vocab, b, tmp_path / "vb.txt", model=dict(reversed(list(BERT_BASE.items()))), vocab_size=32, max_seq_length=128
    )
    assert a.read_bytes() == b.read_bytes()
    write_model_dir(
        vocab, b, tmp_path / "vb.txt", model={**BERT_BASE, "hidden_size": 384}, vocab_size=32, max_seq_length=128
    )
    assert a.read_bytes() != b.read_bytes()


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(hidden_size=100), "multiple of model.num_attention_heads"),
        (dict(hidden_act="relu"), "hidden_act"),
        (dict(num_hidden_layers=0), "num_hidden_layers"),
        (dict(num_hidden_layers=True), "num_hidden_layers"),
        (dict(hidden_dropout_prob=1.0), "hidden_dropout_prob"),
        (dict(initializer_range=0), "initializer_range"),
        (dict(max_position_embeddings=64), "max_position_embeddings"),
        (dict(extra=1), "unknown \\['extra'\\]"),
    ],
)
def test_bad_settings_fail_clearly_and_write_nothing(tmp_path, vocab, change, message):
    out = tmp_path / "bert_model"
    with pytest.raises(PipelineError, match=message):
        write_model_dir(
            vocab,
            out / "bert_config.json",
            out / "vocab.txt",
            model={**BERT_BASE, **change},
            vocab_size=32,
            max_seq_length=128,
        )
    assert not out.exists() or os.listdir(out) == []


def test_missing_field_is_named():
    model = dict(BERT_BASE)
    del model["type_vocab_size"]
    with pytest.raises(PipelineError, match="missing \\['type_vocab_size'\\]"):
        make_bert_config(model, 32, max_seq_length=128)


def test_vocab_size_must_match_vocab_txt(tmp_path, vocab):
    with pytest.raises(PipelineError, match="32 tokens but tokenizer.vocab_size is 30522"):
        write_model_dir(
            vocab, tmp_path / "c.json", tmp_path / "v.txt", model=BERT_BASE, vocab_size=30522, max_seq_length=128
        )
    assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]


def test_the_schemas_model_section_is_bert_configs_keys():
    """What a user can set under `model` (and its defaults, which live only there) is bert_config.json's keys."""
    with open(SCHEMA) as f:
        model = yaml.safe_load(f)["properties"]["model"]
    assert tuple(model["properties"]) == bert_config.MODEL_KEYS == bert_config.KEYS[1:]
    assert model["additionalProperties"] is False
    assert all("default" in spec for spec in model["properties"].values())
    assert tuple(model["properties"]["hidden_act"]["enum"]) == bert_config.HIDDEN_ACTS
    defaults = {key: spec["default"] for key, spec in model["properties"].items()}
    assert make_bert_config(defaults, 30522, max_seq_length=512) == {**BERT_BASE, "vocab_size": 30522}


@pytest.mark.parametrize("key", bert_config.KEYS)
def test_a_file_missing_a_key_is_refused_in_one_line(tmp_path, key):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({k: v for k, v in {**BERT_BASE, "vocab_size": 32}.items() if k != key}))
    with pytest.raises(PipelineError, match=f"^{re.escape(str(path))} lacks {key}: rule bert_config writes a complete one"):
        read_bert_config(path)


def test_a_files_bad_value_names_the_file_and_the_setting(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**BERT_BASE, "vocab_size": 0, "comment": "ignored"}))
    with pytest.raises(PipelineError, match=f"^{re.escape(str(path))}: tokenizer.vocab_size must be a positive integer, got 0$"):
        read_bert_config(path)
    path.write_text(json.dumps({**BERT_BASE, "vocab_size": 32, "hidden_dropout_prob": 0, "comment": "kept"}))
    # Returned as written (integers stay integers): the checkpoint folder's hash is taken over these values.
    assert read_bert_config(path) == {**BERT_BASE, "vocab_size": 32, "hidden_dropout_prob": 0, "comment": "kept"}
