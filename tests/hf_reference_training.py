"""The reference side of the training check: Hugging Face's BertForPreTraining trained by a plain PyTorch loop on
the very batches, initial weights and optimizer settings of the project's trainer (scripts/train.py).

    initial_pretrainer(bert_config, seed)   the Keras model train() starts from (same seed, same build)
    hf_model(pretrainer, bert_config)       that model as BertForPreTraining, through scripts/export.py's converter
    training_batches(files, ...)            train()'s tf.data stream, same call and seeds
    torch_batch(inputs, labels, weights)    one batch of it as BertForPreTraining's arguments
    make_optimizer(model, ...)              torch AdamW + LambdaLR as model.py's make_optimizer/WarmupLinearDecay
    train(model, batches, ...)              the loop; per-window means as train_callback.Windows reports them
    evaluate(model, files, ...)             evaluate.py's held-out metrics, computed in torch

How the two sides are made to agree, and what is left (numbers: tests/test_reference_training.py):
- Adam's epsilon: Keras adds it to sqrt(v) before v's bias correction, torch to sqrt(v_hat): Keras's epsilon is in
  effect 1e-6 / sqrt(1 - 0.999^t), 32x torch's at step 1. It matters (the gradients of the first steps are tiny):
  train() sets torch's eps per step to Keras's (keras_epsilon=True).
- Global-norm clipping: Keras scales by 1/max(norm, 1), torch by 1/(norm + 1e-6): left alone.
- Keras on TensorFlow computed the global norm with the segment embedding's gradient as tf.gather leaves it, one
  row per token, unsummed, until model.AdamW densified the IndexedSlices; train(keras_sparse_norm=True) reproduces
  that fault, to show that the comparison sees it.
- Dropout masks come from different generators: with dropout on, the two runs differ as two seeds do.
"""

import math

import numpy as np
import tensorflow as tf
import torch
import torch.nn.functional as F
import transformers

import input_pipeline
from export import huggingface_config, huggingface_state_dict

IGNORE = -100  # CrossEntropyLoss's ignore_index: the positions BertForPreTraining does not score


def initial_pretrainer(bert_config, seed):
    """The model train() builds before its first step: Keras's global seeds, then build_pretrainer."""
    import keras

    import model as bert

    keras.utils.set_random_seed(seed)
    return bert.build_pretrainer(bert_config)


def hf_model(pretrainer, bert_config, attn_implementation="eager"):
    """BertForPreTraining with `pretrainer`'s weights, converted by the project's own exporter."""
    config = transformers.BertConfig(**huggingface_config(bert_config), attn_implementation=attn_implementation)
    model = transformers.BertForPreTraining(config)
    state = {name: torch.from_numpy(array) for name, array in huggingface_state_dict(pretrainer).items()}
    # The decoder's weight and bias are tied to word_embeddings and cls.predictions.bias: not in the export.
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}, (
        missing,
        unexpected,
    )
    p = model.cls.predictions
    assert p.decoder.weight is model.bert.embeddings.word_embeddings.weight and p.decoder.bias is p.bias
    return model


def training_batches(files, *, batch_size, max_seq_length, max_predictions_per_seq, seed, shuffle_buffer):
    """train()'s stream of a fresh run (start_step 0). The shuffles' op seeds pair with TensorFlow's global seed,
    which train() sets through keras.utils.set_random_seed(seed) just before: so it is set here too."""
    tf.random.set_seed(seed)
    dataset = input_pipeline.make_dataset(
        files,
        batch_size,
        max_seq_length,
        max_predictions_per_seq,
        training=True,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
    )
    return dataset.as_numpy_iterator()


def torch_batch(inputs, labels, weights):
    """(inputs, labels, sample weights) of input_pipeline.to_model_io -> BertForPreTraining's keyword arguments.

    The masked-LM labels move from the gathered positions to the sequence: -100 everywhere but at the real
    predictions (weight > 0), so that the mean over labelled positions is Keras's sum(w * loss) / sum(w)."""
    ids = inputs["token_ids"]
    mlm_labels = np.full(ids.shape, IGNORE, np.int64)
    rows, slots = np.nonzero(weights["mlm"] > 0)
    mlm_labels[rows, inputs["masked_lm_positions"][rows, slots]] = labels["mlm"][rows, slots]
    as_long = lambda array: torch.from_numpy(np.asarray(array, np.int64))  # noqa: E731
    return {
        "input_ids": as_long(ids),
        "token_type_ids": as_long(inputs["segment_ids"]),
        "attention_mask": as_long(inputs["padding_mask"]),
        "labels": torch.from_numpy(mlm_labels),
        "next_sentence_label": as_long(labels["nsp"]),
    }


