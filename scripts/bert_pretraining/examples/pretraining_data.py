"""BERT pre-training examples from one shard (recipe step 7), fast and memory-lean.

The algorithm is that of BERT's `create_pretraining_data.py` (google-research/bert and its TF2 port in
tf-models-official): documents separated by blank lines, `dupe_factor` passes over the shuffled documents, one
target length per document, segment A a random prefix of the gathered sentences, B the true continuation or (with
probability 0.5, always for a single gathered sentence) a random span of another document with the unused sentences
put back, truncation of the longer side from a random end, masked-LM positions drawn among the non-special tokens
with the 80% [MASK] / 10% unchanged / 10% random replacement, and the instances shuffled across the shard.

What differs is the representation, never the distribution:
- sentences are token ranges in one flat id array, and an instance is four numbers (the token ranges of A and
  B), so memory is the shard's token ids plus ~40 bytes an instance, not a Python object per token;
- truncation is done in closed form: which side loses a token depends only on the two lengths, so the final
  lengths are exact and the front/back choices are a binomial draw per side;
- masking runs on whole batches with numpy, and so do the `tf.train.Example` encoding and TFRecord framing of
  records.py (the record format's one home), so TensorFlow (0.6 GB just to import) is not loaded at all.
Random numbers come from generators seeded from the global seed and the shard's name, so the output is
byte-identical for the same input, vocabulary and seed, and differs between shards.
"""

import hashlib
import json
import logging
import os
import random
from array import array
from typing import NamedTuple

import numpy as np

from bert_pretraining.examples import records
from bert_pretraining.atomic import atomic_path
from bert_pretraining.logs import PipelineError
from bert_pretraining.text.wordpiece_tokenizer import MAX_INPUT_CHARS_PER_WORD, SPECIAL_TOKENS, WordPieceTokenizer

# The control symbols an example is built with, by role; padding is id 0 whatever vocab.txt says, as in the reference.
REQUIRED_ROLES = ("unk", "cls", "sep", "mask")
# Instances masked and encoded together: large enough for numpy, small enough to keep memory flat.
BATCH = 4096

# Replacement chosen for a masked position, and BERT's odds of each.
MASKED, UNCHANGED, RANDOM = 0, 1, 2
MASK_PROB, KEEP_PROB, RANDOM_PROB = 0.8, 0.1, 0.1


class SettingsError(PipelineError, ValueError):
    """A pretraining_data setting out of range; the message names the key and a value that works."""


class VocabularyError(PipelineError, ValueError):
    """vocab.txt lacks a control symbol the examples need; the message says how to rebuild it."""


class Pairs(NamedTuple):
    """Instances in the order written: where A and B start in the flat token ids, their lengths, and whether B is
    a random next."""

    a_start: np.ndarray
    a_len: np.ndarray
    b_start: np.ndarray
    b_len: np.ndarray
    random_next: np.ndarray


