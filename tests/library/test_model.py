"""The model, its loss and schedule, and the tf.data input pipeline (TensorFlow backend, in-process)."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

from bert_pretraining.modeling import bert_config  # noqa: E402
from bert_pretraining.training import input_pipeline  # noqa: E402
from bert_pretraining.modeling import model as bert  # noqa: E402
from bert_pretraining.logs import PipelineError  # noqa: E402
from schema_defaults import optimizer_defaults  # noqa: E402
from synthetic_data import make_examples, tiny_bert_config, write_dataset, write_records  # noqa: E402

SEQ, PREDS = 32, 5
OPTIMIZER = optimizer_defaults()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    files, config_path = write_dataset(str(folder), shards=2, per_shard=96, max_seq_length=SEQ, max_predictions=PREDS)
    return files, config_path


def batch_of(files, size=8):
    return next(input_pipeline.make_dataset(files, size, SEQ, PREDS, training=False).as_numpy_iterator())


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_pretrainer_shapes_and_tied_output_embedding(data):
    files, config_path = data
    config = bert.read_bert_config(config_path)
    keras.utils.set_random_seed(1)
    model = bert.build_pretrainer(config)
    x, _, _ = batch_of(files)
    out = model.predict_on_batch(x)
    assert out["mlm"].shape == (8, PREDS, config["vocab_size"]) and out["nsp"].shape == (8, 2)
    assert out["mlm"].dtype == np.float32
    # The masked-LM head has no output matrix of its own: it projects with the token embeddings.
    embedding = model.backbone.token_embedding.embeddings
    vocab_matrices = [
        w for w in model.get_layer("mlm_head").weights if len(w.shape) == 2 and config["vocab_size"] in w.shape
    ]
    assert vocab_matrices == [embedding]
    embedding.assign(embedding.numpy() * 2.0)
    assert not np.allclose(model.predict_on_batch(x)["mlm"], out["mlm"])


def test_masked_lm_logits_read_the_masked_positions(data):
    files, config_path = data
    model = bert.build_pretrainer(bert.read_bert_config(config_path))
    x, _, _ = batch_of(files, 2)
    moved = dict(x, masked_lm_positions=x["masked_lm_positions"][:, ::-1].copy())
    a, b = model.predict_on_batch(x)["mlm"], model.predict_on_batch(moved)["mlm"]
    np.testing.assert_allclose(a[:, ::-1], b, atol=1e-5)


def test_loss_is_berts_weighted_masked_lm_plus_next_sentence(data):
    files, config_path = data
    keras.utils.set_random_seed(2)
    model = bert.build_pretrainer(bert.read_bert_config(config_path))
    bert.compile_pretrainer(model, bert.make_optimizer(bert.WarmupLinearDecay(1e-3, 10, 100), **OPTIMIZER))
    x, y, w = batch_of(files, 16)
    assert 0 < w["mlm"].sum() < w["mlm"].size  # padding predictions exist and must not count
    out = model.predict_on_batch(x)
    nll = -np.take_along_axis(log_softmax(out["mlm"]), y["mlm"][..., None], -1)[..., 0]
    mlm = (w["mlm"] * nll).sum() / w["mlm"].sum()
    nsp = -np.take_along_axis(log_softmax(out["nsp"]), y["nsp"][:, None], -1).mean()
    got = model.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0, return_dict=True)
    assert got["mlm_loss"] == pytest.approx(mlm, rel=1e-4)
    assert got["nsp_loss"] == pytest.approx(nsp, rel=1e-4)
    assert got["loss"] == pytest.approx(mlm + nsp, rel=1e-4)


def test_warmup_then_linear_decay():
    schedule = bert.WarmupLinearDecay(1e-3, warmup_steps=10, total_steps=110)
    lr = lambda step: float(schedule(step))  # noqa: E731
    assert lr(0) == 0.0
    assert lr(5) == pytest.approx(5e-4)
    assert lr(10) == pytest.approx(1e-3 * (1 - 10 / 110))
    assert lr(60) == pytest.approx(1e-3 * (1 - 60 / 110))
    assert lr(110) == 0.0 and lr(500) == 0.0


def test_schedule_counts_optimizer_steps_under_gradient_accumulation():
    # Keras calls the schedule with micro-batches; all micro-batches of one step get that step's rate.
    schedule = bert.WarmupLinearDecay(1e-3, warmup_steps=10, total_steps=110, micro_steps=4)
    assert [float(schedule(i)) for i in (20, 21, 22, 23)] == [pytest.approx(5e-4)] * 4
    assert float(schedule(24)) == pytest.approx(float(schedule.at_step(6)))


def weights_after(config, examples, *, batch_size, micro_steps):
    """The weights after one pass over `examples` in optimizer steps of `batch_size` sequences, each made of
    `micro_steps` micro-batches, from the same initial weights; the rate decays over 10 steps."""
    import tensorflow as tf

    keras.utils.set_random_seed(5)
    model = bert.build_pretrainer(config)
    schedule = bert.WarmupLinearDecay(1e-3, 0, 10, micro_steps)
    bert.compile_pretrainer(model, bert.make_optimizer(schedule, **OPTIMIZER), steps_per_execution=micro_steps)
    model.fit(tf.data.Dataset.from_tensor_slices(examples).batch(batch_size // micro_steps), verbose=0, shuffle=False)
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


def test_gradient_accumulation_gives_the_update_of_one_large_batch(data):
    """Two optimizer steps of 4 micro-batches of 4 end where two steps of 16 do (dropout off; every micro-batch
    with as many masked positions, as each averages its masked-LM loss over its own), to float tolerance."""
    files, config_path = data
    config = dict(bert.read_bert_config(config_path), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    x, y, w = batch_of(files, 32)
    examples = (x, y, dict(w, mlm=np.ones_like(w["mlm"])))
    whole = weights_after(config, examples, batch_size=16, micro_steps=1)
    accumulated = weights_after(config, examples, batch_size=16, micro_steps=4)
    small = weights_after(config, examples, batch_size=4, micro_steps=1)  # eight steps: what the test tells apart
    gap = lambda p, q: max(np.abs(a - b).max() for a, b in zip(p, q, strict=True))  # noqa: E731
    # Measured: 6e-8 (float rounding); 3e-5 while the clipping took the norm of the segment embeddings'
    # IndexedSlices (model.AdamW); eight small steps 5e-3.
    assert gap(whole, accumulated) < 1e-6 < 1e-4 < gap(whole, small)


def test_weight_decay_spares_biases_and_layer_norms():
    optimizer = bert.make_optimizer(bert.WarmupLinearDecay(1e-3, 1, 10), **OPTIMIZER)
    kernel, bias, gamma = (
        keras.Variable(np.ones((2, 2)), name="kernel"),
        keras.Variable(np.ones(2), name="bias"),
        keras.Variable(np.ones(2), name="gamma"),
    )
    optimizer.build([kernel, bias, gamma])
    assert optimizer._use_weight_decay(kernel)
    assert not optimizer._use_weight_decay(bias) and not optimizer._use_weight_decay(gamma)


def test_bert_config_is_checked(tmp_path):
    config = tiny_bert_config()
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(dict(config, hidden_act="relu")))
    with pytest.raises(PipelineError, match="model.hidden_act must be one of"):
        bert.read_bert_config(path)
    path.write_text(json.dumps({k: v for k, v in config.items() if k != "vocab_size"}))
    with pytest.raises(PipelineError, match="lacks vocab_size"):
        bert.read_bert_config(path)
    # The trainer reads a model dir through bert_config.py's one reader, as the export does.
    assert bert.read_bert_config is bert_config.read_bert_config and bert.KEYS is bert_config.KEYS


def test_config_hash_follows_what_shapes_the_weights():
    config = tiny_bert_config()
    base = bert.config_hash(config, "a\nb\n")
    assert bert.config_hash(dict(config), "a\nb\n") == base
    assert bert.config_hash(dict(config, vocab_size=65), "a\nb\n") != base
    assert bert.config_hash(dict(config, hidden_size=64), "a\nb\n") != base
    assert bert.config_hash(config, "a\nc\n") != base
    assert bert.config_hash(dict(config, comment="ignored"), "a\nb\n") == base


def test_input_pipeline_parses_berts_features(tmp_path):
    examples = make_examples(10, 64, SEQ, PREDS, seed=3)
    path = str(tmp_path / "one.tfrecord")
    write_records(path, examples)
    batches = list(input_pipeline.make_dataset(path, 4, SEQ, PREDS, training=False).as_numpy_iterator())
    assert [len(b[1]["nsp"]) for b in batches] == [4, 4, 2]  # evaluation keeps the short last batch
    x, y, w = batches[0]
    assert {k: v.dtype.name for k, v in x.items()} == dict.fromkeys(
        ["token_ids", "segment_ids", "padding_mask", "masked_lm_positions"], "int32"
    )
    np.testing.assert_array_equal(x["token_ids"][1], examples[1]["input_ids"])
    np.testing.assert_array_equal(x["padding_mask"][2], examples[2]["input_mask"])
    np.testing.assert_array_equal(x["segment_ids"][3], examples[3]["segment_ids"])
    np.testing.assert_array_equal(x["masked_lm_positions"][0], examples[0]["masked_lm_positions"])
    np.testing.assert_array_equal(y["mlm"][0], examples[0]["masked_lm_ids"])
    np.testing.assert_array_equal(w["mlm"][0], examples[0]["masked_lm_weights"])
    assert list(y["nsp"]) == [e["next_sentence_labels"][0] for e in examples[:4]]


def test_training_stream_is_shuffled_endless_and_seeded(data):
    files, _ = data
    first_ids = lambda seed: [  # noqa: E731
        tuple(b[0]["token_ids"][:, 1])
        for b in input_pipeline.make_dataset(files, 16, SEQ, PREDS, seed=seed, shuffle_buffer=64)
        .take(30)
        .as_numpy_iterator()
    ]
    a = first_ids(1)
    assert len(a) == 30  # 30 batches of 16 > the 192 examples: the stream repeats
    assert a == first_ids(1)
    assert a != first_ids(2)
    in_order = [
        tuple(b[0]["token_ids"][:, 1])
        for b in input_pipeline.make_dataset(files, 16, SEQ, PREDS, training=False).as_numpy_iterator()
    ]
    assert a[:12] != in_order


def test_list_files_expands_folders_and_patterns(data):
    files, _ = data
    folder = os.path.dirname(files[0])
    assert input_pipeline.list_files(folder) == sorted(files)
    assert input_pipeline.list_files(os.path.join(folder, "shard_000[1]*")) == [files[1]]
    with pytest.raises(FileNotFoundError):
        input_pipeline.list_files(os.path.join(folder, "nothing_*.tfrecord"))


def test_evaluating_an_empty_held_out_shard_names_the_setting(tmp_path):
    from bert_pretraining.training import evaluate

    empty = tmp_path / "shard_0003.tfrecord"
    empty.write_bytes(b"")
    model = bert.build_pretrainer(tiny_bert_config())
    with pytest.raises(PipelineError, match=r"no examples in .*shard_0003.tfrecord.*: set train.eval_shard to"):
        evaluate.evaluate(
            model, files=[str(empty)], batch_size=4, max_seq_length=SEQ, max_predictions_per_seq=PREDS, max_steps=0
        )
