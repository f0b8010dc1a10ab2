"""The optimizer choices (train.optimizer, weight_decay, gradient_clip_norm) and float16 training
(train.mixed_precision mixed_float16): LAMB against an independent implementation (optax), dynamic loss scaling's
skipped steps, and auto precision by GPU compute capability. TensorFlow backend, in-process; optax runs on JAX
arrays as a plain library."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

from bert_pretraining.logs import PipelineError  # noqa: E402
from bert_pretraining.modeling import model as bert  # noqa: E402
from bert_pretraining.training import devices  # noqa: E402
from bert_pretraining.training import train  # noqa: E402
from bert_pretraining.training import train_cli  # noqa: E402
from bert_pretraining.training import train_settings  # noqa: E402
from synthetic_data import write_dataset  # noqa: E402
from workflow import ROOT  # noqa: E402

SEQ, PREDS = 32, 5
# Shapes and names as in BERT: decayed matrices, and the biases and layer norms the decay spares.
SHAPES = {"kernel": (6, 4), "embeddings": (9, 6), "bias": (4,), "gamma": (6,), "beta": (6,)}
DECAYED = {"kernel": True, "embeddings": True, "bias": False, "gamma": False, "beta": False}


def random_gradients(steps, seed, scale):
    """Per step, a gradient per variable; `scale` > 1 makes the global norm exceed 1 on some steps (clipped)."""
    rng = np.random.default_rng(seed)
    return [{name: (rng.standard_normal(shape) * scale * rng.uniform(0.1, 2)).astype("float32")
             for name, shape in SHAPES.items()} for _ in range(steps)]  # fmt: skip


def initial_values(seed=0):
    rng = np.random.default_rng(seed)
    values = {name: rng.standard_normal(shape).astype("float32") * 0.5 for name, shape in SHAPES.items()}
    values["bias"][:2] = 0.0  # a zero norm somewhere inside a variable is not a zero norm; see the next line
    values["beta"][:] = 0.0  # a variable of norm 0: the trust ratio is 1 (LAMB's and optax's rule)
    return values


def project_lamb(values, gradients, *, micro_steps, schedule, weight_decay, clip):
    """The variables after the project's LAMB applied `gradients` one micro-batch at a time."""
    variables = {name: keras.Variable(value, name=name) for name, value in values.items()}
    optimizer = bert.make_optimizer(
        schedule, optimizer="lamb", weight_decay=weight_decay, gradient_clip_norm=clip, loss_scale=False
    )
    optimizer.build(list(variables.values()))
    for step in gradients:
        optimizer.apply([step[name] for name in variables], list(variables.values()))
    return {name: keras.ops.convert_to_numpy(v) for name, v in variables.items()}


def optax_lamb(values, gradients, *, micro_steps, schedule, weight_decay, clip):
    """The same with optax: clip_by_global_norm then optax.lamb, the decay masked as make_optimizer excludes it,
    over the mean gradient of every `micro_steps` micro-batches (Keras's gradient accumulation).

    Where the definitions could differ they agree, so the comparison is exact without configuring optax apart
    from its defaults' eps: both add epsilon outside the square root of the bias-corrected second moment
    (optax eps_root 0), both correct the bias from the first step, both add the decay to Adam's update before
    the trust ratio ||w|| / ||update|| (1 where either norm is 0), and both read the rate at the step count
    before it increments (the first update uses schedule(0)). Clipping: Keras scales by clip / max(norm, clip),
    optax by clip / norm where norm > clip: the same."""
    import jax.numpy as jnp
    import optax

    lamb = optax.lamb(
        learning_rate=lambda count: float(schedule.at_step(int(count))),
        b1=0.9,
        b2=0.999,
        eps=1e-6,
        weight_decay=weight_decay,
        mask=dict(DECAYED),
    )
    chain = optax.chain(optax.clip_by_global_norm(clip), lamb) if clip else lamb
    params = {name: jnp.asarray(value) for name, value in values.items()}
    state = chain.init(params)
    for start in range(0, len(gradients), micro_steps):
        group = gradients[start : start + micro_steps]
        mean = {name: jnp.asarray(np.mean([g[name] for g in group], axis=0)) for name in SHAPES}
        updates, state = chain.update(mean, state, params)
        params = optax.apply_updates(params, updates)
    return {name: np.asarray(value) for name, value in params.items()}


