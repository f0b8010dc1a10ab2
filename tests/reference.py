"""The reference, for tests: google-research/bert's own `tokenization.py` and `create_pretraining_data.py`, as
published in the `bert-tensorflow` 1.0.4 package (modules `bert.tokenization`, `bert.create_pretraining_data`).

They run unchanged. The package already imports `tensorflow.compat.v1`, so no stand-in is needed; only its absl
flags (`preserve_unused_tokens`, read on every `FullTokenizer.tokenize`) must count as parsed, at their defaults,
since no `tf.app.run()` parses a command line here. What stays in this file is conversion, no algorithm:
the reference's `TrainingInstance`s become the arrays its `write_instance_to_example_files` would write.

Tests compare the project's fast implementation against this: the tokenizer token for token, the examples by their
statistics (the random streams differ, so records cannot match one for one).
"""

import random

import numpy as np
from absl import flags
from bert import create_pretraining_data as pretraining
from bert import tokenization

if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()

FullTokenizer = tokenization.FullTokenizer


def instances_to_arrays(instances, tokenizer, max_seq_length, max_predictions_per_seq):
    """The features `write_instance_to_example_files` would write, as arrays (N, width)."""
    n = len(instances)
    out = {
        "input_ids": np.zeros((n, max_seq_length), np.int64),
        "input_mask": np.zeros((n, max_seq_length), np.int64),
        "segment_ids": np.zeros((n, max_seq_length), np.int64),
        "masked_lm_positions": np.zeros((n, max_predictions_per_seq), np.int64),
        "masked_lm_ids": np.zeros((n, max_predictions_per_seq), np.int64),
        "masked_lm_weights": np.zeros((n, max_predictions_per_seq), np.float32),
        "next_sentence_labels": np.zeros((n, 1), np.int64),
    }
    for row, inst in enumerate(instances):
        ids = tokenizer.convert_tokens_to_ids(inst.tokens)
        out["input_ids"][row, : len(ids)] = ids
        out["input_mask"][row, : len(ids)] = 1
        out["segment_ids"][row, : len(ids)] = inst.segment_ids
        k = len(inst.masked_lm_positions)
        out["masked_lm_positions"][row, :k] = inst.masked_lm_positions
        out["masked_lm_ids"][row, :k] = tokenizer.convert_tokens_to_ids(inst.masked_lm_labels)
        out["masked_lm_weights"][row, :k] = 1.0
        out["next_sentence_labels"][row, 0] = int(inst.is_random_next)
    return out


def reference_arrays(
    input_path,
    vocab_path,
    *,
    seed,
    max_seq_length=128,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    short_seq_prob=0.1,
    dupe_factor=5,
    do_lower_case=True,
):
    """The reference's examples from one text file (read through tf.gfile, as its main() does), as arrays."""
    tokenizer = FullTokenizer(vocab_file=str(vocab_path), do_lower_case=do_lower_case)
    instances = pretraining.create_training_instances(
        [str(input_path)],
        tokenizer,
        max_seq_length,
        dupe_factor,
        short_seq_prob,
        masked_lm_prob,
        max_predictions_per_seq,
        random.Random(seed),
    )
    return instances_to_arrays(instances, tokenizer, max_seq_length, max_predictions_per_seq)