def shard_seed(random_seed, shard_name):
    """A 64-bit seed from the global seed and the shard's name (stable across runs, unlike hash())."""
    digest = hashlib.sha256(f"{int(random_seed)}/{shard_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def read_documents(input_path, tokenizer, dtype):
    """Token ids of every sentence of the shard, as the reference reads it.

    Each line is decoded as UTF-8 (invalid bytes dropped) and stripped; a blank line ends a document; a line
    that tokenizes to nothing is skipped; documents without sentences are dropped.
    Returns (flat token ids, sentence end offsets, first sentence of each document, number of lines).
    """
    tokens = array("H" if dtype == np.uint16 else "i")
    sentence_ends = array("q")
    doc_starts = array("q")
    doc_start = 0
    lines = 0
    encode = tokenizer.encode
    with open(input_path, "rb") as f:
        for raw in f:
            lines += 1
            line = raw.decode("utf-8", "ignore").strip()
            if not line:
                if len(sentence_ends) > doc_start:
                    doc_starts.append(doc_start)
                doc_start = len(sentence_ends)
                continue
            ids = encode(line)
            if ids:
                tokens.extend(ids)
                sentence_ends.append(len(tokens))
    if len(sentence_ends) > doc_start:
        doc_starts.append(doc_start)
    return (
        np.frombuffer(tokens, dtype=dtype) if len(tokens) else np.zeros(0, dtype),  # shares the array's memory
        np.frombuffer(sentence_ends, dtype=np.int64).copy() if len(sentence_ends) else np.zeros(0, np.int64),
        np.frombuffer(doc_starts, dtype=np.int64).copy() if len(doc_starts) else np.zeros(0, np.int64),
        lines,
    )


def plan_instances(
    sentence_lengths, doc_first, doc_count, *, max_seq_length, short_seq_prob, dupe_factor, rng
):
    """The sentence spans [a0, a1) and [b0, b1) of every instance, and whether B is a random next.

    A line-by-line transcription of the reference's `create_instances_from_document` loop, run on sentence
    lengths only; `rng` is a `random.Random`, and `int(r() * n)` stands for `randint` over n values.
    """
    max_num_tokens = max_seq_length - 3
    n_docs = len(doc_first)
    order = list(range(n_docs))
    rng.shuffle(order)
    r = rng.random
    slen = sentence_lengths
    a0s, a1s, b0s, b1s = array("q"), array("q"), array("q"), array("q")
    random_next = array("b")
    for _ in range(dupe_factor):
        for di in range(n_docs):
            first = doc_first[order[di]]
            n = doc_count[order[di]]
            target = max_num_tokens
            if r() < short_seq_prob:
                target = 2 + int(r() * (max_num_tokens - 1))
            chunk = 0  # first sentence of the current chunk, relative to the document
            length = 0
            i = 0
            while i < n:
                length += slen[first + i]
                if i == n - 1 or length >= target:
                    n_chunk = i - chunk + 1
                    a_end = 1 if n_chunk < 2 else 1 + int(r() * (n_chunk - 1))
                    a0 = first + chunk
                    a1 = a0 + a_end
                    if n_chunk == 1 or r() < 0.5:
                        target_b = target - sum(slen[a0:a1])
                        for _ in range(10):
                            rd = int(r() * n_docs)
                            if rd != di:
                                break
                        rf = doc_first[order[rd]]
                        rn = doc_count[order[rd]]
                        j = int(r() * rn)
                        b0 = rf + j
                        b_len = 0
                        while True:
                            b_len += slen[rf + j]
                            if b_len >= target_b or j == rn - 1:
                                break
                            j += 1
                        b1 = rf + j + 1
                        i -= n_chunk - a_end  # put the unused sentences back
                        is_random = 1
                    else:
                        b0, b1 = a1, first + i + 1
                        is_random = 0
                    a0s.append(a0)
                    a1s.append(a1)
                    b0s.append(b0)
                    b1s.append(b1)
                    random_next.append(is_random)
                    chunk = i + 1
                    length = 0
                i += 1
    as_np = lambda a, t: np.frombuffer(a, dtype=t).copy() if len(a) else np.zeros(0, t)  # noqa: E731
    return (
        as_np(a0s, np.int64),
        as_np(a1s, np.int64),
        as_np(b0s, np.int64),
        as_np(b1s, np.int64),
        as_np(random_next, np.int8),
    )


def truncated_lengths(a_len, b_len, max_num_tokens):
    """Final lengths after the reference's truncate_seq_pair, which always trims the longer side (B on a tie)."""
    a_len = np.asarray(a_len, np.int64)
    b_len = np.asarray(b_len, np.int64)
    excess = a_len + b_len - max_num_tokens
    gap = np.abs(a_len - b_len)
    shorter = np.minimum(a_len, b_len)
    # First the longer side alone shrinks to the shorter's length; from that tie on, B and A alternate, B first.
    rest = np.maximum(excess - gap, 0)
    longer_a = a_len > b_len
    alone = np.minimum(np.maximum(excess, 0), gap)
    na = np.where(rest > 0, shorter - rest // 2, np.where(longer_a, a_len - alone, a_len))
    nb = np.where(rest > 0, shorter - (rest + 1) // 2, np.where(longer_a, b_len, b_len - alone))
    return na, nb


def replacements(u, v):
    """The replacement of each masked position from two uniform draws, as the reference draws them: [MASK] when
    u < MASK_PROB, else unchanged or random by v."""
    keep = KEEP_PROB / (KEEP_PROB + RANDOM_PROB)  # 0.5 exactly, the reference's second draw
    return np.where(u < MASK_PROB, MASKED, np.where(v < keep, UNCHANGED, RANDOM)).astype(np.int8)


def _select_tokens(cand, k, gen):
    """Per row, `k` positions drawn uniformly without replacement among the candidates; sorted, padded with width.

    Shuffling the candidates and taking the first k (the reference) draws a uniform k-subset; so does taking
    the k smallest of independent uniform keys.
    """
    n, width = cand.shape
    p = int(k.max()) if n else 0
    keys = gen.random((n, width))
    keys[~cand] = 2.0
    if p < width:
        part = np.argpartition(keys, p - 1, axis=1)[:, :p]
    else:
        part = np.broadcast_to(np.arange(width), (n, width)).copy()
    order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1, kind="stable")
    part = np.take_along_axis(part, order, axis=1)
    chosen = np.arange(part.shape[1]) < k[:, None]
    return np.sort(np.where(chosen, part, width), axis=1)


def _select_whole_words(ids, cand, k, is_subword, gen):
    """The reference's whole-word masking (tf-models `_tokens_to_grams` + `_masking_ngrams` with n = 1).

    A word is a token followed by its `##` pieces, never crossing [CLS]/[SEP]; words are visited in random order
    and taken while they fit in `k` tokens. One 80/10/10 choice per word.
    """
    n, width = ids.shape
    starts = cand & ~(is_subword[ids] & np.concatenate([np.zeros((n, 1), bool), cand[:, :-1]], axis=1))
    positions = np.full((n, int(k.max()) if n else 0), width, np.int64)
    actions = np.zeros(positions.shape, np.int8)
    for row in range(n):
        begins = np.flatnonzero(starts[row])
        ends = np.append(begins[1:], width)
        # A word ends at its last candidate token (before the [SEP] that follows it).
        cand_row = cand[row]
        words = []
        for b, e in zip(begins.tolist(), ends.tolist()):
            end = b + 1
            while end < e and cand_row[end]:
                end += 1
            words.append((b, end))
        picked = []
        count = 0
        budget = int(k[row])
        for w in gen.permutation(len(words)).tolist():
            if count >= budget:
                break
            b, e = words[w]
            if count + e - b > budget:
                continue
            picked.append((b, e))
            count += e - b
        choice = gen.random((len(picked), 2))
        slots = []
        for (b, e), action in zip(picked, replacements(choice[:, 0], choice[:, 1]).tolist()):
            slots.extend((pos, action) for pos in range(b, e))
        slots.sort()
        for s, (pos, action) in enumerate(slots):
            positions[row, s] = pos
            actions[row, s] = action
    return positions, actions


def mask_batch(
    ids,
    a_len,
    tot,
    *,
    masked_lm_prob,
    max_predictions_per_seq,
    special,
    vocab_word_ids,
    gen,
    whole_word=False,
    is_subword=None,
):
    """Apply masked-LM masking to a batch of token rows in place; returns (positions, labels, actions, counts)."""
    n, width = ids.shape
    col = np.arange(width)
    cand = (col >= 1) & (col < tot[:, None] - 1) & (col != a_len[:, None] + 1)
    # The reference's count: len(tokens) includes [CLS] and both [SEP]s; np.rint rounds half to even like round().
    k = np.minimum(max_predictions_per_seq, np.maximum(1, np.rint(tot * masked_lm_prob).astype(np.int64)))
    k = np.minimum(k, cand.sum(axis=1))  # the reference stops when it runs out of candidates
    if whole_word:
        positions, actions = _select_whole_words(ids, cand, k, is_subword, gen)
    else:
        positions = _select_tokens(cand, k, gen)
        u = gen.random(positions.shape)
        v = gen.random(positions.shape)
        actions = replacements(u, v)
    valid = positions < width
    safe = np.where(valid, positions, 0)
    labels = np.where(valid, np.take_along_axis(ids, safe, axis=1), 0)
    random_ids = vocab_word_ids[gen.integers(0, len(vocab_word_ids), positions.shape)]
    new = np.where(actions == MASKED, special["mask"], np.where(actions == UNCHANGED, labels, random_ids))
    # Column `width` absorbs the padding slots.
    padded = np.concatenate([ids, np.zeros((n, 1), ids.dtype)], axis=1)
    np.put_along_axis(padded, np.where(valid, positions, width), new.astype(ids.dtype), axis=1)
    ids[:] = padded[:, :width]
    counts = [int(((actions == a) & valid).sum()) for a in (MASKED, UNCHANGED, RANDOM)]
    return positions, valid, labels, counts


def check_settings(
    *, max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob, dupe_factor, compression, feature_names
):
    """Raise one line naming the pretraining_data key, its allowed range and a value that works; the workflow runs
    this before any job (rules/common.smk), the job again for direct calls. The defaults are the schema's alone."""
    default = "such as the default in schemas/config.schema.yaml"
    if max_seq_length < 5:
        raise SettingsError(
            f"pretraining_data.max_seq_length must be at least 5 ([CLS], [SEP], [SEP] and a token each side), "
            f"got {max_seq_length}: set it to 5 or more, {default}"
        )
    if max_predictions_per_seq < 1:
        raise SettingsError(
            f"pretraining_data.max_predictions_per_seq must be at least 1, got {max_predictions_per_seq}: "
            f"set it to 1 or more, {default}"
        )
    if not 0 < masked_lm_prob <= 1:
        raise SettingsError(
            f"pretraining_data.masked_lm_prob must be in (0, 1], got {masked_lm_prob}: set a share in that range, "
            f"{default}"
        )
    if not 0 <= short_seq_prob <= 1:
        raise SettingsError(
            f"pretraining_data.short_seq_prob must be in [0, 1], got {short_seq_prob}: set a probability in that "
            f"range, {default}"
        )
    if dupe_factor < 1:
        raise SettingsError(
            f"pretraining_data.dupe_factor must be at least 1, got {dupe_factor}: set it to 1 or more, {default}"
        )
    records.check_format(compression=compression, feature_names=feature_names)


def vocabulary_tables(vocab, vocab_path):
    """What the examples need of the vocabulary: {role: id} of the control symbols, the dtype of the token ids,
    the ids a random replacement is drawn from, and which ids are `##` pieces (for whole-word masking)."""
    required = {role: getattr(SPECIAL_TOKENS, role) for role in REQUIRED_ROLES}
    missing = [token for token in required.values() if token not in vocab]
    if missing:
        raise VocabularyError(
            f"{vocab_path} lacks the control symbol(s) {' '.join(missing)} that BERT's examples need: "
            "rebuild it with rule wordpiece_vocab (snakemake --forcerun wordpiece_vocab), which writes them first"
        )
    special = {role: vocab[token] for role, token in required.items()}
    max_id = max(vocab.values())
    dtype = np.uint16 if max_id < 1 << 16 else np.int32
    # The reference draws replacements from the distinct vocabulary entries (`list(vocab.keys())`).
    vocab_word_ids = np.fromiter(vocab.values(), np.int64, len(vocab))
    is_subword = np.zeros(max_id + 1, bool)
    for token, index in vocab.items():
        is_subword[index] = token.startswith("##")
    return special, dtype, vocab_word_ids, is_subword


def corpus_stats(shard_name, tokens, sentence_ends, doc_first, lines, unk_id):
    """The shard's counts as read, logged."""
    corpus = {
        "lines": lines,
        "documents": len(doc_first),
        "sentences": len(sentence_ends),
        "tokens": len(tokens),
        "unknown_tokens": int(np.count_nonzero(tokens == unk_id)),
    }
    logging.info(
        "%s: %d lines, %d documents, %d sentences, %d tokens",
        shard_name,
        lines,
        len(doc_first),
        len(sentence_ends),
        len(tokens),
    )
    return corpus


def plan_pairs(sentence_ends, doc_first, *, max_seq_length, short_seq_prob, dupe_factor, rng, gen):
    """Every instance of the shard as token ranges, truncated to fit and shuffled: the Pairs in the order written."""
    bounds = np.concatenate([np.zeros(1, np.int64), sentence_ends])  # sentence s is tokens[bounds[s]:bounds[s + 1]]
    doc_count = np.diff(np.append(doc_first, len(sentence_ends)))
    a0, a1, b0, b1, random_next = plan_instances(
        np.diff(bounds).tolist(),
        doc_first.tolist(),
        doc_count.tolist(),
        max_seq_length=max_seq_length,
        short_seq_prob=short_seq_prob,
        dupe_factor=dupe_factor,
        rng=rng,
    )
    a_start, a_len = bounds[a0], bounds[a1] - bounds[a0]
    b_start, b_len = bounds[b0], bounds[b1] - bounds[b0]
    del a0, a1, b0, b1, bounds  # a shard's worth of int64s each
    na, nb = truncated_lengths(a_len, b_len, max_seq_length - 3)
    a_start = a_start + gen.binomial(a_len - na, 0.5)  # tokens dropped from the front; the rest from the back
    b_start = b_start + gen.binomial(b_len - nb, 0.5)
    order = gen.permutation(len(na))  # the reference shuffles all instances before writing
    return Pairs(a_start[order], na[order], b_start[order], nb[order], random_next[order])


def token_rows(tokens, pairs, special, max_seq_length):
    """[CLS] A [SEP] B [SEP] of each pair, padded with 0; returns (ids, each row's length)."""
    al, bl = pairs.a_len, pairs.b_len
    tot = al + bl + 3
    col = np.arange(max_seq_length)
    in_a = (col >= 1) & (col <= al[:, None])
    in_b = (col >= al[:, None] + 2) & (col < al[:, None] + 2 + bl[:, None])
    a_src = pairs.a_start[:, None] + col - 1
    b_src = pairs.b_start[:, None] + col - al[:, None] - 2
    src = np.where(in_a, a_src, np.where(in_b, b_src, 0))
    ids = np.where(in_a | in_b, tokens[src], 0).astype(np.int64)
    rows = np.arange(len(al))
    ids[:, 0] = special["cls"]
    ids[rows, al + 1] = special["sep"]
    ids[rows, tot - 1] = special["sep"]
    return ids, tot


def feature_columns(ids, tot, pairs, positions, valid, labels, max_predictions_per_seq):
    """{role: values} of every record feature (records.LAYOUT) of a masked batch; predictions padded with 0."""
    n, width = ids.shape
    col = np.arange(width)
    k = positions.shape[1]
    mlm_positions = np.zeros((n, max_predictions_per_seq), np.int64)
    mlm_ids = np.zeros((n, max_predictions_per_seq), np.int64)
    mlm_weights = np.zeros((n, max_predictions_per_seq), np.float32)
    mlm_positions[:, :k] = np.where(valid, positions, 0)
    mlm_ids[:, :k] = labels
    mlm_weights[:, :k] = valid
    return {
        "token_ids": ids,
        "segment_ids": ((col >= pairs.a_len[:, None] + 2) & (col < tot[:, None])).astype(np.int64),
        "padding_mask": (col < tot[:, None]).astype(np.int64),
        "masked_lm_positions": mlm_positions,
        "masked_lm_ids": mlm_ids,
        "masked_lm_weights": mlm_weights,
        "next_sentence_labels": pairs.random_next.astype(np.int64)[:, None],
    }


def write_examples(output_path, tokens, pairs, *, special, masking, compression, feature_names, max_seq_length):
    """Build, mask and encode the instances batch by batch into one record file. `masking`: mask_batch's keyword
    arguments. Returns the histogram of lengths and the count of each replacement."""
    max_predictions_per_seq = masking["max_predictions_per_seq"]
    layout = records.features(
        feature_names=feature_names,
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
    )
    hist = np.zeros(max_seq_length + 1, np.int64)
    counts = np.zeros(3, np.int64)
    with atomic_path(output_path) as tmp, records.open_writer(tmp, compression=compression) as out:
        for lo in range(0, len(pairs.a_len), BATCH):
            batch = Pairs(*(field[lo : lo + BATCH] for field in pairs))
            ids, tot = token_rows(tokens, batch, special, max_seq_length)
            positions, valid, labels, batch_counts = mask_batch(ids, batch.a_len, tot, special=special, **masking)
            columns = feature_columns(ids, tot, batch, positions, valid, labels, max_predictions_per_seq)
            flat, lengths = records.encode_examples([(name, kind, columns[role]) for name, role, kind, _ in layout])
            out.write(records.tfrecord_frames(flat, lengths))
            hist += np.bincount(tot, minlength=max_seq_length + 1)
            counts += batch_counts
    return hist, counts


def shard_stats(shard_name, seed64, corpus, random_next, hist, counts, *, max_seq_length, max_predictions_per_seq):
    """The statistics file's content (the report reads it instead of the records)."""
    n_total = len(random_next)
    n_masked = int(counts.sum())
    return {
        "shard": shard_name,
        "seed": seed64,
        **corpus,
        "instances": n_total,
        "max_seq_length": max_seq_length,
        "max_predictions_per_seq": max_predictions_per_seq,
        "seq_length_histogram": hist.tolist(),
        "mean_seq_length": float((hist * np.arange(len(hist))).sum() / n_total) if n_total else 0.0,
        "full_length_share": float(hist[max_seq_length] / n_total) if n_total else 0.0,
        "random_next": int(random_next.sum()),
        "random_next_share": float(random_next.mean()) if n_total else 0.0,
        "masked_positions": n_masked,
        "masked_per_instance": n_masked / n_total if n_total else 0.0,
        "masked_replaced_by_mask": int(counts[MASKED]),
        "masked_unchanged": int(counts[UNCHANGED]),
        "masked_replaced_by_random": int(counts[RANDOM]),
    }


def write_stats(stats, stats_path):
    with atomic_path(stats_path) as tmp, open(tmp, "w") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")


def log_summary(stats):
    logging.info(
        "%s: %d instances, mean length %.1f, %.1f%% full length, %.1f%% random next, %.2f masked per instance",
        stats["shard"],
        stats["instances"],
        stats["mean_seq_length"],
        100 * stats["full_length_share"],
        100 * stats["random_next_share"],
        stats["masked_per_instance"],
    )


def create_pretraining_data(
    input_path,
    vocab_path,
    output_path,
    stats_path=None,
    *,
    max_seq_length,
    max_predictions_per_seq,
    masked_lm_prob,
    short_seq_prob,
    dupe_factor,
    random_seed,
    do_lower_case,
    strip_accents,
    do_whole_word_mask,
    compression,
    feature_names,
    shard_name=None,
    max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD,
):
    """Write the shard's pre-training examples to `output_path` (and statistics to `stats_path`); returns the stats."""
    check_settings(max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
                   masked_lm_prob=masked_lm_prob, short_seq_prob=short_seq_prob, dupe_factor=dupe_factor,
                   compression=compression, feature_names=feature_names)
    shard_name = shard_name or os.path.basename(os.fspath(input_path))
    tokenizer = WordPieceTokenizer(vocab_path, do_lower_case=do_lower_case, strip_accents=strip_accents,
                                   max_input_chars_per_word=max_input_chars_per_word)
    special, dtype, vocab_word_ids, is_subword = vocabulary_tables(tokenizer.vocab, vocab_path)
    seed64 = shard_seed(random_seed, shard_name)
    rng = random.Random(seed64)  # the pairing, draw for draw the reference's
    gen = np.random.Generator(np.random.PCG64(seed64))  # truncation, shuffling and masking, whole arrays at once

    tokens, sentence_ends, doc_first, lines = read_documents(input_path, tokenizer, dtype)
    corpus = corpus_stats(shard_name, tokens, sentence_ends, doc_first, lines, special["unk"])
    pairs = plan_pairs(sentence_ends, doc_first, max_seq_length=max_seq_length, short_seq_prob=short_seq_prob,
                       dupe_factor=dupe_factor, rng=rng, gen=gen)
    del sentence_ends, doc_first  # only the token ids are read from here on
    masking = dict(
        masked_lm_prob=masked_lm_prob,
        max_predictions_per_seq=max_predictions_per_seq,
        vocab_word_ids=vocab_word_ids,
        gen=gen,
        whole_word=do_whole_word_mask,
        is_subword=is_subword,
    )
    hist, counts = write_examples(output_path, tokens, pairs, special=special, masking=masking, compression=compression,
                                  feature_names=feature_names, max_seq_length=max_seq_length)
    stats = shard_stats(shard_name, seed64, corpus, pairs.random_next, hist, counts, max_seq_length=max_seq_length,
                        max_predictions_per_seq=max_predictions_per_seq)
    if stats_path is not None:
        write_stats(stats, stats_path)
    log_summary(stats)
    return stats