@pytest.mark.parametrize(
    "micro_steps, weight_decay, clip",
    [(1, 0.01, 1.0), (1, 0.3, None), (2, 0.1, 1.0)],
    ids=["recipe-decay-clipped", "strong-decay-unclipped", "accumulated"],
)
def test_lamb_agrees_with_optax(micro_steps, weight_decay, clip):
    """Six optimizer steps of the project's LAMB (decay spared on biases and layer norms, clipped to the global
    norm, warm-up and linear decay, micro-batches accumulated) end where optax's do, to float32 rounding."""
    schedule = bert.WarmupLinearDecay(0.05, 2, 8, micro_steps)
    gradients = random_gradients(6 * micro_steps, seed=micro_steps, scale=0.12)
    values = initial_values()
    args = dict(micro_steps=micro_steps, schedule=schedule, weight_decay=weight_decay, clip=clip)
    ours, theirs = project_lamb(values, gradients, **args), optax_lamb(values, gradients, **args)
    moved = max(np.abs(ours[name] - values[name]).max() for name in SHAPES)
    gap = max(np.abs(ours[name] - theirs[name]).max() for name in SHAPES)
    # Measured: 6e-8 (float32 rounding) against moves of 0.11; the gradients' norms straddle the clip norm.
    assert gap < 1e-6 and moved > 0.05, (gap, moved)


def test_keras_own_lamb_would_fail_that_comparison():
    """Keras's Lamb decays the weights before the update, outside the trust ratio: the comparison above tells
    it apart from LAMB by far more than its tolerance (which is why model.Lamb moves the decay)."""
    schedule = bert.WarmupLinearDecay(0.05, 2, 8)
    gradients, values = random_gradients(6, seed=1, scale=0.12), initial_values()
    variables = {name: keras.Variable(value, name=name) for name, value in values.items()}
    stock = keras.optimizers.Lamb(learning_rate=schedule, weight_decay=0.3, epsilon=1e-6)
    stock.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    for step in gradients:
        stock.apply([step[name] for name in variables], list(variables.values()))
    theirs = optax_lamb(values, gradients, micro_steps=1, schedule=schedule, weight_decay=0.3, clip=None)
    gap = max(np.abs(keras.ops.convert_to_numpy(variables[name]) - theirs[name]).max() for name in SHAPES)
    assert gap > 1e-4, gap


def test_unknown_optimizer_is_one_clear_error():
    with pytest.raises(PipelineError, match="train.optimizer: 'sgd' is none of adamw, lamb"):
        bert.make_optimizer(
            bert.WarmupLinearDecay(1e-3, 1, 10), optimizer="sgd", weight_decay=0.0, gradient_clip_norm=None,
            loss_scale=False,
        )  # fmt: skip


@pytest.mark.parametrize(
    "platform, capability, expected",
    [
        ("tpu", None, "mixed_bfloat16"),
        ("gpu", (9, 0), "mixed_bfloat16"),  # H100
        ("gpu", (8, 0), "mixed_bfloat16"),  # A100
        ("gpu", (7, 5), "mixed_float16"),  # T4
        ("gpu", (7, 0), "mixed_float16"),  # V100
        ("gpu", (6, 1), "float32"),  # P40: no tensor cores
        ("gpu", (0, 0), "float32"),  # unknown
        ("cpu", None, "float32"),
    ],
)
def test_auto_precision_follows_the_hardware(platform, capability, expected):
    assert devices.choose_precision(setting="auto", platform=platform, capability=capability) == expected
    # An explicit setting is taken as it is.
    assert devices.choose_precision(setting="float32", platform=platform, capability=capability) == "float32"


def test_command_line_takes_the_optimizer_settings_and_null_for_no_clipping():
    paths = ["--bert-config", "c", "--vocab", "v", "--train-files", "t", "--model-dir", "m", "--manifest", "j",
             "--final-model-dir", "f"]  # fmt: skip
    _, settings = train_cli.parse_args(paths)
    assert (settings["optimizer"], settings["weight_decay"], settings["gradient_clip_norm"]) == ("adamw", 0.01, 1.0)
    given = dict(settings, optimizer="lamb", weight_decay=0.0, gradient_clip_norm=None, mixed_precision="mixed_float16")
    assert "null" in train_settings.to_argv(given)
    assert train_cli.parse_args(paths + train_settings.to_argv(given))[1] == given


