"""BERT for pre-training: keras-hub's BertBackbone plus the two pre-training heads, and BERT's loss and optimizer.

Backend-agnostic Keras 3: the same code runs on TensorFlow (CPU, GPUs) and on JAX (TPU cores).

    inputs                     backbone                        heads
    token_ids     ─┐                                ┌─ sequence_output ─ gather masked_lm_positions ─ dense+gelu
    segment_ids   ─┼─ embeddings ─ N × transformer ─┤                     ─ layer norm ─ token_embeddingᵀ + bias ─ "mlm"
    padding_mask  ─┘                                └─ pooled_output ([CLS], dense+tanh) ─ dense(2) ─ "nsp"
"""

import hashlib
import json

import keras
import keras_hub
from keras import ops
from keras_hub.layers import MaskedLMHead

from bert_pretraining.logs import PipelineError

# bert_config.json's keys and checks have one home; read_bert_config is also this module's, for the trainer,
# the evaluation and the export, which read a model dir through it.
from bert_pretraining.modeling.bert_config import KEYS, read_bert_config  # noqa: F401

LAYER_NORM_EPSILON = 1e-12  # BertBackbone's value; the heads and the exports use the same.
# The model's inputs by name: BertBackbone's three, then where the masked-LM head predicts. The input pipeline
# feeds them under these names from the record features of the same roles (records.LAYOUT).
BACKBONE_INPUTS = ("token_ids", "segment_ids", "padding_mask")
INPUTS = BACKBONE_INPUTS + ("masked_lm_positions",)


@keras.saving.register_keras_serializable(package="bert_pipeline")
def gelu_approximate(x):
    """The tanh GELU that BertBackbone's layers use (keras-hub's own function is not public API)."""
    return keras.activations.gelu(x, approximate=True)


def config_hash(bert_config, vocab_text=""):
    """A short fingerprint of everything that decides the shapes and meaning of the weights."""
    model = {key: bert_config[key] for key in KEYS}
    blob = json.dumps({"bert_config": model, "vocab": vocab_text}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_backbone(bert_config, dtype=None):
    """keras-hub's BertBackbone with the sizes of `bert_config`."""
    # BertBackbone has one dropout rate, used for hidden states and attention probabilities alike; BERT's
    # configs give both the same value. Its initializers are fixed at stddev 0.02, BERT's initializer_range.
    return keras_hub.models.BertBackbone(
        vocabulary_size=bert_config["vocab_size"],
        num_layers=bert_config["num_hidden_layers"],
        num_heads=bert_config["num_attention_heads"],
        hidden_dim=bert_config["hidden_size"],
        intermediate_dim=bert_config["intermediate_size"],
        dropout=bert_config["hidden_dropout_prob"],
        max_sequence_length=bert_config["max_position_embeddings"],
        num_segments=bert_config["type_vocab_size"],
        dtype=dtype,
    )


def build_pretrainer(bert_config, dtype=None):
    """The backbone with BERT's masked-LM head (tied to the token embeddings) and next-sentence head."""
    backbone = build_backbone(bert_config, dtype)
    initializer = keras.initializers.TruncatedNormal(stddev=bert_config["initializer_range"])
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in INPUTS}
    encoded = backbone({name: inputs[name] for name in BACKBONE_INPUTS})
    mlm_logits = MaskedLMHead(
        token_embedding=backbone.token_embedding,
        intermediate_activation=gelu_approximate,
        layer_norm_epsilon=LAYER_NORM_EPSILON,
        kernel_initializer=initializer,
        dtype=dtype,
        name="mlm_head",
    )(encoded["sequence_output"], mask_positions=inputs["masked_lm_positions"])
    nsp_logits = keras.layers.Dense(2, kernel_initializer=initializer, dtype=dtype, name="nsp_head")(
        encoded["pooled_output"]
    )
    # Under mixed precision the logits leave in float32, so that the softmax and loss run in float32.
    outputs = {
        "mlm": keras.layers.Activation("linear", dtype="float32", name="mlm")(mlm_logits),
        "nsp": keras.layers.Activation("linear", dtype="float32", name="nsp")(nsp_logits),
    }
    model = keras.Model(inputs, outputs, name="bert_pretrainer")
    model.backbone = backbone
    return model


