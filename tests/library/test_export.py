"""Exports: a keras-hub preset, a Hugging Face BertForPreTraining folder and google-research/bert's TensorFlow
checkpoint, each giving the Keras model's outputs (the last in google-research/bert's own modeling.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras_hub  # noqa: E402

from bert_pretraining.modeling import export  # noqa: E402
from bert_pretraining.training import input_pipeline  # noqa: E402
from bert_pretraining.modeling import model as bert  # noqa: E402
from bert_pretraining.modeling.bert_config import BertConfigError  # noqa: E402
from synthetic_data import perturbed_pretrainer, tiny_bert_config, write_dataset  # noqa: E402
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS  # noqa: E402

SEQ, PREDS = 32, 5
WORDS = ["the", "cat", "sat", "on", "mat", "##s", "dog", "run", "##ning", "a"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model with every weight perturbed (so that a transposed or swapped tensor shows), exported."""
    root = tmp_path_factory.mktemp("export")
    files, _ = write_dataset(str(root / "data"), shards=1, per_shard=16, max_seq_length=SEQ, max_predictions=PREDS)
    config = tiny_bert_config(hidden_size=32, heads=4)
    model_dir = root / "model"
    model_dir.mkdir()
    (model_dir / "bert_config.json").write_text(json.dumps(config))
    vocab = list(SPECIAL_TOKENS) + WORDS
    vocab += [f"[UNUSED_{i}]" for i in range(config["vocab_size"] - len(vocab))]
    (model_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    pretrainer = perturbed_pretrainer(config, seed=3, scale=0.2)
    pretrainer.save_weights(str(model_dir / "pretrainer.weights.h5"))
    export.main(
        model_dir=str(model_dir),
        keras_hub_dir=str(root / "keras_hub"),
        huggingface_dir=str(root / "hf"),
        google_bert_dir=str(root / "google_bert"),
        max_seq_length=SEQ,
        do_lower_case=True,
        strip_accents=True,
    )
    x, _, _ = next(input_pipeline.make_dataset(files, 16, SEQ, PREDS, training=False).as_numpy_iterator())
    assert (x["padding_mask"] == 0).any()  # padded positions are part of what must agree
    return root, pretrainer, x


def backbone_inputs(x):
    return {k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")}


def test_keras_hub_preset_loads_and_matches(exported):
    root, pretrainer, x = exported
    assert sorted(os.listdir(root / "keras_hub")) == [
        "assets",
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "tokenizer.json",
    ]
    backbone = keras_hub.models.BertBackbone.from_preset(str(root / "keras_hub"))
    ours = pretrainer.backbone.predict_on_batch(backbone_inputs(x))
    theirs = backbone.predict_on_batch(backbone_inputs(x))
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(theirs[name], ours[name], atol=1e-5)
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(root / "keras_hub"))
    assert np.asarray(tokenizer("The cats RUNNING")).tolist() == [5, 6, 10, 12, 13]


def test_huggingface_folder_loads_without_missing_keys_and_matches(exported):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    root, pretrainer, x = exported
    model, info = transformers.BertForPreTraining.from_pretrained(str(root / "hf"), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert_huggingface_model_matches(model, pretrainer, x)
    tokenizer = transformers.BertTokenizer.from_pretrained(str(root / "hf"))
    assert tokenizer("The cats RUNNING")["input_ids"] == [2, 5, 6, 10, 12, 13, 3]


def assert_huggingface_model_matches(model, pretrainer, x):
    """BertForPreTraining's masked-LM and next-sentence logits, and its hidden states at every real position,
    are the Keras model's to 1e-4."""
    import torch

    model.eval()
    tensor = lambda name: torch.tensor(x[name], dtype=torch.long)  # noqa: E731
    inputs = dict(input_ids=tensor("token_ids"), token_type_ids=tensor("segment_ids"),
                  attention_mask=tensor("padding_mask"))
    with torch.no_grad():
        out = model(**inputs)
        hf_hidden = model.bert(**inputs).last_hidden_state.numpy()
    ours = pretrainer.predict_on_batch(x)
    at_masks = np.take_along_axis(out.prediction_logits.numpy(), x["masked_lm_positions"][..., None].astype(int), 1)
    assert np.abs(at_masks - ours["mlm"]).max() <= 1e-4
    assert np.abs(out.seq_relationship_logits.numpy() - ours["nsp"]).max() <= 1e-4
    assert np.abs(ours["mlm"]).max() > 1  # the comparison is not between near-zero numbers
    # Every real position agrees too, through the tied decoder.
    hidden = pretrainer.backbone.predict_on_batch(backbone_inputs(x))["sequence_output"]
    real = x["padding_mask"].astype(bool)
    assert np.abs(hf_hidden[real] - hidden[real]).max() <= 1e-4


def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_google_bert_checkpoint_restores_in_its_own_modeling_py_and_matches(exported, tmp_path):
    """google-research/bert's modeling.py and run_pretraining.py's heads (tests/fixtures/google_bert_reference.py,
    in a subprocess: it builds a tf.compat.v1 graph) restore every variable of the export, as --init_checkpoint
    does, and compute the Keras model's outputs: sequence and pooled, masked-LM and next-sentence log-probs."""
    root, pretrainer, x = exported
    folder = root / "google_bert"
    assert sorted(os.listdir(folder)) == [
        "bert_config.json",
        "bert_model.ckpt.data-00000-of-00001",
        "bert_model.ckpt.index",
        "vocab.txt",
    ]
    config = json.loads((folder / "bert_config.json").read_text())
    trained = json.loads((root / "model" / "bert_config.json").read_text())
    assert config == {**trained, "max_position_embeddings": SEQ, "hidden_act": "gelu"}
    assert (folder / "vocab.txt").read_bytes() == (root / "model" / "vocab.txt").read_bytes()

    np.savez(tmp_path / "inputs.npz", **{name: x[name] for name in bert.INPUTS})
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "google_bert_reference.py")
    run = subprocess.run([sys.executable, script, str(folder), str(tmp_path / "inputs.npz"),
                          str(tmp_path / "outputs.npz")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    reference = dict(np.load(tmp_path / "outputs.npz"))
    assert reference["missing"].size == 0 and reference["unexpected"].size == 0, reference
    ours = pretrainer.backbone.predict_on_batch(backbone_inputs(x))
    assert np.abs(reference["sequence_output"] - ours["sequence_output"]).max() <= 1e-4  # padded positions too
    assert np.abs(reference["pooled_output"] - ours["pooled_output"]).max() <= 1e-4
    logits = pretrainer.predict_on_batch(x)
    assert np.abs(reference["mlm_log_probs"] - log_softmax(logits["mlm"])).max() <= 1e-4
    assert np.abs(reference["nsp_log_probs"] - log_softmax(logits["nsp"])).max() <= 1e-4
    assert np.abs(ours["sequence_output"]).max() > 1  # the comparison is not between near-zero numbers


def test_google_bert_checkpoint_loads_with_transformers_tf_converter(exported):
    """transformers' load_tf_weights_in_bert (tests/fixtures/huggingface_tf_loader.py) sets every parameter of a
    BertForPreTraining from the checkpoint, to the Hugging Face export's values, and the logits are the Keras
    model's. It skips a name silently and reports nothing unset: every parameter starts as NaN here."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from huggingface_tf_loader import load_tf_weights_in_bert

    root, pretrainer, x = exported
    # The Hugging Face export's config: bert_config.json's "gelu" means the exact GELU to transformers.
    config = transformers.BertConfig.from_pretrained(str(root / "hf"))
    model = transformers.BertForPreTraining(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    load_tf_weights_in_bert(model, config, str(root / "google_bert" / "bert_model.ckpt"))
    loaded = model.state_dict()
    expected = transformers.BertForPreTraining.from_pretrained(str(root / "hf")).state_dict()
    assert sorted(loaded) == sorted(expected)
    for name, value in loaded.items():
        assert torch.equal(value, expected[name]), name
    assert_huggingface_model_matches(model, pretrainer, x)


def test_both_tokenizers_have_the_pipelines_special_tokens(exported):
    """Each role's token and id in both exported tokenizers are SPECIAL_TOKENS', where vocab.txt has them."""
    root, _, _ = exported
    expected = {role: (token, SPECIAL_TOKENS.index(token)) for role, token in SPECIAL_TOKENS._asdict().items()}
    keras_tokenizer = keras_hub.models.BertTokenizer.from_preset(str(root / "keras_hub"))
    keras_names = dict(pad="pad_token", unk="oov_token", cls="cls_token", sep="sep_token", mask="mask_token")
    assert {
        role: (getattr(keras_tokenizer, name), int(keras_tokenizer.token_to_id(getattr(keras_tokenizer, name))))
        for role, name in keras_names.items()
    } == expected
    transformers = pytest.importorskip("transformers")
    hf = transformers.BertTokenizer.from_pretrained(str(root / "hf"))
    assert {role: (getattr(hf, f"{role}_token"), getattr(hf, f"{role}_token_id")) for role in expected} == expected
    assert json.loads((root / "hf" / "config.json").read_text())["pad_token_id"] == hf.pad_token_id


def test_a_bert_config_missing_a_key_is_refused_alike_by_training_and_export(tmp_path):
    """One reader (bert_config.read_bert_config) for the trainer and the export: the same one-line refusal."""
    config = tiny_bert_config()
    del config["hidden_act"]
    (tmp_path / "bert_config.json").write_text(json.dumps(config))
    messages = []
    for read in (lambda: bert.read_bert_config(str(tmp_path / "bert_config.json")),
                 lambda: export.load_trained(str(tmp_path))):
        with pytest.raises(BertConfigError) as refused:
            read()
        messages.append(str(refused.value))
    advice = "rule bert_config writes a complete one from the config's model section and tokenizer.vocab_size"
    assert messages[0] == messages[1] == f"{tmp_path / 'bert_config.json'} lacks hidden_act: {advice}"


@pytest.mark.parametrize("strip_accents", [False, True])
def test_accent_setting_round_trips_into_both_tokenizers(exported, tmp_path, strip_accents):
    """Japanese voiced kana keep their mark only when the pipeline keeps accents, in both exports."""
    root, pretrainer, _ = exported
    vocab = str(root / "model" / "vocab.txt")
    config = json.loads((root / "model" / "bert_config.json").read_text())
    export.export_keras_hub(pretrainer, vocab, str(tmp_path / "kh"), do_lower_case=True, strip_accents=strip_accents)
    export.export_huggingface(pretrainer, config, vocab, str(tmp_path / "hf"), max_seq_length=SEQ, do_lower_case=True,
                              strip_accents=strip_accents)
    expected = "が" if not strip_accents else "か"  # が is か + a combining voicing mark

    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(tmp_path / "kh"))
    assert tokenizer.strip_accents is strip_accents and tokenizer.lowercase is True
    hf_config = json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())
    assert hf_config["strip_accents"] is strip_accents and hf_config["do_lower_case"] is True
    transformers = pytest.importorskip("transformers")
    hf = transformers.BertTokenizer.from_pretrained(str(tmp_path / "hf"))
    assert hf.backend_tokenizer.normalizer.normalize_str("が") == expected


def test_long_words_in_both_tokenizers(exported, tmp_path):
    """Ours splits words up to google-research/bert's 200 characters; the exports stop at their libraries' limits.

    keras-hub's BertTokenizer maps a word over 100 UTF-8 bytes to [UNK] (a constant of keras-hub and tf-text),
    transformers' BertTokenizer one over 100 characters (it rebuilds its WordPiece with the tokenizers default
    whatever the saved files say). Neither can be set in an exported folder; the README says so. This fails when
    a library changes that, so the export and the README can follow.
    """
    from bert_pretraining.text.wordpiece_tokenizer import WordPieceTokenizer

    root, pretrainer, _ = exported
    words = ["x", "##x", "ж", "##ж"]
    vocab = (root / "model" / "vocab.txt").read_text().split("\n")[:-1]
    vocab[-len(words) :] = words  # in place of the last [UNUSED_i]: the model's vocabulary size stays
    vocab_path = tmp_path / "vocab.txt"
    vocab_path.write_text("\n".join(vocab) + "\n")
    config = json.loads((root / "model" / "bert_config.json").read_text())
    export.export_keras_hub(pretrainer, str(vocab_path), str(tmp_path / "kh"), do_lower_case=True, strip_accents=True)
    export.export_huggingface(pretrainer, config, str(vocab_path), str(tmp_path / "hf"), max_seq_length=SEQ,
                              do_lower_case=True, strip_accents=True)
    ours = WordPieceTokenizer(vocab_path)
    unk = vocab.index(SPECIAL_TOKENS.unk)
    pieces = lambda word: ours.encode(word)  # noqa: E731
    assert pieces("x" * 150) == [vocab.index("x")] + [vocab.index("##x")] * 149
    assert pieces("x" * 200)[-1] == vocab.index("##x") and pieces("x" * 201) == [unk]

    keras_tokenizer = keras_hub.models.BertTokenizer.from_preset(str(tmp_path / "kh"))
    keras_ids = lambda word: np.asarray(keras_tokenizer(word)).tolist()  # noqa: E731
    assert keras_ids("x" * 100) == pieces("x" * 100) and keras_ids("ж" * 50) == pieces("ж" * 50)
    assert keras_ids("x" * 101) == keras_ids("x" * 150) == [unk]
    assert keras_ids("ж" * 51) == [unk] != pieces("ж" * 51)  # 102 bytes: the limit counts bytes

    transformers = pytest.importorskip("transformers")
    hf = transformers.BertTokenizer.from_pretrained(str(tmp_path / "hf"))
    hf_ids = lambda word: hf(word, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert hf_ids("x" * 100) == pieces("x" * 100) and hf_ids("ж" * 100) == pieces("ж" * 100)
    assert hf_ids("x" * 101) == hf_ids("x" * 150) == [unk]
    # What the README tells a user to do after loading: then it splits as ours does.
    hf.backend_tokenizer.model.max_input_chars_per_word = 200
    for word in ("x" * 150, "ж" * 150, "x" * 200, "x" * 201):
        assert hf_ids(word) == pieces(word)


def test_exports_leave_out_positions_no_training_sequence_reached(exported):
    """bert_config declares more positions than the SEQ-token examples trained: both exports hold SEQ, the
    trained ones, unchanged."""
    root, pretrainer, _ = exported
    trained = pretrainer.backbone.get_layer("position_embedding").position_embeddings.numpy()
    assert trained.shape[0] > SEQ
    hf = json.loads((root / "hf" / "config.json").read_text())
    keras_hub_config = json.loads((root / "keras_hub" / "config.json").read_text())["config"]
    assert hf["max_position_embeddings"] == keras_hub_config["max_sequence_length"] == SEQ
    backbone = keras_hub.models.BertBackbone.from_preset(str(root / "keras_hub"))
    np.testing.assert_array_equal(backbone.get_layer("position_embedding").position_embeddings.numpy(), trained[:SEQ])