@pytest.mark.parametrize(
    "wrong, says",
    [
        ("--gradient-clip-norm=0", "--gradient-clip-norm: 0.0 is less than or equal to the minimum of 0"),
        ("--gradient-clip-norm=big", "--gradient-clip-norm: 'big' is not a number or null"),
        ("--weight-decay=-1", "--weight-decay: -1.0 is less than the minimum of 0"),
        ("--optimizer=sgd", "--optimizer: invalid choice: 'sgd'"),
    ],
)
def test_command_line_refuses_bad_optimizer_settings(wrong, says, capsys):
    paths = ["--bert-config", "c", "--vocab", "v", "--train-files", "t", "--model-dir", "m", "--manifest", "j",
             "--final-model-dir", "f"]  # fmt: skip
    with pytest.raises(SystemExit):
        train_cli.parse_args(paths + [wrong])
    assert says in capsys.readouterr().err


# ---- float16 and dynamic loss scaling ----------------------------------------------------------------------------


def loss_scaled(optimizer_name, micro_steps, clip=1.0):
    schedule = bert.WarmupLinearDecay(1e-2, 0, 100, micro_steps)
    return bert.make_optimizer(
        schedule, optimizer=optimizer_name, weight_decay=0.01, gradient_clip_norm=clip, loss_scale=True
    )


def moments(optimizer):
    return [v for v in optimizer.inner_optimizer.variables if v.name != "iteration"]


def two_variables():
    return [keras.Variable(np.full((3, 3), 0.5, "float32"), name="kernel"), keras.Variable(np.zeros(3, "float32"), name="bias")]  # fmt: skip


@pytest.mark.parametrize("optimizer_name", ["adamw", "lamb"])
def test_loss_scaling_clips_the_unscaled_gradients(optimizer_name):
    """The wrapped optimizer receives the gradients divided by the loss scale, and clips those: the weights end
    where the plain optimizer given the unscaled gradients leaves them."""
    rng = np.random.default_rng(3)
    steps = [[rng.standard_normal((3, 3)).astype("float32") * 2, rng.standard_normal(3).astype("float32")] for _ in range(4)]  # fmt: skip
    scaled_vars, plain_vars = two_variables(), two_variables()
    scaled = loss_scaled(optimizer_name, 1)
    scaled.build(scaled_vars)
    plain = bert.make_optimizer(
        bert.WarmupLinearDecay(1e-2, 0, 100), optimizer=optimizer_name, weight_decay=0.01, gradient_clip_norm=1.0,
        loss_scale=False,
    )  # fmt: skip
    plain.build(plain_vars)
    scale = float(scaled.dynamic_scale.numpy())
    for grads in steps:
        scaled.apply([g * scale for g in grads], scaled_vars)
        plain.apply(grads, plain_vars)
    for a, b in zip(scaled_vars, plain_vars, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_an_overflowing_step_changes_nothing_halves_the_scale_and_counts():
    variables = two_variables()
    optimizer = loss_scaled("adamw", 1)
    optimizer.build(variables)
    optimizer.apply([np.ones((3, 3), "float32"), np.ones(3, "float32")], variables)
    state = lambda: [v.numpy().copy() for v in variables + moments(optimizer)]  # noqa: E731
    before, scale = state(), float(optimizer.dynamic_scale.numpy())
    optimizer.apply([np.full((3, 3), np.inf, "float32"), np.ones(3, "float32")], variables)
    after = state()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))  # weights and moments alike
    assert float(optimizer.dynamic_scale.numpy()) == scale / 2
    assert int(optimizer.iterations.numpy()) == 2  # the step counts: the schedule and checkpoints stay in step


