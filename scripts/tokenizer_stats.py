"""Report, tokenizer section: vocabulary size, placeholders, a sample of pieces, and how BERT's WordPiece
tokenizer splits held-out lines: `[UNK]` rate and word pieces per word.

The held-out figures are the vocabulary check's (`tokenizer/vocab_check.json`, scripts/vocab_check.py):
lines kept from SentencePiece's training text, tokenized as the pre-training data is.
"""

import json
import logging

import pandas as pd

from report_common import plt, save_figure, write_json, write_tables
from vocab import CONTROL_SYMBOLS
from vocab_check import MAX_PIECES_PER_WORD


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


def piece_sample(vocab, scores, n=40):
    """`n` pieces: the most probable half, then the rest spread evenly over the vocabulary."""
    first = len(CONTROL_SYMBOLS)
    rows = [(first + i, vocab[first + i], piece, score) for i, (piece, score) in enumerate(scores)]
    if len(rows) <= n:
        chosen = rows
    else:
        head = rows[: n // 2]
        step = (len(rows) - n // 2) / (n - n // 2)
        chosen = head + [rows[n // 2 + int(i * step)] for i in range(n - n // 2)]
    return pd.DataFrame(chosen, columns=["id", "vocab.txt", "SentencePiece piece", "score (log p)"])


def plot_pieces_per_word(path, stats):
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
    })


def main(*, vocab_path, sentencepiece_vocab, vocab_check, table_path, plot_path, json_path, num_placeholders,
         sample_pieces=40):
    vocab = read_vocab(vocab_path)
    summary = vocabulary_summary(vocab, num_placeholders)
    with open(vocab_check, encoding="utf-8") as f:
        stats = json.load(f)
    sample = piece_sample(vocab, read_scores(sentencepiece_vocab), sample_pieces)
    overview = pd.DataFrame(
        [
            ("vocabulary size (lines of vocab.txt)", summary["vocab_size"]),
            ("control symbols", summary["control_symbols"]),
            ("word-start pieces", summary["word_start_pieces"]),
            ("continuation pieces (##)", summary["continuation_pieces"]),
            ("placeholders [UNUSED_i]", summary["placeholders"]),
            ("placeholders configured (tokenizer.num_placeholders)", summary["placeholders_configured"]),
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
    tables.append(("A sample of the pieces (the most probable first)", sample))
    write_tables(table_path, "Tokenizer", tables)
    plot_pieces_per_word(plot_path, stats)
    write_json(json_path, {"vocabulary": summary, "held_out": stats})
    logging.info("tokenizer: %s, [UNK] rate %.4f, %.3f tokens per word", summary, stats["unk_rate"],
                 stats["tokens_per_word"])
    return summary, stats


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):  # noqa: F821
        main(
            vocab_path=snakemake.input.vocab,  # noqa: F821
            sentencepiece_vocab=snakemake.input.sentencepiece_vocab,  # noqa: F821
            vocab_check=snakemake.input.vocab_check,  # noqa: F821
            table_path=snakemake.output.table,  # noqa: F821
            plot_path=snakemake.output.plot,  # noqa: F821
            json_path=snakemake.output.json,  # noqa: F821
            num_placeholders=snakemake.params.num_placeholders,  # noqa: F821
            sample_pieces=snakemake.params.sample_pieces,  # noqa: F821
        )
