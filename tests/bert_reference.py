"""The reference, for tests: tf-models-official 2.20's `official/nlp/tools/tokenization.py` (WordPiece part) and
`official/nlp/data/create_pretraining_data.py` (Apache-2.0, The TensorFlow Authors), transcribed without
TensorFlow and otherwise unchanged in logic: Python objects per token and one `random.Random`, as there.

Tests compare the project's fast implementation against this: the tokenizer token for token, the examples by their
statistics (the random streams differ, so records cannot match one for one).
"""

import collections
import random
import unicodedata

import numpy as np


def load_vocab(path):
    vocab = collections.OrderedDict()
    with open(path, "rb") as reader:
        lines = reader.read().decode("utf-8", "ignore").split("\n")  # GFile.readline splits on LF only
    if lines[-1] == "":
        lines.pop()
    for index, line in enumerate(lines):
        vocab[line.strip()] = index
    return vocab


def whitespace_tokenize(text):
    text = text.strip()
    return text.split() if text else []


def _is_whitespace(char):
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char):
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
    cp = ord(char)
    if (
        (cp >= 33 and cp <= 47)
        or (cp >= 58 and cp <= 64)
        or (cp >= 91 and cp <= 96)
        or (cp >= 123 and cp <= 126)
    ):
        return True
    return unicodedata.category(char).startswith("P")


class BasicTokenizer:
    def __init__(self, do_lower_case=True):
        self.do_lower_case = do_lower_case

    def tokenize(self, text):
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.do_lower_case:
                token = token.lower()
                token = self._run_strip_accents(token)
            split_tokens.extend(self._run_split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))

    def _run_strip_accents(self, text):
        text = unicodedata.normalize("NFD", text)
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    def _run_split_on_punc(self, text):
        chars = list(text)
        i = 0
        start_new_word = True
        output = []
        while i < len(chars):
            char = chars[i]
            if _is_punctuation(char):
                output.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(char)
            i += 1
        return ["".join(x) for x in output]

    def _tokenize_chinese_chars(self, text):
        output = []
        for char in text:
            if self._is_chinese_char(ord(char)):
                output.extend([" ", char, " "])
            else:
                output.append(char)
        return "".join(output)

    def _is_chinese_char(self, cp):
        return (
            (cp >= 0x4E00 and cp <= 0x9FFF)
            or (cp >= 0x3400 and cp <= 0x4DBF)
            or (cp >= 0x20000 and cp <= 0x2A6DF)
            or (cp >= 0x2A700 and cp <= 0x2B73F)
            or (cp >= 0x2B740 and cp <= 0x2B81F)
            or (cp >= 0x2B820 and cp <= 0x2CEAF)
            or (cp >= 0xF900 and cp <= 0xFAFF)
            or (cp >= 0x2F800 and cp <= 0x2FA1F)
        )

    def _clean_text(self, text):
        output = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            output.append(" " if _is_whitespace(char) else char)
        return "".join(output)


class WordpieceTokenizer:
    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text):
        output_tokens = []
        for token in whitespace_tokenize(text):
            chars = list(token)
            if len(chars) > self.max_input_chars_per_word:
                output_tokens.append(self.unk_token)
                continue
            is_bad = False
            start = 0
            sub_tokens = []
            while start < len(chars):
                end = len(chars)
                cur_substr = None
                while start < end:
                    substr = "".join(chars[start:end])
                    if start > 0:
                        substr = "##" + substr
                    if substr in self.vocab:
                        cur_substr = substr
                        break
                    end -= 1
                if cur_substr is None:
                    is_bad = True
                    break
                sub_tokens.append(cur_substr)
                start = end
            if is_bad:
                output_tokens.append(self.unk_token)
            else:
                output_tokens.extend(sub_tokens)
        return output_tokens


class FullTokenizer:
    def __init__(self, vocab, do_lower_case=True, max_input_chars_per_word=100):
        self.vocab = vocab if isinstance(vocab, dict) else load_vocab(vocab)
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(
            self.vocab, max_input_chars_per_word=max_input_chars_per_word
        )

    def tokenize(self, text):
        return [s for t in self.basic_tokenizer.tokenize(text) for s in self.wordpiece_tokenizer.tokenize(t)]

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab[t] for t in tokens]


TrainingInstance = collections.namedtuple(
    "TrainingInstance", ["tokens", "segment_ids", "masked_lm_positions", "masked_lm_labels", "is_random_next"]
)
MaskedLmInstance = collections.namedtuple("MaskedLmInstance", ["index", "label"])
_Gram = collections.namedtuple("_Gram", ["begin", "end"])


def create_training_instances(
    lines,
    tokenizer,
    max_seq_length,
    dupe_factor,
    short_seq_prob,
    masked_lm_prob,
    max_predictions_per_seq,
    rng,
    do_whole_word_mask=False,
):
    all_documents = [[]]
    for line in lines:
        line = line.strip()
        if not line:
            all_documents.append([])
        tokens = tokenizer.tokenize(line)
        if tokens:
            all_documents[-1].append(tokens)
    all_documents = [x for x in all_documents if x]
    rng.shuffle(all_documents)
    vocab_words = list(tokenizer.vocab.keys())
    instances = []
    for _ in range(dupe_factor):
        for document_index in range(len(all_documents)):
            instances.extend(
                create_instances_from_document(
                    all_documents,
                    document_index,
                    max_seq_length,
                    short_seq_prob,
                    masked_lm_prob,
                    max_predictions_per_seq,
                    vocab_words,
                    rng,
                    do_whole_word_mask,
                )
            )
    rng.shuffle(instances)
    return instances