@keras.saving.register_keras_serializable(package="bert_pipeline")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """BERT's schedule: linear decay from `peak` to 0 at `total_steps`; linear ramp from 0 for `warmup_steps`.

    Keras calls it with the optimizer's count of micro-batches; with gradient accumulation each optimizer step
    is `micro_steps` of them, and every micro-batch of one step sees that step's rate."""

    def __init__(self, peak, warmup_steps, total_steps, micro_steps=1):
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.micro_steps = micro_steps

    def __call__(self, iteration):
        return self.at_step(ops.floor_divide(iteration, self.micro_steps))

    def at_step(self, step):
        """The rate of optimizer step `step` (0 = the first)."""
        step = ops.cast(step, "float32")
        decayed = self.peak * ops.maximum(0.0, 1.0 - step / max(self.total_steps, 1))
        warm = self.peak * step / max(self.warmup_steps, 1)
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "micro_steps": self.micro_steps,
        }


class DenseGradients:
    """Optimizers on dense gradients. TensorFlow hands an embedding lookup's gradient over as IndexedSlices, one
    slice per token, a row repeated as often as its id: their global norm is not the gradient's, so the clipping
    scaled every update by a wrong factor (1-2% on a tiny BERT, from the segment embeddings; found when gradient
    accumulation, which sums dense gradients, did not give the update of one large batch)."""

    def apply(self, grads, trainable_variables=None):
        if keras.backend.backend() == "tensorflow":  # JAX's gradients are dense arrays
            import tensorflow as tf

            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super().apply(grads, trainable_variables)


@keras.saving.register_keras_serializable(package="bert_pipeline")
class AdamW(DenseGradients, keras.optimizers.AdamW):
    """Keras's AdamW on dense gradients (DenseGradients)."""


@keras.saving.register_keras_serializable(package="bert_pipeline")
class Lamb(DenseGradients, keras.optimizers.Lamb):
    """LAMB as You et al. define it (arXiv:1904.00962, Algorithm 2; optax.lamb): the weight decay joins Adam's
    update before the layer's trust ratio ||w|| / ||update|| scales it. Keras's Lamb decays the weights apart
    from the update, before it, as AdamW does (the base optimizer's _apply_weight_decay), so its trust ratio never
    sees the decay: this class moves the decay into the update and keeps Keras's exclusions
    (exclude_from_weight_decay). The trust ratio applies to every variable (1 where a norm is 0), as in the paper
    and optax; bias correction and epsilon (outside the square root) are Keras's, which are the paper's."""

    def _apply_weight_decay(self, variables):
        """Nothing here: update_step decays the weights inside the update."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, gradient = ops.cast(learning_rate, dtype), ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        m_hat = ops.divide(m, 1.0 - ops.power(ops.cast(self.beta_1, dtype), step))
        v_hat = ops.divide(v, 1.0 - ops.power(ops.cast(self.beta_2, dtype), step))
        update = ops.divide(m_hat, ops.add(ops.sqrt(v_hat), self.epsilon))
        if self.weight_decay and self._use_weight_decay(variable):
            update = ops.add(update, ops.multiply(ops.cast(self.weight_decay, dtype), variable))
        w_norm, u_norm = ops.sqrt(ops.sum(ops.square(variable))), ops.sqrt(ops.sum(ops.square(update)))
        ratio = ops.where(ops.logical_and(w_norm > 0, u_norm > 0), w_norm / ops.maximum(u_norm, 1e-30), 1.0)
        self.assign_sub(variable, ratio * lr * update)


@keras.saving.register_keras_serializable(package="bert_pipeline")
class LossScale(DenseGradients, keras.optimizers.LossScaleOptimizer):
    """Keras's dynamic loss scaling for float16 (the inner optimizer gets unscaled gradients, so it clips those),
    with a skipped step that still counts. Keras skips a step with inf/NaN gradients without telling the inner
    optimizer, whose count of micro-batches then falls behind the batches trained: the schedule, the step a
    checkpoint records and, under gradient accumulation, the steps' boundaries would drift (an optimizer step
    straddling two, accumulators half full at a checkpoint). Here a skipped micro-batch counts: alone in its step,
    the weights and moments stay; among several, it adds nothing, and the step applies the others' sum / N as
    usual. The loss scale halves either way."""

    def _stateful_handle_non_finite_grads(self):
        """A step with inf/NaN gradients (TensorFlow): halve the scale (Keras), and count the micro-batch."""
        super()._stateful_handle_non_finite_grads()
        if self.inner_optimizer.gradient_accumulation_steps:
            self._add_nothing()
        else:
            self.inner_optimizer._iterations.assign_add(1)

    def _add_nothing(self):
        """A micro-batch of zero gradients: the step applies the other micro-batches' sum / N when it ends."""
        variables = self._trainable_variables
        self.inner_optimizer.apply([ops.zeros_like(v) for v in variables], variables)

    def _stateless_handle_non_finite_grads(self, optimizer_variables, trainable_variables):
        """JAX's path: the same, on the variables' values."""
        trainable, values = super()._stateless_handle_non_finite_grads(optimizer_variables, trainable_variables)
        own, inner = values[: len(self._variables)], list(values[len(self._variables) :])
        if self.inner_optimizer.gradient_accumulation_steps:
            zeros = [ops.zeros_like(v) for v in trainable_variables]
            trainable, inner = self.inner_optimizer.stateless_apply(inner, zeros, trainable_variables)
        else:
            index = [id(v) for v in self.inner_optimizer.variables].index(id(self.inner_optimizer._iterations))
            inner[index] = inner[index] + 1
        return trainable, list(own) + list(inner)


