"""Pre-training examples from .tfrecord shards, through tf.data, ready for the model in model.py.

Training: shuffle the files, read several at once (interleave), shuffle examples, batch, parse whole batches
(one parse_example call per batch is far cheaper than one per example), prefetch. Paths may be local or gs://.
"""

import tensorflow as tf


def feature_spec(max_seq_length, max_predictions_per_seq):
    """The features google-research/bert's create_pretraining_data.py writes."""
    ints = lambda n: tf.io.FixedLenFeature([n], tf.int64)  # noqa: E731
    return {
        "input_ids": ints(max_seq_length),
        "input_mask": ints(max_seq_length),
        "segment_ids": ints(max_seq_length),
        "masked_lm_positions": ints(max_predictions_per_seq),
        "masked_lm_ids": ints(max_predictions_per_seq),
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
        "next_sentence_labels": ints(1),
    }


def to_model_io(features):
    """BERT's feature names -> (inputs, labels, sample weights) keyed as model.py's inputs and outputs."""
    i32 = lambda name: tf.cast(features[name], tf.int32)  # noqa: E731
    inputs = {
        "token_ids": i32("input_ids"),
        "segment_ids": i32("segment_ids"),
        "padding_mask": i32("input_mask"),
        "masked_lm_positions": i32("masked_lm_positions"),
    }
    labels = {"mlm": i32("masked_lm_ids"), "nsp": i32("next_sentence_labels")[:, 0]}
    weights = {"mlm": features["masked_lm_weights"], "nsp": tf.ones_like(labels["nsp"], tf.float32)}
    return inputs, labels, weights


def list_files(paths):
    """Expand folders and glob patterns (local or gs://) into a sorted list of .tfrecord files."""
    if isinstance(paths, str):
        paths = [paths]
    files = []
    for path in paths:
        if tf.io.gfile.isdir(path):
            files += tf.io.gfile.glob(path.rstrip("/") + "/*.tfrecord")
        elif any(c in path for c in "*?["):
            files += tf.io.gfile.glob(path)
        else:
            files.append(path)
    if not files:
        raise FileNotFoundError(f"no .tfrecord files in {paths}")
    return sorted(files)


def make_dataset(
    files,
    batch_size,
    max_seq_length,
    max_predictions_per_seq,
    training=True,
    seed=0,
    shuffle_buffer=10000,
    cycle_length=8,
):
    """Batches of (inputs, labels, sample weights).

    Training: an endless, shuffled stream; equal `seed`s give equal streams. Evaluation: every example once,
    in file order, the last batch possibly short.
    """
    files = list_files(files)
    spec = feature_spec(max_seq_length, max_predictions_per_seq)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
        # Reading several files at once mixes documents from different shards within each batch.
        ds = ds.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(cycle_length, len(files)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    else:
        ds = ds.flat_map(tf.data.TFRecordDataset)
    # Whole training batches: every step, and every replica's slice of it, has the same shape.
    ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(lambda records: to_model_io(tf.io.parse_example(records, spec)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
