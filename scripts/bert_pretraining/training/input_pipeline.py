"""Pre-training examples from .tfrecord shards, through tf.data, ready for the model in model.py.

Training: shuffle the files, read several at once (interleave), shuffle examples, batch, parse whole batches
(one parse_example call per batch is far cheaper than one per example), prefetch. Paths may be local or gs://.
Each file's compression and the feature names are read from the files themselves (records.py), so whatever
pretraining_data.compression and feature_names were, training reads what was written.
"""

from concurrent.futures import ThreadPoolExecutor

import tensorflow as tf

from bert_pretraining.examples import records
from bert_pretraining.modeling.model import INPUTS


def feature_spec(feature_names, max_seq_length, max_predictions_per_seq):
    """tf.io.parse_example's spec of the records (records.py's layout)."""
    layout = records.features(
        feature_names=feature_names, max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq
    )
    return {
        name: tf.io.FixedLenFeature([size], tf.int64 if kind == "int" else tf.float32) for name, _, kind, size in layout
    }


def to_model_io(features, feature_names):
    """Parsed records -> (inputs, labels, sample weights) keyed as model.py's inputs and outputs."""
    names = records.names_by_role(feature_names)
    i32 = lambda role: tf.cast(features[names[role]], tf.int32)  # noqa: E731
    inputs = {role: i32(role) for role in INPUTS}
    labels = {"mlm": i32("masked_lm_ids"), "nsp": i32("next_sentence_labels")[:, 0]}
    weights = {"mlm": features["masked_lm_weights"], "nsp": tf.ones_like(labels["nsp"], tf.float32)}
    return inputs, labels, weights


def file_format(path):
    """records.Format of one file (local or gs://), from its first record."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return records.sniff(f.read, path)


def record_formats(files, max_seq_length, max_predictions_per_seq):
    """(each file's compression_type, the naming scheme of all), as the files were written.

    One clear error if the files disagree with each other or with the lengths asked for, rather than a parse
    error in the middle of training."""
    with ThreadPoolExecutor(max_workers=16) as pool:  # gs:// files: one round trip each, overlapped
        formats = list(pool.map(file_format, files))
    written = {}
    for path, fmt in zip(files, formats):
        if fmt.feature_names:  # a file without records is read whatever the others hold
            written.setdefault((fmt.feature_names, fmt.max_seq_length, fmt.max_predictions_per_seq), path)
    if len(written) > 1:
        (one, a), (other, b) = list(written.items())[:2]
        raise records.RecordError(
            f"{a} ({_settings(one)}) and {b} ({_settings(other)}) were written with other settings: "
            "rebuild the examples with one pretraining_data config"
        )
    names = "bert"  # no records anywhere: nothing will be parsed
    if written:
        (((names, seq, pred), path),) = written.items()
        if (seq, pred) != (max_seq_length, max_predictions_per_seq):
            raise records.RecordError(
                f"{path} holds examples of max_seq_length {seq} and max_predictions_per_seq {pred}, but "
                f"{max_seq_length} and {max_predictions_per_seq} were asked for: ask for {seq} and {pred} "
                "(pretraining_data.max_seq_length, max_predictions_per_seq), or rebuild the examples"
            )
    return [records.COMPRESSIONS[fmt.compression] for fmt in formats], names


def _settings(key):
    return f"feature_names {key[0]}, max_seq_length {key[1]}, max_predictions_per_seq {key[2]}"


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
    num_shards=1,
    shard_index=0,
):
    """Batches of (inputs, labels, sample weights).

    Training: an endless, shuffled stream; equal `seed`s give equal streams. Evaluation: every example once,
    in file order, the last batch possibly short. `num_shards` > 1 (training over several processes): the
    `shard_index`-th of that many equal slices of each batch, parsed alone; the processes' slices, in order, are
    the one batch a single process would get (keras.distribution.DataParallel joins them so).
    """
    files = list_files(files)
    compressions, names = record_formats(files, max_seq_length, max_predictions_per_seq)
    spec = feature_spec(names, max_seq_length, max_predictions_per_seq)
    read = lambda path, compression: tf.data.TFRecordDataset(path, compression_type=compression)  # noqa: E731
    ds = tf.data.Dataset.from_tensor_slices((files, compressions))
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
        # Reading several files at once mixes documents from different shards within each batch.
        ds = ds.interleave(
            read,
            cycle_length=min(cycle_length, len(files)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    else:
        ds = ds.flat_map(read)
    # Whole training batches: every step, and every replica's slice of it, has the same shape.
    ds = ds.batch(batch_size, drop_remainder=training)
    if num_shards > 1:
        share = batch_size // num_shards
        ds = ds.map(lambda batch: batch[shard_index * share : (shard_index + 1) * share])
    ds = ds.map(lambda batch: to_model_io(tf.io.parse_example(batch, spec), names), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