def losses(model, batch):
    """(total, masked-LM, next-sentence losses, masked-LM hits, masked predictions, next-sentence hits)."""
    out = model(**batch)
    mlm_logits, nsp_logits = out.prediction_logits, out.seq_relationship_logits
    mlm = F.cross_entropy(mlm_logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)
    nsp = F.cross_entropy(nsp_logits, batch["next_sentence_label"])
    labelled = batch["labels"] != IGNORE
    mlm_hits = (mlm_logits.argmax(-1) == batch["labels"])[labelled].sum()
    nsp_hits = (nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum()
    return out.loss, mlm, nsp, mlm_hits, labelled.sum(), nsp_hits


def schedule(peak, warmup_steps, total_steps):
    """WarmupLinearDecay(step) / peak, in float32 as Keras computes it; LambdaLR multiplies it by the peak.

    Keras evaluates the schedule at the optimizer's iteration count before it increments (the first update uses
    step 0, a learning rate of 0); LambdaLR's lr for the n-th optimizer.step() is also lambda(n - 1)."""

    def factor(step):
        s = np.float32(step)
        if step < warmup_steps:
            lr = np.float32(peak) * s / np.float32(max(warmup_steps, 1))
        else:
            lr = np.float32(peak) * max(np.float32(0), np.float32(1) - s / np.float32(max(total_steps, 1)))
        return float(lr) / peak

    return factor


def make_optimizer(model, *, learning_rate, warmup_steps, total_steps, weight_decay=0.01):
    """AdamW(0.9, 0.999, eps 1e-6), decay 0.01 except biases and LayerNorm weights (BERT's exclusions; the project
    excludes Keras's "bias", "gamma", "beta", which name the same variables, the masked-LM output bias included)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():  # tied parameters are listed once
        (no_decay if name.endswith("bias") or ".LayerNorm." in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=learning_rate,
        betas=(0.9, 0.999),
        eps=1e-6,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(learning_rate, warmup_steps, total_steps))
    return optimizer, scheduler


def train(
    model,
    batches,
    *,
    steps,
    log_every,
    learning_rate,
    warmup_steps,
    total_steps=None,
    seed=0,
    keras_epsilon=True,
    keras_sparse_norm=False,
):
    """Train `steps` steps on `batches` (numpy triples); returns the log windows as train_callback.Windows writes them
    ({step, loss, mlm_loss, nsp_loss, mlm_accuracy, nsp_accuracy}). `seed`: torch's generator, i.e. dropout's.

    keras_epsilon: add Adam's epsilon where Keras does, to sqrt(v) before v's bias correction. torch adds it after,
    so torch's eps at step t is set to 1e-6 / sqrt(1 - 0.999^t): (sqrt(v) + 1e-6) / sqrt(1 - 0.999^t), Keras's term.
    keras_sparse_norm: clip by the global norm Keras computes on TensorFlow, where the segment embedding's gradient
    is a tf.IndexedSlices of one row per token and its norm is taken over those rows before they are summed
    (sqrt(sum_t |g_t|^2), not |sum_t g_t|): the project's fault before model.AdamW, reproduced to show that the
    comparison sees it (tests/test_reference_training.py)."""
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # beside TensorFlow's idle thread pools, 2 threads run 5x slower than 1 on 2 cores
    try:
        return _train(
            model, batches, steps, log_every, learning_rate, warmup_steps, total_steps, keras_epsilon, keras_sparse_norm
        )
    finally:
        torch.set_num_threads(threads)


def _train(model, batches, steps, log_every, learning_rate, warmup_steps, total_steps, keras_epsilon, sparse_norm):
    optimizer, scheduler = make_optimizer(
        model, learning_rate=learning_rate, warmup_steps=warmup_steps, total_steps=total_steps or steps
    )
    model.train()
    segment_rows = {}

    def keep_rows(module, args, out):  # each token's segment-embedding gradient, as tf.gather's IndexedSlices holds it
        out.register_hook(lambda grad: segment_rows.update(grad=grad))

    hook = model.bert.embeddings.token_type_embeddings.register_forward_hook(keep_rows) if sparse_norm else None
    # Keras logs running means since the start of fit (losses: per step; masked-LM accuracy: per masked token);
    # Windows turns them into window means by differencing mean x steps. The same arithmetic, for equal numbers.
    sums = dict(loss=0.0, mlm_loss=0.0, nsp_loss=0.0, mlm_hits=0.0, mlm_count=0.0, nsp_hits=0.0, examples=0.0)
    windows, last_step, last = [], 0, {}
    for step in range(1, steps + 1):
        batch = torch_batch(*next(batches))
        total, mlm, nsp, mlm_hits, mlm_count, nsp_hits = losses(model, batch)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if sparse_norm:
            clip_as_keras_sparse(model, segment_rows["grad"])
        else:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if keras_epsilon:
            for group in optimizer.param_groups:
                group["eps"] = 1e-6 / math.sqrt(1 - 0.999**step)
        optimizer.step()
        scheduler.step()
        for key, value in zip(sums, (total, mlm, nsp, mlm_hits, mlm_count, nsp_hits, len(batch["input_ids"]))):
            sums[key] += float(value.detach()) if torch.is_tensor(value) else float(value)
        if step % log_every == 0 or step == steps:
            running = {
                "loss": sums["loss"] / step,
                "mlm_loss": sums["mlm_loss"] / step,
                "nsp_loss": sums["nsp_loss"] / step,
                "mlm_accuracy": sums["mlm_hits"] / sums["mlm_count"],
                "nsp_accuracy": sums["nsp_hits"] / sums["examples"],
            }
            scaled = {key: value * step for key, value in running.items()}
            windows.append(
                {"step": step, **{k: (v - last.get(k, 0.0)) / (step - last_step) for k, v in scaled.items()}}
            )
            last_step, last = step, scaled
    if hook:
        hook.remove()
    return windows


def clip_as_keras_sparse(model, segment_rows):
    """Scale the gradients by 1 / max(1, norm), the norm counting the segment embedding row by row per token."""
    segment = model.bert.embeddings.token_type_embeddings.weight
    squares = [p.grad.square().sum() for p in model.parameters() if p is not segment]
    norm = torch.sqrt(torch.stack(squares).sum() + segment_rows.square().sum())
    for p in model.parameters():
        p.grad.mul_(1.0 / torch.clamp(norm, min=1.0))


@torch.no_grad()
def evaluate(model, *, files, batch_size, max_seq_length, max_predictions_per_seq, max_steps):
    """evaluate.py's metrics (masked-LM and next-sentence accuracy and loss) of the torch model, on the same
    evaluation stream (every example once, in file order)."""
    model.eval()
    dataset = input_pipeline.make_dataset(files, batch_size, max_seq_length, max_predictions_per_seq, training=False)
    if max_steps:
        dataset = dataset.take(max_steps)
    mlm_hits = mlm_nll = mlm_count = nsp_hits = nsp_nll = examples = 0.0
    for triple in dataset.as_numpy_iterator():
        batch = torch_batch(*triple)
        out = model(**{k: v for k, v in batch.items() if k not in ("labels", "next_sentence_label")})
        labelled = batch["labels"] != IGNORE
        mlm_logp = torch.log_softmax(out.prediction_logits.double(), -1)[labelled]
        ids = batch["labels"][labelled]
        mlm_hits += float((mlm_logp.argmax(-1) == ids).sum())
        mlm_nll -= float(mlm_logp.gather(-1, ids[:, None]).sum())
        mlm_count += len(ids)
        nsp_logp = torch.log_softmax(out.seq_relationship_logits.double(), -1)
        nsp = batch["next_sentence_label"]
        nsp_hits += float((nsp_logp.argmax(-1) == nsp).sum())
        nsp_nll -= float(nsp_logp.gather(-1, nsp[:, None]).sum())
        examples += len(nsp)
    return {
        "masked_lm_accuracy": mlm_hits / mlm_count,
        "masked_lm_loss": mlm_nll / mlm_count,
        "next_sentence_accuracy": nsp_hits / examples,
        "next_sentence_loss": nsp_nll / examples,
        "examples": int(examples),
        "masked_tokens": int(mlm_count),
    }


def max_window_difference(keras_windows, torch_windows, keys=("mlm_loss", "nsp_loss")):
    """{key: the largest |keras - torch| over the windows}; the windows must end at the same steps."""
    assert [w["step"] for w in keras_windows] == [w["step"] for w in torch_windows]
    return {key: max(abs(k[key] - t[key]) for k, t in zip(keras_windows, torch_windows)) for key in keys}