def test_under_accumulation_an_overflowing_micro_batch_adds_nothing_and_keeps_the_steps_boundaries():
    """Micro-batches 1 and 3 of two steps of 2 overflow: each step applies the other micro-batch's gradient
    halved (the sum over its 2 micro-batches / 2), at the steps' boundaries, as a plain optimizer would."""
    variables, plain_vars = two_variables(), two_variables()
    optimizer = loss_scaled("lamb", 2)
    optimizer.build(variables)
    plain = loss_scaled("lamb", 2)
    plain.build(plain_vars)
    rng = np.random.default_rng(4)
    good = [[rng.standard_normal((3, 3)).astype("float32"), rng.standard_normal(3).astype("float32")] for _ in range(2)]  # fmt: skip
    inf = [np.full((3, 3), np.inf, "float32"), np.zeros(3, "float32")]
    zeros = [np.zeros((3, 3), "float32"), np.zeros(3, "float32")]
    scale = float(optimizer.dynamic_scale.numpy())
    for step, grads in enumerate(good):
        optimizer.apply(inf, variables)
        scale /= 2
        optimizer.apply([g * scale for g in grads], variables)
        plain.apply(zeros, plain_vars)
        plain.apply([g * float(plain.dynamic_scale.numpy()) for g in grads], plain_vars)
        assert int(optimizer.iterations.numpy()) == step + 1
        assert all(not np.any(a.numpy()) for a in optimizer.inner_optimizer._accumulated_gradients)
    assert float(optimizer.dynamic_scale.numpy()) == scale
    for a, b in zip(variables, plain_vars, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def check_a_skip_on_a_dense_model(micro_steps, strategy=None):
    """A small float16 model under the project's loss scaling (on this process's backend): at a scale of 2^40 the
    first step overflows, changes no weight, halves the scale and counts; at 2^8 three more train."""
    import contextlib

    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        with strategy.scope() if strategy else contextlib.nullcontext():
            keras.utils.set_random_seed(0)
            inputs = keras.Input((4,))
            model = keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(keras.layers.Dense(3)(inputs)))
            optimizer = loss_scaled("lamb", micro_steps)
            model.compile(optimizer=optimizer, loss="mse", jit_compile=strategy is None)
            optimizer.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    optimizer.dynamic_scale.assign(2.0**40)
    weights = [v.numpy().copy() for v in model.trainable_variables]
    model.fit(x, y, batch_size=8, verbose=0)
    assert all(np.array_equal(w, v.numpy()) for w, v in zip(weights, model.trainable_variables, strict=True))
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**39
    assert int(optimizer.inner_optimizer._iterations.numpy()) == 1
    optimizer.dynamic_scale.assign(2.0**8)
    history = model.fit(np.ones((24, 4), "float32"), np.ones((24, 1), "float32"), batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"])) and float(optimizer.dynamic_scale.numpy()) == 2.0**8
    assert int(optimizer.inner_optimizer._iterations.numpy()) == 4
    assert not all(np.array_equal(w, v.numpy()) for w, v in zip(weights, model.trainable_variables, strict=True))


@pytest.mark.parametrize("micro_steps", [1, 2])
def test_tensorflow_skips_an_overflowing_step(micro_steps):
    check_a_skip_on_a_dense_model(micro_steps)


def test_tensorflow_skips_under_mirrored_strategy():
    """MirroredStrategy without XLA takes Keras's merge-call path, which calls the non-finite branch in the
    cross-replica context. (Gradient accumulation fails on that path in Keras itself, float32 included.)"""
    import tensorflow as tf

    check_a_skip_on_a_dense_model(1, tf.distribute.MirroredStrategy(["/cpu:0"]))


def test_jax_skips_an_overflowing_step_the_same_way():
    """JAX's stateless path (LossScale._stateless_handle_non_finite_grads), with and without accumulation."""
    here = os.path.dirname(__file__)
    path = os.pathsep.join([os.path.join(ROOT, "scripts"), os.path.join(ROOT, "tests", "fixtures"), here])
    code = "import test_optimizers as t; t.check_a_skip_on_a_dense_model(1); t.check_a_skip_on_a_dense_model(2)"
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=path)
    result = subprocess.run([sys.executable, "-c", code + "; print(t.keras.backend.backend())"], capture_output=True,
                            text=True, env=env)  # fmt: skip
    assert result.returncode == 0 and result.stdout.split() == ["jax"], result.stderr[-3000:]


