"""Small, learnable pre-training data in BERT's tf.train.Example format, and a tiny bert_config.json.

Each example draws its words from one of a few "topics" (disjoint word groups), so a masked word is predictable
from the other words of its example; a random next segment (next_sentence_labels 1) comes from another topic.
"""

import json
import os

import numpy as np
import tensorflow as tf

PAD, UNK, CLS, SEP, MASK = range(5)
FIRST_WORD = 5


def tiny_bert_config(vocab_size=64, hidden_size=32, layers=2, heads=2, max_positions=64):
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": 2 * hidden_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": max_positions,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
    }


def make_examples(n, vocab_size, max_seq_length, max_predictions, seed=0, topics=8):
    """`n` examples as dicts of BERT's feature names -> lists."""
    rng = np.random.default_rng(seed)
    per_topic = (vocab_size - FIRST_WORD) // topics
    half = (max_seq_length - 3) // 2
    words = lambda topic: FIRST_WORD + topic * per_topic + rng.integers(per_topic, size=half)  # noqa: E731
    examples = []
    for _ in range(n):
        topic = rng.integers(topics)
        is_random = rng.random() < 0.5
        a = words(topic)
        b = words((topic + rng.integers(1, topics)) % topics) if is_random else words(topic)
        tokens = np.concatenate([[CLS], a, [SEP], b, [SEP]])
        segments = np.concatenate([np.zeros(half + 2), np.ones(half + 1)])
        length = len(tokens)
        candidates = [i for i in range(length) if tokens[i] not in (CLS, SEP)]
        count_masked = min(max_predictions, max(1, round(0.15 * len(candidates))))
        positions = np.sort(rng.choice(candidates, count_masked, replace=False))
        ids = tokens[positions].copy()
        tokens = tokens.copy()
        tokens[positions] = MASK
        pad = max_seq_length - length
        pad_pred = max_predictions - count_masked
        examples.append(
            {
                "input_ids": list(tokens) + [PAD] * pad,
                "input_mask": [1] * length + [0] * pad,
                "segment_ids": list(segments.astype(int)) + [0] * pad,
                "masked_lm_positions": list(positions) + [0] * pad_pred,
                "masked_lm_ids": list(ids) + [0] * pad_pred,
                "masked_lm_weights": [1.0] * count_masked + [0.0] * pad_pred,
                "next_sentence_labels": [int(is_random)],
            }
        )
    return examples


def write_records(path, examples):
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            feature = {}
            for name, values in example.items():
                if name == "masked_lm_weights":
                    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
                else:
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def write_dataset(folder, shards=3, per_shard=512, max_seq_length=32, max_predictions=5, bert_config=None):
    """Shards `shard_0000.tfrecord`, ... plus `bert_config.json` and `vocab.txt`; returns (files, config path)."""
    os.makedirs(folder, exist_ok=True)
    bert_config = bert_config or tiny_bert_config()
    files = []
    for shard in range(shards):
        path = os.path.join(folder, f"shard_{shard:04d}.tfrecord")
        examples = make_examples(per_shard, bert_config["vocab_size"], max_seq_length, max_predictions, seed=shard)
        write_records(path, examples)
        files.append(path)
    config_path = os.path.join(folder, "bert_config.json")
    with open(config_path, "w") as f:
        json.dump(bert_config, f)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(bert_config["vocab_size"] - 5)]
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    return files, config_path
