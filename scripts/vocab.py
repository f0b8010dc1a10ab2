"""Recipe step 5: turn SentencePiece's vocabulary into BERT's WordPiece `vocab.txt`."""

from atomic import atomic_path

CONTROL_SYMBOLS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORD_START = "\u2581"  # SentencePiece's "▁"


class VocabError(Exception):
    pass


def read_sentencepiece_vocab(path):
    """The pieces of a `.vocab` file (text before the tab), without the leading `<unk>`."""
    with open(path, encoding="utf-8") as f:
        pieces = [line.split("\t")[0] for line in f]
    return pieces[1:]


def wordpiece_token(piece):
    """`▁cafe` -> `cafe` (starts a word); `xious` -> `##xious` (continues one)."""
    return piece[1:] if piece.startswith(WORD_START) else "##" + piece


def bert_vocab(pieces, vocab_size):
    """Control symbols, then the converted pieces, then [UNUSED_i] placeholders up to exactly `vocab_size`."""
    vocab = CONTROL_SYMBOLS + [wordpiece_token(p) for p in pieces]
    if len(vocab) > vocab_size:
        raise VocabError(
            f"{len(vocab)} tokens do not fit in tokenizer.vocab_size = {vocab_size}; "
            f"raise tokenizer.num_placeholders to at least 4"
        )
    return vocab + [f"[UNUSED_{i}]" for i in range(vocab_size - len(vocab))]


def write_bert_vocab(sentencepiece_vocab_path, vocab_path, vocab_size):
    vocab = bert_vocab(read_sentencepiece_vocab(sentencepiece_vocab_path), vocab_size)
    with atomic_path(vocab_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(token + "\n" for token in vocab)
    return vocab


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        write_bert_vocab(snakemake.input[0], snakemake.output[0], snakemake.params.vocab_size)
