"""Recipe step 5: turn SentencePiece's vocabulary into BERT's WordPiece `vocab.txt`.

`recipe`: the recipe's conversion as it is. `bert` (default): the same conversion, made to agree with BERT's
greedy longest-match WordPiece for every script: every character SentencePiece kept gets a word-initial entry
(`a`) and a continuation entry (`##a`; CJK ideographs, always words of their own, need only the first), so a
word made of known characters never becomes `[UNK]`. The
lowest-scoring pieces make room for them, so vocab.txt keeps its size and its placeholders.
"""

from atomic import atomic_path
from wordpiece import is_cjk

CONTROL_SYMBOLS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORD_START = "\u2581"  # SentencePiece's "▁"


class VocabError(Exception):
    pass


def read_sentencepiece_vocab(path):
    """The pieces of a `.vocab` file (text before the tab), in score order, without the leading `<unk>`."""
    with open(path, encoding="utf-8") as f:
        pieces = [line.split("\t")[0] for line in f]
    return pieces[1:]


def wordpiece_token(piece):
    """`▁cafe` -> `cafe` (starts a word); `xious` -> `##xious` (continues one)."""
    return piece[1:] if piece.startswith(WORD_START) else "##" + piece


def covering_tokens(pieces, slots):
    """The converted pieces plus both forms of every character, in at most `slots` tokens."""
    learned = []
    for token in map(wordpiece_token, pieces):
        if token not in ("", "##") and token not in learned:  # "▁" alone converts to an empty token
            learned.append(token)
    chars = sorted({c for p in pieces for c in p.replace(WORD_START, "")})
    # BERT cuts every CJK ideograph out as a word of its own, so those never need a continuation form.
    required = {form for c in chars for form in ((c,) if is_cjk(ord(c)) else (c, "##" + c))}
    if len(required) > slots:
        raise VocabError(
            f"the text has {len(chars)} distinct characters, and giving each a word-start and a continuation "
            f"token takes {len(required)} of the {slots} word-piece slots: raise tokenizer.vocab_size, or lower "
            f"tokenizer.character_coverage to drop the rarest characters"
        )
    room = slots - len(required)
    kept = [t for t in learned if t in required or (room := room - 1) >= 0]
    return kept + sorted(required - set(kept))


def bert_vocab(pieces, vocab_size, num_placeholders, conversion="recipe"):
    """Control symbols, the tokens, then [UNUSED_i] placeholders: exactly `vocab_size` lines.

    The tokens fill the slots the recipe gives them: vocab_size - num_placeholders - 1 (SentencePiece learned
    vocab_size - num_placeholders pieces, the first of them <unk>).
    """
    slots = vocab_size - num_placeholders - 1
    tokens = covering_tokens(pieces, slots) if conversion == "bert" else [wordpiece_token(p) for p in pieces]
    if len(tokens) < slots:
        raise VocabError(
            f"the corpus is too small for tokenizer.vocab_size: it yields only {len(tokens)} tokens for "
            f"{slots} slots; set tokenizer.vocab_size to at most {len(tokens) + num_placeholders + 1} "
            f"(or give it more text: corpus.max_lines / corpus.source)"
        )
    vocab = CONTROL_SYMBOLS + tokens
    if len(vocab) > vocab_size:
        raise VocabError(
            f"{len(vocab)} tokens do not fit in tokenizer.vocab_size = {vocab_size}; "
            f"raise tokenizer.num_placeholders to at least 4"
        )
    return vocab + [f"[UNUSED_{i}]" for i in range(vocab_size - len(vocab))]


def write_bert_vocab(sentencepiece_vocab_path, vocab_path, vocab_size, num_placeholders, conversion="recipe"):
    vocab = bert_vocab(read_sentencepiece_vocab(sentencepiece_vocab_path), vocab_size, num_placeholders, conversion)
    with atomic_path(vocab_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(token + "\n" for token in vocab)
    return vocab


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):
        p = snakemake.params
        write_bert_vocab(snakemake.input[0], snakemake.output[0], p.vocab_size, p.num_placeholders, p.conversion)
