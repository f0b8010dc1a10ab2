"""The record format's one home (scripts/bert_pretraining/examples/records.py): what the writer writes, every reader reads, whatever
pretraining_data.compression and feature_names were; and training runs on each."""

import gzip
import json
import math
import os
import random

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

from bert_pretraining.training import input_pipeline  # noqa: E402
from bert_pretraining.examples import records  # noqa: E402
from bert_pretraining.examples.pretraining_data import create_pretraining_data  # noqa: E402
from schema_defaults import section_defaults  # noqa: E402
from synthetic_data import make_examples, tiny_bert_config  # noqa: E402
from workflow import ROOT  # noqa: E402

SEQ, PREDS = 32, 5
WORDS = [f"w{i}" for i in range(120)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + [f"##p{i}" for i in range(10)]
FORMATS = [(c, n) for c in records.COMPRESSIONS for n in records.FEATURE_NAMES]


def write_corpus(path, lines, seed):
    """Documents of 2-12 sentences; a document keeps to one third of the words, so masked words are guessable."""
    rng = random.Random(seed)
    out = []
    while len(out) < lines:
        topic = rng.randrange(3)
        for _ in range(rng.randint(2, 12)):
            out.append(" ".join(rng.choice(WORDS[topic::3]) for _ in range(rng.randint(3, 12))))
        out.append("")
    path.write_text("\n".join(out[:lines]) + "\n")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Three text shards and a vocabulary."""
    folder = tmp_path_factory.mktemp("text")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    for i in range(3):
        write_corpus(folder / f"shard_{i:04d}", 600, seed=i)
    return folder


def build(shards, out, compression, feature_names):
    """Every shard's examples in one format; returns the record files."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(3):
        path = out / f"shard_{i:04d}.tfrecord"
        create_pretraining_data(
            shards / f"shard_{i:04d}",
            shards / "vocab.txt",
            path,
            out / f"shard_{i:04d}.stats.json",
            **(
                section_defaults("pretraining_data")
                | dict(max_seq_length=SEQ, max_predictions_per_seq=PREDS, compression=compression,
                       feature_names=feature_names, do_lower_case=True, strip_accents=None)
            ),
        )
        files.append(str(path))
    return files


@pytest.fixture(scope="module")
def built(shards, tmp_path_factory):
    """{(compression, feature_names): record files} for every format, from the same text and seed."""
    root = tmp_path_factory.mktemp("records")
    return {fmt: build(shards, root / "-".join(fmt), *fmt) for fmt in FORMATS}


def sniff_file(path):
    with open(path, "rb") as f:
        return records.sniff(f.read, str(path))


@pytest.mark.parametrize("compression,feature_names", FORMATS)
def test_sniff_reads_what_was_written(built, compression, feature_names):
    for path in built[compression, feature_names]:
        assert sniff_file(path) == records.Format(compression, feature_names, SEQ, PREDS)
    # The features the sniffer decodes are TensorFlow's reading of the same record.
    first = next(iter(tf.data.TFRecordDataset(path, compression_type=records.COMPRESSIONS[compression])))
    example = tf.train.Example.FromString(first.numpy())
    expected = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        expected[name] = ({"int64_list": "int", "float_list": "float"}[kind], len(getattr(feature, kind).value))
    assert records.example_features(first.numpy()) == expected
    assert expected == {name: (kind, size) for name, _, kind, size in records.features(
        feature_names=feature_names, max_seq_length=SEQ, max_predictions_per_seq=PREDS)}


def test_gzip_is_the_same_stream_compressed(built):
    for plain, packed in zip(built["none", "bert"], built["gzip", "bert"]):
        data = open(packed, "rb").read()
        assert data[:2] == records.GZIP_MAGIC and gzip.decompress(data) == open(plain, "rb").read()


def test_sniff_reads_tensorflows_own_writer(tmp_path):
    """Not only our writer: records TensorFlow wrote, gzip-compressed, with the tf2 names, in its field order."""
    names = records.names_by_role("tf2")
    bert = records.names_by_role("bert")
    path = str(tmp_path / "tf.tfrecord")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for example in make_examples(3, 64, SEQ, PREDS):
            feature = {}
            for role in names:
                values = example[bert[role]]
                feature[names[role]] = (
                    tf.train.Feature(float_list=tf.train.FloatList(value=values))
                    if role == "masked_lm_weights"
                    else tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
                )
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    assert sniff_file(path) == records.Format("gzip", "tf2", SEQ, PREDS)


def test_sniff_rejects_what_is_not_records(tmp_path, built):
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    assert sniff_file(empty) == records.Format("none", None, None, None)
    empty_gzip = tmp_path / "empty_gzip.tfrecord"
    empty_gzip.write_bytes(gzip.compress(b""))
    assert sniff_file(empty_gzip) == records.Format("gzip", None, None, None)
    cases = {
        "text.tfrecord": (b"the quick brown fox jumps over the lazy dog\n", "is not a TFRecord file"),
        "text_gzip.tfrecord": (gzip.compress(b"the quick brown fox jumps\n" * 10), "header is corrupt"),
        "cut.tfrecord": (open(built["none", "bert"][0], "rb").read()[:40], "truncated or corrupt"),
        "cut_gzip.tfrecord": (open(built["gzip", "bert"][0], "rb").read()[:30], "truncated or corrupt"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message):
            sniff_file(tmp_path / name)
    # Records of something else than pre-training examples.
    other = tmp_path / "other.tfrecord"
    with tf.io.TFRecordWriter(str(other)) as writer:
        feature = {"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    with pytest.raises(ValueError, match="records hold label, none of the token-id features input_ids, input_word_ids"):
        sniff_file(other)
    # A record whose framing is right but whose bytes are no Example.
    noise = tmp_path / "noise.tfrecord"
    noise.write_bytes(records.tfrecord_frames(np.frombuffer(b"\x0a\xff\xff\xff", np.uint8), np.array([4])))
    with pytest.raises(records.RecordError, match="the first record is not a tf.train.Example"):
        sniff_file(noise)


def batches(files, **kwargs):
    return list(input_pipeline.make_dataset(files, 64, SEQ, PREDS, training=False, **kwargs).as_numpy_iterator())


def test_every_format_reads_as_the_same_batches(built):
    expected = batches(built["none", "bert"])
    assert sum(len(x["token_ids"]) for x, _, _ in expected) > 500
    for fmt in FORMATS[1:]:
        got = batches(built[fmt])
        assert len(got) == len(expected), fmt
        for (x, y, w), (ex, ey, ew) in zip(got, expected):
            for part, want in ((x, ex), (y, ey), (w, ew)):
                assert part.keys() == want.keys()
                for key in part:
                    np.testing.assert_array_equal(part[key], want[key], err_msg=f"{fmt} {key}")


def test_files_of_other_compressions_read_together(built):
    # Compression is per file (say, shards rebuilt after compression was switched on): all are read.
    mixed = [built["gzip", "bert"][0], built["none", "bert"][1]]
    ids = np.concatenate([x["token_ids"] for x, _, _ in batches(mixed)])
    parts = [np.concatenate([x["token_ids"] for x, _, _ in batches([f])]) for f in built["none", "bert"][:2]]
    np.testing.assert_array_equal(ids, np.concatenate(parts))


def test_disagreeing_files_fail_before_reading(built, shards, tmp_path):
    a, b = built["none", "bert"][0], built["gzip", "tf2"][1]
    with pytest.raises(ValueError, match="were written with other settings: rebuild the examples") as error:
        input_pipeline.make_dataset([a, b], 8, SEQ, PREDS)
    assert f"{a} (feature_names bert," in str(error.value) and f"{b} (feature_names tf2," in str(error.value)
    with pytest.raises(ValueError, match=f"max_seq_length {SEQ} and max_predictions_per_seq {PREDS}, but 64 and 5"):
        input_pipeline.make_dataset([a], 8, 64, PREDS)


@pytest.mark.parametrize("compression,feature_names", [("gzip", "bert"), ("none", "tf2"), ("gzip", "tf2")])
def test_training_reads_every_format(built, shards, tmp_path, compression, feature_names):
    """A few steps of the real training entry point on each format, then its held-out evaluation."""
    from bert_pretraining.training import train
    from bert_pretraining.training import train_settings

    files = built[compression, feature_names]
    config = tmp_path / "bert_config.json"
    config.write_text(json.dumps(tiny_bert_config(vocab_size=len(VOCAB), max_positions=SEQ)))
    summary = train.main(
        manifest_path=str(tmp_path / "manifest.json"),
        final_model_dir=str(tmp_path / "model"),
        eval_files=[files[2]],
        phase2_eval_files=[],
        bert_config_path=str(config),
        vocab_path=str(shards / "vocab.txt"),
        train_files=files[:2],
        phase2_train_files=[],
        model_dir=str(tmp_path / "ckpt"),
        **dict(
            train_settings.defaults(),  # the schema's, the only defaults; small and fast:
            eval_batch_size=64,
            eval_steps=0,
            device="cpu",
            batch_size=16,
            learning_rate=2e-3,
            warmup_steps=2,
            num_train_steps=6,
            save_checkpoints_steps=6,
            keep_checkpoints=1,
            log_every_steps=3,
            max_seq_length=SEQ,
            max_predictions_per_seq=PREDS,
            mixed_precision="float32",
            jit_compile=False,
            shuffle_buffer=64,
            seed=1,
        ),
    )
    assert summary["final_step"] == 6 and [e["step"] for e in summary["losses"]] == [3, 6]
    assert all(math.isfinite(e["loss"]) for e in summary["losses"])
    held_out = json.loads(open(files[2].replace(".tfrecord", ".stats.json")).read())
    assert summary["eval"]["examples"] == held_out["instances"] > 0
    assert json.loads((tmp_path / "manifest.json").read_text())["final_step"] == 6


def test_schema_offers_what_records_knows():
    """The schema's choices (what a user can ask for) are the record format's, no more, no less."""
    import yaml

    with open(os.path.join(ROOT, "schemas",
                           "config.schema.yaml")) as f:
        section = yaml.safe_load(f)["properties"]["pretraining_data"]["properties"]
    assert section["compression"]["enum"] == list(records.COMPRESSIONS)
    assert section["feature_names"]["enum"] == list(records.FEATURE_NAMES)