def make_optimizer(schedule, *, optimizer, weight_decay, gradient_clip_norm, loss_scale):
    """BERT's optimizer (train.optimizer: `adamw`, BERT's, or `lamb`, You et al.'s for large batches): no decay on
    biases and layer norms, gradients clipped to global norm `gradient_clip_norm` (None: not clipped). With
    `loss_scale` (float16), wrapped in dynamic loss scaling (LossScale), which unscales before the clipping.

    With `schedule.micro_steps` > 1, Keras sums the gradients of that many micro-batches and applies their mean
    (clipped, with decay and the step's rate) once: one optimizer step, as one batch of them all would."""
    kinds = {"adamw": AdamW, "lamb": Lamb}
    if optimizer not in kinds:
        raise PipelineError(f"train.optimizer: {optimizer!r} is none of {', '.join(kinds)}")
    built = kinds[optimizer](
        learning_rate=schedule,
        weight_decay=weight_decay,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        global_clipnorm=gradient_clip_norm,
        gradient_accumulation_steps=schedule.micro_steps if schedule.micro_steps > 1 else None,
    )
    built.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return LossScale(built, name="loss_scale_optimizer") if loss_scale else built


def inner_optimizer(optimizer):
    """The optimizer that updates the weights: `optimizer`, or the one its loss scaling wraps."""
    return optimizer.inner_optimizer if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else optimizer


def set_optimizer_step(optimizer, step):
    """Make `step` the optimizer's next step: its micro-batch count is step x micro_steps, which a checkpoint made
    with another gradient_accumulation_steps counted otherwise."""
    optimizer = inner_optimizer(optimizer)
    micro_steps = optimizer.gradient_accumulation_steps or 1
    # Keras counts micro-batches in its `iteration` variable (`iterations` is that count // micro_steps)
    (counter,) = [variable for variable in optimizer.variables if variable.name == "iteration"]
    counter.assign(step * micro_steps)


def compile_pretrainer(model, optimizer, jit_compile="auto", steps_per_execution=1):
    """BERT's loss: masked-LM cross-entropy averaged over the real predictions, plus next-sentence cross-entropy."""
    model.compile(
        optimizer=optimizer,
        loss={
            # Padding predictions carry masked_lm_weights 0; dividing by the sum of weights matches BERT.
            "mlm": keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
            "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
        weighted_metrics={"mlm": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]},
        metrics={"nsp": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]},
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model
