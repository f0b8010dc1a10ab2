import gzip
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bert_pretraining.examples import pretraining_data as pdata
from bert_pretraining.examples import records
import reference
from bert_pretraining.examples.pretraining_data import create_pretraining_data, shard_seed, truncated_lengths
from schema_defaults import section_defaults
from workflow import ROOT
from bert_pretraining.logs import PipelineError
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS, WordPieceTokenizer

# What the rule passes: the schema's pretraining_data settings, and the tokenizer's casing.
SETTINGS = section_defaults("pretraining_data") | {"do_lower_case": True, "strip_accents": None}


def build(input_path, vocab_path, output_path, stats_path=None, **overrides):
    return create_pretraining_data(input_path, vocab_path, output_path, stats_path, **(SETTINGS | overrides))

L, P = 128, 20
STARTS = [f"w{i}" for i in range(300)]
CONTINUATIONS = [f"##q{i}" for i in range(30)]
VOCAB = (
    list(SPECIAL_TOKENS)
    + STARTS
    + CONTINUATIONS
    + [f"[UNUSED_{i}]" for i in range(20)]
)


def bert_spec(max_seq_length=L, max_predictions=P, names=("input_ids", "input_mask", "segment_ids")):
    """The feature spec of BERT's training input function (run_pretraining.py input_fn_builder)."""
    return {
        names[0]: tf.io.FixedLenFeature([max_seq_length], tf.int64),
        names[1]: tf.io.FixedLenFeature([max_seq_length], tf.int64),
        names[2]: tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([max_predictions], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([max_predictions], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


def read_records(path, compression=None, **spec_args):
    """Every record, parsed with BERT's spec, as arrays (N, width)."""
    spec = bert_spec(**spec_args)
    rows = {k: [np.zeros((0, v.shape[0]), v.dtype.as_numpy_dtype)] for k, v in spec.items()}
    dataset = tf.data.TFRecordDataset(str(path), compression_type=compression).batch(1024)
    for batch in dataset.map(lambda x: tf.io.parse_example(x, spec)).as_numpy_iterator():
        for k, v in batch.items():
            rows[k].append(v)
    return {k: np.concatenate(v) for k, v in rows.items()}


def make_corpus(path, *, lines=2000, seed=0, unknown=0.02):
    """Documents of 1-40 sentences of 1-25 words; words of 1-3 word pieces; a few unknown words."""
    rng = random.Random(seed)
    out = []
    while len(out) < lines:
        for _ in range(rng.randint(1, 40)):
            words = []
            for _ in range(rng.randint(1, 25)):
                if rng.random() < unknown:
                    words.append("zz" + str(rng.randint(0, 9)))
                else:
                    words.append(
                        rng.choice(STARTS)
                        + "".join(rng.choice(CONTINUATIONS)[2:] for _ in range(rng.choice([0, 0, 1, 2])))
                    )
            out.append(" ".join(words))
        out.append("")
    path.write_text("\n".join(out[:lines]) + "\n")
    return out[:lines]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("shards") / "shard_0000"
    lines = make_corpus(path, lines=2000)
    return path, lines


@pytest.fixture(scope="module")
def built(corpus, vocab, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    records, stats_path = out / "shard_0000.tfrecord", out / "shard_0000.stats.json"
    stats = build(corpus[0], vocab, records, stats_path, random_seed=34)
    return records, stats_path, stats, read_records(records)


def stats_of(arrays, mask_id):
    """The issue's figures, computed from the features alone (the same code for ours and the reference)."""
    length = arrays["input_mask"].sum(1)
    w = arrays["masked_lm_weights"] > 0
    now = np.take_along_axis(arrays["input_ids"], arrays["masked_lm_positions"], 1)
    m = w.sum()
    return {
        "instances": len(length),
        "length": length,
        "full": (length == L).astype(float),
        "random_next": arrays["next_sentence_labels"][:, 0].astype(float),
        "masked": w.sum(1).astype(float),
        "mask_share": ((now == mask_id) & w).sum() / m,
        "unchanged_share": ((now == arrays["masked_lm_ids"]) & w).sum() / m,
        "n_masked": m,
    }


def test_records_parse_with_berts_spec_and_are_well_formed(built, vocab):
    records, _, stats, a = built
    n = stats["instances"]
    assert n > 500 and len(a["input_ids"]) == n
    # Every record is read by a plain TFRecordDataset (CRCs checked) and parsed one by one, as BERT's input_fn does.
    spec = bert_spec()
    for i, record in enumerate(tf.data.TFRecordDataset(str(records))):
        example = tf.io.parse_single_example(record, spec)
        np.testing.assert_array_equal(example["input_ids"].numpy(), a["input_ids"][i])
        np.testing.assert_array_equal(example["masked_lm_weights"].numpy(), a["masked_lm_weights"][i])
    assert i + 1 == n
    cls, sep, mask = (VOCAB.index(t) for t in (SPECIAL_TOKENS.cls, SPECIAL_TOKENS.sep, SPECIAL_TOKENS.mask))
    for row in range(n):
        ids, im, seg = a["input_ids"][row], a["input_mask"][row], a["segment_ids"][row]
        tot = int(im.sum())
        assert (
            (im[:tot] == 1).all()
            and (im[tot:] == 0).all()
            and (ids[tot:] == 0).all()
            and (seg[tot:] == 0).all()
        )
        assert ids[0] == cls and ids[tot - 1] == sep
        a_len = int((seg[:tot] == 0).sum()) - 2  # [CLS] A [SEP] have segment 0, B [SEP] segment 1
        assert a_len >= 1 and tot - a_len - 3 >= 1 and tot <= L
        assert (seg[: a_len + 2] == 0).all() and (seg[a_len + 2 : tot] == 1).all()
        assert ids[a_len + 1] == sep
        w = a["masked_lm_weights"][row]
        k = int((w > 0).sum())
        assert (w[:k] == 1.0).all() and (w[k:] == 0.0).all()
        # The reference's count: round(len(tokens) * masked_lm_prob), at least 1, at most max_predictions_per_seq.
        assert k == min(P, max(1, round(tot * 0.15)))
        pos = a["masked_lm_positions"][row]
        assert (
            (np.diff(pos[:k]) > 0).all() and (pos[k:] == 0).all() and (a["masked_lm_ids"][row][k:] == 0).all()
        )
        assert ((pos[:k] > 0) & (pos[:k] < tot - 1) & (pos[:k] != a_len + 1)).all()
        labels = a["masked_lm_ids"][row][:k]
        assert not np.isin(labels, [cls, sep, mask, 0]).any()
        assert a["next_sentence_labels"][row, 0] in (0, 1)


def test_segments_are_spans_of_the_corpus(built, corpus, vocab):
    """Put the masked labels back: A is a span of one document; B follows A in it, or (random next) any span."""
    _, _, _, a = built
    tok = WordPieceTokenizer(vocab)
    docs, current = [], []
    for line in corpus[1]:
        if line.strip():
            current.extend(tok.encode(line))
        elif current:
            docs.append(current)
            current = []
    if current:
        docs.append(current)
    texts = [" " + " ".join(map(str, d)) + " " for d in docs]
    sep = VOCAB.index(SPECIAL_TOKENS.sep)
    for row in range(0, len(a["input_ids"]), 7):
        ids = a["input_ids"][row].copy()
        k = int((a["masked_lm_weights"][row] > 0).sum())
        ids[a["masked_lm_positions"][row][:k]] = a["masked_lm_ids"][row][:k]
        tot = int(a["input_mask"][row].sum())
        a_len = int((a["segment_ids"][row][:tot] == 0).sum()) - 2
        assert ids[a_len + 1] == sep
        seg_a = " " + " ".join(map(str, ids[1 : a_len + 1])) + " "
        seg_b = " " + " ".join(map(str, ids[a_len + 2 : tot - 1])) + " "
        homes = [d for d, t in enumerate(texts) if seg_a in t]
        assert homes, f"segment A of instance {row} is not a span of any document"
        if a["next_sentence_labels"][row, 0] == 0:
            assert any(texts[d].find(seg_b, texts[d].find(seg_a) + len(seg_a) - 1) >= 0 for d in homes), row
        else:
            assert any(seg_b in t for t in texts), row


def test_stats_json_matches_the_records(built):
    _, stats_path, stats, a = built
    on_disk = json.loads(stats_path.read_text())
    assert on_disk == json.loads(json.dumps(stats))
    lengths = a["input_mask"].sum(1)
    assert on_disk["seq_length_histogram"] == np.bincount(lengths, minlength=L + 1).tolist()
    assert on_disk["random_next"] == int(a["next_sentence_labels"].sum())
    assert on_disk["masked_positions"] == int((a["masked_lm_weights"] > 0).sum())
    mask_id = VOCAB.index(SPECIAL_TOKENS.mask)
    now = np.take_along_axis(a["input_ids"], a["masked_lm_positions"], 1)
    seen = int(((now == mask_id) & (a["masked_lm_weights"] > 0)).sum())
    # A random replacement can itself be [MASK] (1 in len(VOCAB)); nothing else may look like one.
    assert (
        0
        <= seen - on_disk["masked_replaced_by_mask"]
        <= 3 * on_disk["masked_replaced_by_random"] / len(VOCAB) + 3
    )
    assert on_disk["lines"] == 2000 and on_disk["unknown_tokens"] > 0
    assert abs(on_disk["mean_seq_length"] - lengths.mean()) < 1e-9


def test_statistics_match_the_reference_algorithm(tmp_path, vocab):
    """Mean length, full-length share, random-next share, masked count and 80/10/10: ours vs google-research/bert's.

    Instances of one run are far from independent (one target length per document and pass shapes all of that
    document's instances), so the sampling error is measured: three runs each, with other seeds or shard names.
    """
    shard = tmp_path / "shard_0007"
    make_corpus(shard, lines=3000, seed=7)
    mask_id = VOCAB.index(SPECIAL_TOKENS.mask)
    ours, ref = [], []
    for run in range(3):
        build(shard, vocab, tmp_path / "ours.tfrecord", random_seed=34, shard_name=f"shard_{run}")
        ours.append(stats_of(read_records(tmp_path / "ours.tfrecord"), mask_id))
        ref.append(stats_of(reference.reference_arrays(shard, vocab, seed=run), mask_id))
    figures = {
        "instances": lambda s: s["instances"],
        "mean length": lambda s: s["length"].mean(),
        "full length": lambda s: s["full"].mean(),
        "random next": lambda s: s["random_next"].mean(),
        "masked per instance": lambda s: s["masked"].mean(),
        "[MASK] share": lambda s: s["mask_share"],
        "unchanged share": lambda s: s["unchanged_share"],
    }
    for name, figure in figures.items():
        x = np.array([figure(s) for s in ours])
        y = np.array([figure(s) for s in ref])
        pooled_sd = np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
        tolerance = 6 * pooled_sd * np.sqrt(2 / 3) + 1e-3 * abs(y.mean())
        assert abs(x.mean() - y.mean()) < tolerance, (name, x, y)
    for s in ours + ref:
        assert abs(s["mask_share"] - 0.8) < 0.02 and abs(s["unchanged_share"] - 0.1) < 0.015
        # More random-next pairs than half, because a single gathered sentence always takes a random next.
        assert 0.5 < s["random_next"].mean() < 0.65


def test_masking_split_over_many_instances(tmp_path, vocab):
    shard = tmp_path / "shard_0001"
    make_corpus(shard, lines=3000, seed=3)
    stats = build(shard, vocab, tmp_path / "o.tfrecord", random_seed=1, dupe_factor=10)
    m = stats["masked_positions"]
    assert m > 50_000
    assert abs(stats["masked_replaced_by_mask"] / m - 0.8) < 0.01
    assert abs(stats["masked_unchanged"] / m - 0.1) < 0.01
    assert abs(stats["masked_replaced_by_random"] / m - 0.1) < 0.01
    a = read_records(tmp_path / "o.tfrecord")
    now = np.take_along_axis(a["input_ids"], a["masked_lm_positions"], 1)[a["masked_lm_weights"] > 0]
    # Random replacements are drawn from the whole vocabulary, as in the reference.
    assert len(np.unique(now)) > 0.9 * len(VOCAB)


@pytest.mark.parametrize("a_len,b_len", [(a, b) for a in range(1, 40, 3) for b in range(1, 40, 4)])
def test_truncation_lengths_match_the_reference_loop(a_len, b_len):
    for max_num in (2, 5, 17, 30, 80):
        ta, tb = list(range(a_len)), list(range(b_len))
        reference.pretraining.truncate_seq_pair(ta, tb, max_num, random.Random(0))
        na, nb = truncated_lengths(np.array([a_len]), np.array([b_len]), max_num)
        assert (int(na[0]), int(nb[0])) == (len(ta), len(tb))


def test_truncation_drops_from_both_ends(tmp_path, vocab):
    """Long single-sentence lines: A is cut at a random end, so its first token is often not the line's first."""
    shard = tmp_path / "shard_0002"
    rng = random.Random(5)
    lines = []
    for _ in range(60):
        lines += [" ".join(f"w{rng.randint(0, 299)}" for _ in range(300)), ""]
    shard.write_text("\n".join(lines) + "\n")
    stats = build(shard, vocab, tmp_path / "o.tfrecord", random_seed=2)
    a = read_records(tmp_path / "o.tfrecord")
    assert stats["full_length_share"] == 1.0  # lines longer than max_seq_length are truncated to fit
    assert (a["next_sentence_labels"] == 1).all()  # one sentence per document: always a random next
    starts = {line.split()[0] for line in lines if line}
    firsts = a["input_ids"][:, 1].copy()
    k = a["masked_lm_weights"] > 0
    restored = a["input_ids"].copy()
    np.put_along_axis(
        restored,
        np.where(k, a["masked_lm_positions"], 0),
        np.where(k, a["masked_lm_ids"], restored[:, :1]),
        1,
    )
    first_words = {VOCAB[i] for i in restored[:, 1]}
    share_at_start = np.mean([VOCAB[i] in starts for i in restored[:, 1]])
    assert len(first_words) > 20 and share_at_start < 0.5, (len(firsts), share_at_start)


def test_byte_identical_and_seeds_per_shard(tmp_path, corpus, vocab, built):
    records = built[0]
    again = tmp_path / "again.tfrecord"
    build(corpus[0], vocab, again, random_seed=34)
    assert again.read_bytes() == records.read_bytes()
    # In another process (as under any --cores), still the same bytes.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bert_pretraining.examples.pretraining_data import create_pretraining_data; "
        f"create_pretraining_data(sys.argv[2], sys.argv[3], sys.argv[4], **{SETTINGS!r})"
    )
    scripts = os.path.join(ROOT, "scripts")
    third = tmp_path / "third.tfrecord"
    subprocess.run([sys.executable, "-c", code, scripts, str(corpus[0]), str(vocab), str(third)], check=True)
    assert third.read_bytes() == records.read_bytes()
    # The same text under another shard name, or another global seed, gives other examples.
    other = tmp_path / "other.tfrecord"
    build(corpus[0], vocab, other, random_seed=34, shard_name="shard_0001")
    assert other.read_bytes() != records.read_bytes()
    build(corpus[0], vocab, other, random_seed=35)
    assert other.read_bytes() != records.read_bytes()


def test_shard_seed_is_stable():
    # Pinned: a change here silently changes every shard's examples.
    assert shard_seed(34, "shard_0000") == 9144520649947594420
    assert len({shard_seed(34, f"shard_{i:04d}") for i in range(1000)}) == 1000
    assert shard_seed(34, "shard_0000") != shard_seed(35, "shard_0000")


def test_gzip_and_tf2_feature_names(tmp_path, corpus, vocab, built):
    out = tmp_path / "o.tfrecord"
    stats = build(corpus[0], vocab, out, random_seed=34, compression="gzip", feature_names="tf2")
    with gzip.open(out) as f:
        f.read(1)  # a gzip stream
    a = read_records(out, compression="GZIP", names=("input_word_ids", "input_mask", "input_type_ids"))
    assert len(a["input_word_ids"]) == stats["instances"] == built[2]["instances"]
    # Same examples as the uncompressed, BERT-named output.
    np.testing.assert_array_equal(a["input_word_ids"], built[3]["input_ids"])
    np.testing.assert_array_equal(a["input_type_ids"], built[3]["segment_ids"])
    build(
        corpus[0], vocab, tmp_path / "again.tfrecord", random_seed=34, compression="gzip", feature_names="tf2"
    )
    assert (tmp_path / "again.tfrecord").read_bytes() == out.read_bytes()


def test_whole_word_masking(tmp_path, corpus, vocab):
    out = tmp_path / "o.tfrecord"
    build(corpus[0], vocab, out, random_seed=34, do_whole_word_mask=True)
    a = read_records(out)
    sub = np.array([t.startswith("##") for t in VOCAB])
    restored = a["input_ids"].copy()
    w = a["masked_lm_weights"] > 0
    np.put_along_axis(
        restored,
        np.where(w, a["masked_lm_positions"], 0),
        np.where(w, a["masked_lm_ids"], restored[:, :1]),
        1,
    )
    pieces = 0
    for row in range(len(restored)):
        masked = set(a["masked_lm_positions"][row][w[row]].tolist())
        tot = int(a["input_mask"][row].sum())
        k = len(masked)
        assert 1 <= k <= min(P, max(1, round(tot * 0.15)))
        for p in masked:
            # A word is masked whole: its ## pieces and the piece it continues are masked too.
            if p + 1 < tot and sub[restored[row, p + 1]]:
                assert p + 1 in masked
            if sub[restored[row, p]] and restored[row, p - 1] not in (2, 3):
                assert p - 1 in masked
                pieces += 1
    assert pieces > 100


def test_small_max_predictions_caps_the_count(tmp_path, corpus, vocab):
    out = tmp_path / "o.tfrecord"
    stats = build(corpus[0], vocab, out, random_seed=34, max_predictions_per_seq=3)
    a = read_records(out, max_predictions=3)
    k = (a["masked_lm_weights"] > 0).sum(1)
    tot = a["input_mask"].sum(1)
    np.testing.assert_array_equal(k, np.minimum(3, np.maximum(1, np.rint(tot * 0.15))))
    assert stats["masked_positions"] == k.sum()


def test_short_max_seq_length(tmp_path, corpus, vocab):
    out = tmp_path / "o.tfrecord"
    build(corpus[0], vocab, out, random_seed=34, max_seq_length=16, max_predictions_per_seq=4)
    a = read_records(out, max_seq_length=16, max_predictions=4)
    assert a["input_mask"].sum(1).max() == 16


def test_empty_shard_gives_an_empty_file(tmp_path, vocab):
    shard = tmp_path / "shard_0000"
    shard.write_text("")
    stats = build(shard, vocab, tmp_path / "o.tfrecord", tmp_path / "o.json", random_seed=34)
    assert stats["instances"] == 0 and (tmp_path / "o.tfrecord").read_bytes() == b""
    assert len(read_records(tmp_path / "o.tfrecord")["input_ids"]) == 0
    shard.write_text("\n\n   \n\x00\n")  # blank lines and a line with no tokens
    assert build(shard, vocab, tmp_path / "o.tfrecord", random_seed=34)["instances"] == 0


def test_one_document_without_blank_lines(tmp_path, vocab):
    shard = tmp_path / "shard_0000"
    shard.write_text("\n".join(" ".join(STARTS[i : i + 10]) for i in range(0, 200, 10)) + "\n")
    stats = build(shard, vocab, tmp_path / "o.tfrecord", random_seed=34)
    assert stats["documents"] == 1 and stats["instances"] > 0
    assert len(read_records(tmp_path / "o.tfrecord")["input_ids"]) == stats["instances"]


def test_document_with_one_short_sentence(tmp_path, vocab):
    shard = tmp_path / "shard_0000"
    shard.write_text("w1\n\nw2 w3\n")  # the reference draws B from another (or the same) document
    stats = build(shard, vocab, tmp_path / "o.tfrecord", random_seed=34)
    a = read_records(tmp_path / "o.tfrecord")
    assert stats["instances"] == 10 and (a["next_sentence_labels"] == 1).all()


def test_vocab_without_control_symbols_fails_clearly(tmp_path, corpus):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join([SPECIAL_TOKENS.pad, SPECIAL_TOKENS.unk] + STARTS) + "\n")
    out = tmp_path / "o.tfrecord"
    # A PipelineError: one console line, naming what is missing and the rule that writes it.
    missing = r"lacks the control symbol\(s\) \[CLS\] \[SEP\] \[MASK\] that .*: .*wordpiece_vocab"
    with pytest.raises(PipelineError, match=missing):
        build(corpus[0], vocab, out, random_seed=34)
    assert os.listdir(tmp_path) == ["vocab.txt"]


@pytest.mark.parametrize(
    "bad",
    [
        dict(max_seq_length=4),
        dict(max_predictions_per_seq=0),
        dict(masked_lm_prob=0),
        dict(dupe_factor=0),
        dict(short_seq_prob=1.5),
        dict(compression="zip"),
        dict(feature_names="v3"),
    ],
)
def test_bad_settings_fail_clearly(tmp_path, corpus, vocab, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        build(corpus[0], vocab, tmp_path / "o.tfrecord", **bad)
    assert not os.listdir(tmp_path)


def test_no_partial_file_after_a_failure(tmp_path, corpus, vocab, monkeypatch):
    calls = []

    def failing(flat, lengths):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as when the job is killed mid-way
        return real(flat, lengths)

    real = records.tfrecord_frames
    monkeypatch.setattr(records, "tfrecord_frames", failing)
    monkeypatch.setattr(pdata, "BATCH", 64)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        build(
            corpus[0], vocab, out / "shard_0000.tfrecord", out / "shard_0000.stats.json", random_seed=34
        )
    assert len(calls) == 2 and os.listdir(out) == []


def test_batch_size_does_not_change_the_output(tmp_path, corpus, vocab, built, monkeypatch):
    monkeypatch.setattr(pdata, "BATCH", 100)
    build(corpus[0], vocab, tmp_path / "o.tfrecord", random_seed=34)
    # Masks are drawn batch by batch, so the bytes differ, but the instances (before masking) are the same.
    a, b = read_records(tmp_path / "o.tfrecord"), built[3]
    np.testing.assert_array_equal(a["input_mask"], b["input_mask"])
    np.testing.assert_array_equal(a["segment_ids"], b["segment_ids"])
    np.testing.assert_array_equal(a["next_sentence_labels"], b["next_sentence_labels"])


class _AlignedRandom(random.Random):
    """The reference's randint(a, b) expressed as ours draws it, so both consume one stream identically."""

    def randint(self, a, b):
        return a + int(self.random() * (b - a + 1))


def test_instance_plan_is_the_reference_loop_exactly(tmp_path, vocab, monkeypatch):
    """With truncation and masking set aside, one random stream gives the reference's A/B pairs one for one."""
    shard = tmp_path / "shard_0000"
    make_corpus(shard, lines=1500, seed=11)
    ref = reference.pretraining
    monkeypatch.setattr(ref, "truncate_seq_pair", lambda *args: None)
    monkeypatch.setattr(ref, "create_masked_lm_predictions", lambda tokens, *args: (tokens, [], []))
    # The reference shuffles its instances at the end; record them in the order its loop makes them.
    made = []
    loop = ref.create_instances_from_document

    def recorded(*args):
        instances = loop(*args)
        made.extend(instances)
        return instances

    monkeypatch.setattr(ref, "create_instances_from_document", recorded)
    tokenizer = reference.FullTokenizer(vocab_file=str(vocab))
    ref.create_training_instances([str(shard)], tokenizer, 64, 2, 0.3, 0.15, 20, _AlignedRandom(5))
    expected = []
    for inst in made:
        a_len = inst.segment_ids.count(0) - 2
        expected.append((inst.tokens[1 : a_len + 1], inst.tokens[a_len + 2 : -1], inst.is_random_next))

    tokens, ends, doc_first, _ = pdata.read_documents(shard, WordPieceTokenizer(vocab), np.int32)
    bounds = np.concatenate([[0], ends])
    doc_count = np.diff(np.append(doc_first, len(ends)))
    a0, a1, b0, b1, rn = pdata.plan_instances(
        np.diff(bounds).tolist(),
        doc_first.tolist(),
        doc_count.tolist(),
        max_seq_length=64,
        short_seq_prob=0.3,
        dupe_factor=2,
        rng=_AlignedRandom(5),
    )
    words = np.array(VOCAB)
    got = [
        (
            words[tokens[bounds[a0[i]] : bounds[a1[i]]]].tolist(),
            words[tokens[bounds[b0[i]] : bounds[b1[i]]]].tolist(),
            bool(rn[i]),
        )
        for i in range(len(a0))
    ]
    assert len(got) == len(expected) > 300
    assert got == expected