@pytest.fixture
def float16_policy():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def test_float16_bert_skips_an_overflowing_step_and_trains_on(float16_policy, tmp_path):
    """A tiny BERT in float16 on the CPU: a loss scale too large for float16 (2^40) makes its gradients
    overflow; that step changes no weight and halves the scale; the next steps train, losses finite."""
    from bert_pretraining.training import input_pipeline

    files, config_path = write_dataset(str(tmp_path), shards=1, per_shard=64, max_seq_length=SEQ, max_predictions=PREDS)
    keras.utils.set_random_seed(3)
    model = bert.build_pretrainer(bert.read_bert_config(config_path))
    assert model.get_layer("mlm_head").compute_dtype == "float16"
    optimizer = loss_scaled("lamb", 1)
    bert.compile_pretrainer(model, optimizer, jit_compile=True)
    optimizer.build(model.trainable_variables)
    assert model.optimizer is optimizer  # compile keeps the project's loss scaling (no second wrapper)
    batches = input_pipeline.make_dataset(files, 8, SEQ, PREDS, training=False).take(6).cache()
    first = batches.take(1)
    optimizer.dynamic_scale.assign(2.0**40)
    weights = [v.numpy().copy() for v in model.trainable_variables]
    model.fit(first, verbose=0)
    assert all(np.array_equal(w, v.numpy()) for w, v in zip(weights, model.trainable_variables, strict=True))
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**39 and int(optimizer.iterations.numpy()) == 1
    optimizer.dynamic_scale.assign(2.0**10)
    history = model.fit(batches.repeat(2), verbose=0, epochs=1)
    assert np.all(np.isfinite(history.history["loss"]))
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**10  # no step overflowed at a sane scale
    assert not all(np.array_equal(w, v.numpy()) for w, v in zip(weights, model.trainable_variables, strict=True))


def test_train_runs_lamb_in_float16_and_resumes(tmp_path):
    """The train job with optimizer lamb and mixed_float16 on the CPU: the settings reach the optimizer, losses
    stay finite, the manifest says so; a resumed run restores the loss scale and the optimizer state."""
    files, config_path = write_dataset(str(tmp_path / "data"), shards=2, per_shard=128, max_seq_length=SEQ,
                                       max_predictions=PREDS)  # fmt: skip
    settings = dict(train_settings.defaults(), batch_size=16, learning_rate=5e-3, warmup_steps=5, log_every_steps=10,
                    max_seq_length=SEQ, max_predictions_per_seq=PREDS, shuffle_buffer=64, seed=3, jit_compile=False,
                    optimizer="lamb", weight_decay=0.01, mixed_precision="mixed_float16", save_checkpoints_steps=10,
                    eval_steps=1)  # fmt: skip
    run = dict(eval_files=[files[1]], phase2_eval_files=[], bert_config_path=config_path,
               vocab_path=str(tmp_path / "data" / "vocab.txt"), train_files=[files[0]], phase2_train_files=[],
               model_dir=str(tmp_path / "ckpt"))  # fmt: skip
    try:
        first = train.main(manifest_path=str(tmp_path / "m1.json"), final_model_dir=str(tmp_path / "model1"),
                           **run, **dict(settings, num_train_steps=20))  # fmt: skip
        second = train.main(manifest_path=str(tmp_path / "m2.json"), final_model_dir=str(tmp_path / "model2"),
                            **run, **dict(settings, num_train_steps=30))  # fmt: skip
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert first["precision"] == "mixed_float16" and (first["optimizer"], first["weight_decay"]) == ("lamb", 0.01)
    assert second["start_step"] == 20 and second["final_step"] == 30
    losses = [window["loss"] for window in second["losses"]]
    assert len(losses) == 3 and np.all(np.isfinite(losses)) and np.isfinite(second["eval"]["masked_lm_loss"])
    manifest = json.loads((tmp_path / "m2.json").read_text())
    assert manifest["gradient_clip_norm"] == 1.0


def test_a_checkpoint_resumes_under_the_other_optimizer_or_precision():
    """Checkpoints hold the weight-updating optimizer's variables (not the loss scaling's), and AdamW and LAMB
    name their moments alike: the four combinations save the same arrays, so each restores the others'."""
    from bert_pretraining.training import checkpoints
    from synthetic_data import tiny_bert_config

    layouts = set()
    for name in ("adamw", "lamb"):
        for loss_scale in (False, True):
            model = bert.build_pretrainer(tiny_bert_config())
            optimizer = bert.make_optimizer(bert.WarmupLinearDecay(1e-3, 1, 10), optimizer=name, weight_decay=0.01,
                                            gradient_clip_norm=1.0, loss_scale=loss_scale)  # fmt: skip
            bert.compile_pretrainer(model, optimizer)
            optimizer.build(model.trainable_variables)
            state = zip(checkpoints.state_names(model), checkpoints.state_variables(model), strict=True)
            layouts.add(tuple((key, tuple(v.shape)) for key, v in state))
    assert len(layouts) == 1
