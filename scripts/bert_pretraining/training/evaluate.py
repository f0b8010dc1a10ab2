"""Held-out metrics of a pre-trained BERT: masked-LM accuracy and loss, next-sentence accuracy and loss.

The masked-LM accuracy is reported beside a baseline: always predicting the token that is most frequent among
the held-out masked tokens themselves (the best any constant guess can do), which a model must clearly beat.
"""

import json
import logging

import numpy as np

from bert_pretraining.training import input_pipeline
from bert_pretraining.atomic import atomic_path
from bert_pretraining.logs import PipelineError

log = logging.getLogger("evaluate")


class EvaluationError(PipelineError, ValueError):
    """The held-out shard cannot be evaluated; the message names the setting that picks it."""


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def evaluate(model, *, files, batch_size, max_seq_length, max_predictions_per_seq, max_steps):
    """Metrics over the examples in `files` (the first `max_steps` batches if > 0), as a dict of floats."""
    dataset = input_pipeline.make_dataset(files, batch_size, max_seq_length, max_predictions_per_seq, training=False)
    if max_steps:
        dataset = dataset.take(max_steps)
    mlm_hits = mlm_nll = mlm_count = nsp_hits = nsp_nll = examples = 0.0
    token_counts = np.zeros(0, np.float64)
    for inputs, labels, weights in dataset.as_numpy_iterator():
        out = model.predict_on_batch(inputs)
        mlm_logp = log_softmax(np.asarray(out["mlm"], np.float64))
        nsp_logp = log_softmax(np.asarray(out["nsp"], np.float64))
        ids, w = labels["mlm"], weights["mlm"]
        mlm_hits += (w * (mlm_logp.argmax(-1) == ids)).sum()
        mlm_nll -= (w * np.take_along_axis(mlm_logp, ids[..., None], -1)[..., 0]).sum()
        mlm_count += w.sum()
        token_counts = add_counts(token_counts, ids[w > 0])
        nsp = labels["nsp"]
        nsp_hits += (nsp_logp.argmax(-1) == nsp).sum()
        nsp_nll -= np.take_along_axis(nsp_logp, nsp[:, None], -1).sum()
        examples += len(nsp)
    if not examples:
        raise EvaluationError(f"no examples in {files}: set train.eval_shard to a shard that has some")
    return {
        "masked_lm_accuracy": float(mlm_hits / mlm_count),
        "masked_lm_loss": float(mlm_nll / mlm_count),
        "next_sentence_accuracy": float(nsp_hits / examples),
        "next_sentence_loss": float(nsp_nll / examples),
        "most_frequent_token_accuracy": float(token_counts.max() / mlm_count),
        "most_frequent_token_id": int(token_counts.argmax()),
        "examples": int(examples),
        "masked_tokens": int(mlm_count),
    }


def add_counts(counts, ids):
    new = np.bincount(ids, minlength=len(counts)).astype(np.float64)
    new[: len(counts)] += counts
    return new


def main(*, model_dir, eval_files, output, batch_size, max_seq_length, max_predictions_per_seq, max_steps):
    """Evaluate the model that train.py left in `model_dir` (pretrainer.weights.h5 + bert_config.json)."""
    from bert_pretraining.modeling import model as bert

    pretrainer = bert.build_pretrainer(bert.read_bert_config(f"{model_dir}/bert_config.json"))
    pretrainer.load_weights(f"{model_dir}/pretrainer.weights.h5")
    metrics = evaluate(
        pretrainer,
        files=eval_files,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
        max_steps=max_steps,
    )
    with atomic_path(output) as tmp, open(tmp, "w") as f:
        json.dump(metrics, f, indent=2)
    log.info("%s", metrics)
    print(
        f"held-out masked-LM accuracy {metrics['masked_lm_accuracy']:.4f} "
        f"(most frequent token: {metrics['most_frequent_token_accuracy']:.4f}), "
        f"next-sentence accuracy {metrics['next_sentence_accuracy']:.4f}"
    )
    return metrics
