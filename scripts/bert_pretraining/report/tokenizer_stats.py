"""Report, tokenizer section: vocabulary size, placeholders, a sample of vocab.txt's tokens with the
SentencePiece piece each came from, and how BERT's WordPiece tokenizer splits held-out lines: `[UNK]` rate and
word pieces per word.

The held-out figures are the vocabulary check's (`tokenizer/vocab_check.json`, scripts/vocab_check.py):
lines kept from SentencePiece's training text, tokenized as the pre-training data is.
"""

import collections
import json
import logging

import pandas as pd

from bert_pretraining.report.report_common import plt, save_figure, write_json, write_tables
from bert_pretraining.text.wordpiece_vocab import CONTROL_SYMBOLS, PUNCTUATION, wordpiece_token
from bert_pretraining.text.vocab_check import MAX_PIECES_PER_WORD

SAMPLE_PIECES = 40  # rows of the report's sample of the pieces


def read_vocab(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def read_scores(sentencepiece_vocab):
    """SentencePiece's pieces and log-probability scores, in its order (without `<unk>`)."""
    pieces = []
    with open(sentencepiece_vocab, encoding="utf-8") as f:
        for line in f:
            piece, _, score = line.rstrip("\n").partition("\t")
            pieces.append((piece, float(score or 0)))
    return pieces[1:]


def vocabulary_summary(vocab, num_placeholders):
    placeholders = sum(t.startswith("[UNUSED_") for t in vocab)
    control = sum(t in CONTROL_SYMBOLS for t in vocab)
    continuation = sum(t.startswith("##") for t in vocab)
    return {
        "vocab_size": len(vocab),
        "control_symbols": control,
        "word_start_pieces": len(vocab) - placeholders - control - continuation,
        "continuation_pieces": continuation,
        "placeholders": placeholders,
        "placeholders_configured": num_placeholders,
    }


# Where a vocab.txt row came from: a piece, or none, and why.
LEARNED = "converted from the piece"
CONTROL, PLACEHOLDER, PUNCTUATION_ENTRY, CHARACTER_ENTRY = (
    "none: control symbol",
    "none: placeholder",
    "none: BERT punctuation SentencePiece did not learn",
    "none: a character entry SentencePiece did not learn",
)


def token_sources(vocab, scores):
    """Each vocab.txt row as (id, token, piece, score, source): the SentencePiece piece it was converted from
    (wordpiece_vocab.wordpiece_token, the conversion's own rule), or piece and score None and why there is none.

    A token takes the most probable piece not yet taken that converts to it: the conversions keep learned
    tokens in SentencePiece's order, and the `bert` one keeps only the first of pieces that convert alike.
    """
    unclaimed = collections.defaultdict(collections.deque)
    for piece, score in scores:
        unclaimed[wordpiece_token(piece)].append((piece, score))
    rows = []
    for i, token in enumerate(vocab):
        if i < len(CONTROL_SYMBOLS) and token == CONTROL_SYMBOLS[i]:
            rows.append((i, token, None, None, CONTROL))
        elif unclaimed[token]:
            rows.append((i, token, *unclaimed[token].popleft(), LEARNED))
        elif token.startswith("[UNUSED_"):
            rows.append((i, token, None, None, PLACEHOLDER))
        elif token in PUNCTUATION:
            rows.append((i, token, None, None, PUNCTUATION_ENTRY))
        elif len(token.removeprefix("##")) == 1:
            rows.append((i, token, None, None, CHARACTER_ENTRY))
        else:
            raise ValueError(f"vocab.txt line {i + 1}, {token!r}, comes from no piece of the SentencePiece "
                             f"vocabulary: are vocab.txt and tokenizer.vocab from the same run?")
    return rows


def source_counts(rows, scores):
    """How many vocab.txt rows have each source, and how many pieces no row came from."""
    counts = collections.Counter(source for *_, source in rows)
    counts["SentencePiece pieces without a vocab.txt entry"] = len(scores) - counts[LEARNED]
    return dict(counts)


def piece_sample(rows, n):
    """About `n` rows of `token_sources`: the `n // 2` most probable pieces, the rest spread evenly over the
    vocabulary after them, and the first row of every kind of source not yet shown; in vocab.txt's order."""
    learned = [r for r in rows if r[2] is not None]
    chosen = {r[0] for r in learned[: n // 2]}
    rest = [r for r in rows if r[0] > max(chosen, default=-1)]
    k = n - len(chosen)
    if k > 0 and rest:
        chosen.update(rest[int(i * len(rest) / k)][0] for i in range(min(k, len(rest))))
    first_of = {}
    for r in rows:
        first_of.setdefault(r[4], r[0])
    shown = {rows[i][4] for i in chosen}
    chosen.update(i for source, i in first_of.items() if source not in shown)
    return pd.DataFrame([rows[i] for i in sorted(chosen)],
                        columns=["id", "vocab.txt", "SentencePiece piece", "score (log p)", "from"], dtype=object)


def plot_pieces_per_word(path, stats, data_path=None):
    counts = [stats["pieces_per_word"][str(k)] for k in range(1, MAX_PIECES_PER_WORD + 1)]
    labels = [str(k) for k in range(1, MAX_PIECES_PER_WORD)] + [f"{MAX_PIECES_PER_WORD}+"]
    shares = [c / stats["words"] if stats["words"] else 0.0 for c in counts]
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar(labels, shares, color="#4c6ef5")
    ax.bar_label(bars, labels=[f"{s:.1%}" for s in shares])
    ax.set_xlabel("WordPiece tokens per word")
    ax.set_ylabel("share of held-out words")
    ax.set_title(f"{stats['tokens_per_word']:.3f} tokens per word, [UNK] rate {stats['unk_rate']:.3%}")
    save_figure(fig, path, {
        "pieces_per_word": dict(zip(labels, counts)),
        "tokens_per_word": stats["tokens_per_word"],
        "unk_rate": stats["unk_rate"],
    }, data_path=data_path)


def main(*, vocab_path, sentencepiece_vocab, vocab_check, table_path, plot_path, json_path, num_placeholders,
         plot_data_path=None):
    vocab = read_vocab(vocab_path)
    summary = vocabulary_summary(vocab, num_placeholders)
    with open(vocab_check, encoding="utf-8") as f:
        stats = json.load(f)
    scores = read_scores(sentencepiece_vocab)
    rows = token_sources(vocab, scores)
    sources = source_counts(rows, scores)
    sample = piece_sample(rows, SAMPLE_PIECES)
    overview = pd.DataFrame(
        [
            ("vocabulary size (lines of vocab.txt)", summary["vocab_size"]),
            ("control symbols", summary["control_symbols"]),
            ("word-start pieces", summary["word_start_pieces"]),
            ("continuation pieces (##)", summary["continuation_pieces"]),
            ("placeholders [UNUSED_i]", summary["placeholders"]),
            ("placeholders configured (tokenizer.num_placeholders)", summary["placeholders_configured"]),
            ("SentencePiece pieces (tokenizer.vocab, without <unk>)", len(scores)),
            ("tokens converted from a SentencePiece piece", sources.get(LEARNED, 0)),
            ("character and punctuation entries SentencePiece did not learn",
             sources.get(CHARACTER_ENTRY, 0) + sources.get(PUNCTUATION_ENTRY, 0)),
            ("pieces without a vocab.txt entry (the bare ▁, the least probable)",
             sources["SentencePiece pieces without a vocab.txt entry"]),
            ("held-out lines (tokenizer/heldout.txt, not seen by SentencePiece)", stats["heldout_lines"]),
            ("held-out words", stats["words"]),
            ("WordPiece tokens", stats["tokens"]),
            ("[UNK] tokens", stats["unk_tokens"]),
            ("[UNK] rate (of tokens)", f"{stats['unk_rate']:.4%}"),
            ("WordPiece tokens per word", stats["tokens_per_word"]),
        ],
        columns=["measure", "value"],
        dtype=object,
    )
    tables = [("Vocabulary and WordPiece tokenization of held-out lines", overview)]
    if stats["most_common_unknown_words"]:
        tables.append(("Most frequent words that become [UNK]",
                       pd.DataFrame(stats["most_common_unknown_words"][:10], columns=["word", "count"])))
    tables.append(("A sample of the tokens and the pieces they came from (the most probable first)", sample))
    write_tables(table_path, "Tokenizer", tables)
    plot_pieces_per_word(plot_path, stats, data_path=plot_data_path)
    write_json(json_path, {"vocabulary": summary, "sources": sources, "held_out": stats})
    logging.info("tokenizer: %s, [UNK] rate %.4f, %.3f tokens per word", summary, stats["unk_rate"],
                 stats["tokens_per_word"])
    return summary, stats