def create_instances_from_document(
    all_documents,
    document_index,
    max_seq_length,
    short_seq_prob,
    masked_lm_prob,
    max_predictions_per_seq,
    vocab_words,
    rng,
    do_whole_word_mask=False,
):
    document = all_documents[document_index]
    max_num_tokens = max_seq_length - 3
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)
    instances = []
    current_chunk = []
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        if i == len(document) - 1 or current_length >= target_seq_length:
            if current_chunk:
                a_end = 1
                if len(current_chunk) >= 2:
                    a_end = rng.randint(1, len(current_chunk) - 1)
                tokens_a = []
                for j in range(a_end):
                    tokens_a.extend(current_chunk[j])
                tokens_b = []
                if len(current_chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    for _ in range(10):
                        random_document_index = rng.randint(0, len(all_documents) - 1)
                        if random_document_index != document_index:
                            break
                    random_document = all_documents[random_document_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for j in range(random_start, len(random_document)):
                        tokens_b.extend(random_document[j])
                        if len(tokens_b) >= target_b_length:
                            break
                    num_unused_segments = len(current_chunk) - a_end
                    i -= num_unused_segments
                else:
                    is_random_next = False
                    for j in range(a_end, len(current_chunk)):
                        tokens_b.extend(current_chunk[j])
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                assert len(tokens_a) >= 1
                assert len(tokens_b) >= 1
                tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
                segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                tokens, masked_lm_positions, masked_lm_labels = create_masked_lm_predictions(
                    tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng, do_whole_word_mask
                )
                instances.append(
                    TrainingInstance(
                        tokens, segment_ids, masked_lm_positions, masked_lm_labels, is_random_next
                    )
                )
            current_chunk = []
            current_length = 0
        i += 1
    return instances


def _tokens_to_grams(tokens):
    grams = []
    gram_start_pos = None
    for i, token in enumerate(tokens):
        if gram_start_pos is not None and token.startswith("##"):
            continue
        if gram_start_pos is not None:
            grams.append(_Gram(gram_start_pos, i))
        if token not in ["[CLS]", "[SEP]"]:
            gram_start_pos = i
        else:
            gram_start_pos = None
    if gram_start_pos is not None:
        grams.append(_Gram(gram_start_pos, len(tokens)))
    return grams


def _masking_ngrams(grams, max_masked_tokens, rng):
    """`_masking_ngrams` with max_ngram_size = 1 (its n-gram size draw is then always 1)."""
    if not grams:
        return None
    grams = sorted(grams)
    num_tokens = grams[-1].end
    ngrams = list(grams)
    rng.shuffle(ngrams)
    output_ngrams = []
    masked_tokens = [False] * num_tokens
    while sum(masked_tokens) < max_masked_tokens and ngrams:
        if sum(masked_tokens) + 1 > max_masked_tokens:
            ngrams.clear()
            continue
        gram = ngrams.pop()
        if gram.end - gram.begin + sum(masked_tokens) > max_masked_tokens:
            continue
        if sum(masked_tokens[gram.begin : gram.end]):
            continue
        masked_tokens[gram.begin : gram.end] = [True] * (gram.end - gram.begin)
        output_ngrams.append(gram)
    return output_ngrams


def create_masked_lm_predictions(
    tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng, do_whole_word_mask=False
):
    if do_whole_word_mask:
        grams = _tokens_to_grams(tokens)
    else:
        grams = [_Gram(i, i + 1) for i in range(0, len(tokens)) if tokens[i] not in ["[CLS]", "[SEP]"]]
    num_to_predict = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))))
    masked_grams = _masking_ngrams(grams, num_to_predict, rng)
    masked_lms = []
    output_tokens = list(tokens)
    for gram in masked_grams:
        if rng.random() < 0.8:
            replacement_action = lambda idx: "[MASK]"  # noqa: E731
        else:
            if rng.random() < 0.5:
                replacement_action = lambda idx: tokens[idx]  # noqa: E731
            else:
                replacement_action = lambda idx: rng.choice(vocab_words)  # noqa: E731
        for idx in range(gram.begin, gram.end):
            output_tokens[idx] = replacement_action(idx)
            masked_lms.append(MaskedLmInstance(index=idx, label=tokens[idx]))
    assert len(masked_lms) <= num_to_predict
    masked_lms = sorted(masked_lms, key=lambda x: x.index)
    return output_tokens, [p.index for p in masked_lms], [p.label for p in masked_lms]


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    while True:
        if len(tokens_a) + len(tokens_b) <= max_num_tokens:
            break
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        assert len(trunc_tokens) >= 1
        if rng.random() < 0.5:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()


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
    lines,
    vocab,
    *,
    seed,
    max_seq_length=128,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    short_seq_prob=0.1,
    dupe_factor=5,
    do_whole_word_mask=False,
    max_input_chars_per_word=100
):
    tokenizer = FullTokenizer(vocab, max_input_chars_per_word=max_input_chars_per_word)
    instances = create_training_instances(
        lines,
        tokenizer,
        max_seq_length,
        dupe_factor,
        short_seq_prob,
        masked_lm_prob,
        max_predictions_per_seq,
        random.Random(seed),
        do_whole_word_mask,
    )
    return instances_to_arrays(instances, tokenizer, max_seq_length, max_predictions_per_seq)
