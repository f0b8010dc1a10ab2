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


@keras.saving.register_keras_serializable(package="bert_pipeline")
class AdamW(keras.optimizers.AdamW):
    """Keras's AdamW on dense gradients. TensorFlow hands an embedding lookup's gradient over as IndexedSlices,
    one slice per token, a row repeated as often as its id: their global norm is not the gradient's, so the
    clipping scaled every update by a wrong factor (1-2% on a tiny BERT, from the segment embeddings; found when
    gradient accumulation, which sums dense gradients, did not give the update of one large batch)."""

    def apply(self, grads, trainable_variables=None):
        if keras.backend.backend() == "tensorflow":  # JAX's gradients are dense arrays
            import tensorflow as tf

            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super().apply(grads, trainable_variables)


def make_optimizer(schedule, weight_decay=0.01):
    """AdamW as BERT used it: no decay on biases and layer norms, gradients clipped to global norm 1.

    With `schedule.micro_steps` > 1, Keras sums the gradients of that many micro-batches and applies their mean
    (clipped, with decay and the step's rate) once: one optimizer step, as one batch of them all would."""
    optimizer = AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        global_clipnorm=1.0,
        gradient_accumulation_steps=schedule.micro_steps if schedule.micro_steps > 1 else None,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def set_optimizer_step(optimizer, step):
    """Make `step` the optimizer's next step: its micro-batch count is step x micro_steps, which a checkpoint made
    with another gradient_accumulation_steps counted otherwise."""
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
