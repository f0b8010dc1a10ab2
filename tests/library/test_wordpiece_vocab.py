import re

import pytest

from corpora import write_corpus
from tokenizer_stage import build_tokenizer
from bert_pretraining.text.wordpiece_vocab import (CONTROL_SYMBOLS, PUNCTUATION, VocabError, bert_vocab, read_sentencepiece_vocab,
                   wordpiece_token, write_bert_vocab)
from bert_pretraining.text.vocab_check import CoverageError, check_vocab
from bert_pretraining.text.wordpiece_tokenizer import WordPieceTokenizer


def test_recipe_conversion_examples():
    assert wordpiece_token("\u2581cafe") == "cafe"
    assert wordpiece_token("xious") == "##xious"


def test_exact_length_control_first_placeholders_last(tmp_path):
    sp_vocab = tmp_path / "tokenizer.vocab"
    sp_vocab.write_text("<unk>\t0\n\u2581the\t-1.5\ning\t-2.0\n\u2581cafe\t-3.0\nxious\t-4.0\n", encoding="utf-8")
    chars = tmp_path / "chars.tsv"
    chars.write_text("")
    out = tmp_path / "vocab.txt"
    write_bert_vocab(sp_vocab, chars, out, vocab_size=20, num_placeholders=15, conversion="recipe",
                     min_char_frequency=0)
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # one token per line, newline-terminated
    tokens = lines[:-1]
    assert len(tokens) == 20
    assert tokens[:5] == CONTROL_SYMBOLS
    assert tokens[5:9] == ["the", "##ing", "cafe", "##xious"]
    assert tokens[9:] == [f"[UNUSED_{i}]" for i in range(11)]


def test_unk_is_dropped(tmp_path):
    sp_vocab = tmp_path / "tokenizer.vocab"
    sp_vocab.write_text("<unk>\t0\n\u2581a\t-1\n", encoding="utf-8")
    assert read_sentencepiece_vocab(sp_vocab) == ["\u2581a"]


def test_too_many_pieces_is_an_error():
    with pytest.raises(VocabError, match="num_placeholders"):
        bert_vocab(["\u2581a"] * 10, vocab_size=12, num_placeholders=1, conversion="recipe", char_counts={},
                   min_char_frequency=0)


def test_bert_conversion_fills_every_slot_despite_the_bare_word_start_piece():
    """SentencePiece's bare "▁" converts to nothing: the piece asked for beyond the recipe's takes its place."""
    pieces = ["\u2581", "\u2581the", "s", "\u2581a", "t", "\u2581s", "e", "\u2581h", "\u2581e", "h", "\u2581ha",
              "\u2581he", "ta", "es"]
    counts = {"t": 5, "h": 5, "e": 9, "a": 3, "s": 4, "7": 1}
    size = len(PUNCTUATION) + 12 + 4 + 1 + 4  # forms of 6 characters, 4 of the 5 other pieces, <unk>, 4 placeholders
    vocab = bert_vocab(pieces, vocab_size=size, num_placeholders=4, conversion="bert", char_counts=counts,
                       min_char_frequency=0)
    assert len(vocab) == size and "" not in vocab and len(set(vocab)) == len(vocab)
    # every character, the digit SentencePiece never kept included, in both forms; punctuation once
    assert {"7", "##7", "the", "_", "!", ",", "\u201c"} <= set(vocab) and "##_" not in vocab
    assert "##es" not in vocab  # the lowest-scoring piece made room
    # rarer than min_char_frequency: no entry of its own, and the pieces fill its two slots
    vocab = bert_vocab(pieces, vocab_size=size - 1, num_placeholders=4, conversion="bert", char_counts=counts,
                       min_char_frequency=0.1)
    assert "7" not in vocab and "##es" in vocab and len(vocab) == size - 1


def test_too_many_characters_names_sizes_that_fit():
    greek = [chr(0x3B1 + i) for i in range(20)]
    pieces = ["\u2581" + c for c in greek] + ["\u2581" + a + b for a in greek for b in greek]
    counts = {chr(0x3B1 + i): 100 for i in range(20)} | {chr(0x430 + i): 1 + i for i in range(30)}
    size = len(PUNCTUATION) + 40 + 5 + 1 + 4
    with pytest.raises(VocabError, match=r"tokenizer.vocab_size to at least (\d+), or tokenizer.min_char_frequency"
                                         r" to at least ([\d.e-]+)") as error:
        bert_vocab(pieces, vocab_size=size, num_placeholders=5, conversion="bert", char_counts=counts,
                   min_char_frequency=0)
    at_least, frequency = re.search(r"at least (\d+), .* at least ([\d.e-]+),", str(error.value)).groups()
    assert len(bert_vocab(pieces, vocab_size=int(at_least), num_placeholders=5, conversion="bert",
                          char_counts=counts, min_char_frequency=0)) == int(at_least)
    assert len(bert_vocab(pieces, vocab_size=size, num_placeholders=5, conversion="bert", char_counts=counts,
                          min_char_frequency=float(frequency))) == size


def test_the_recipe_size_on_a_corpus_of_realistic_shape(tmp_path):
    """vocab_size 32000 (the recipe's) on 170,000 lines of subtitle-shaped English, ten times the offline sample:
    exactly 32000 lines, the recipe's 252 placeholders, digits, `_` and punctuation covered."""
    raw = write_corpus(tmp_path / "dataset.txt", 170_000, seed=11)
    _, coverage = build_tokenizer(raw, tmp_path, vocab_size=32000, processes=2)
    vocab = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == 32000 and len(set(vocab)) == 32000
    assert vocab[:5] == CONTROL_SYMBOLS and vocab[-252:] == [f"[UNUSED_{i}]" for i in range(252)]
    assert not any(t.startswith("[UNUSED_") for t in vocab[:-252])
    assert {str(d) for d in range(10)} | {f"##{d}" for d in range(10)} | {"_"} | set(PUNCTUATION) <= set(vocab)
    assert coverage["unk_rate"] < 0.001, coverage["most_common_unknown_words"]
    tokenizer = WordPieceTokenizer(tmp_path / "vocab.txt")
    assert "[UNK]" not in tokenizer.tokenize("In 1996, at 10:45 we met snake_case (again)! 300 “ok”, you’re “right”...")


def test_every_size_up_to_the_reachable_maximum_works(tmp_path):
    """Too large a size names the largest that works; it and the sizes just under it give exactly that many lines."""
    raw = write_corpus(tmp_path / "dataset.txt", 12_000, seed=2, vocabulary=8000)
    with pytest.raises(VocabError, match=r"set tokenizer.vocab_size to at most (\d+)") as error:
        build_tokenizer(raw, tmp_path, vocab_size=32000)
    most = int(re.search(r"at most (\d+)", str(error.value)).group(1))
    for size in (most, most - 1, most - 2, most - 300):
        build_tokenizer(raw, tmp_path, vocab_size=size)
        assert len((tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()) == size
    with pytest.raises(VocabError, match=f"at most {most} "):
        build_tokenizer(raw, tmp_path, vocab_size=most + 1)


@pytest.mark.parametrize("lang", ["de"])  # Russian: bench/bench_vocab_coverage.py and the Cyrillic sample test
def test_digits_and_underscores_in_held_out_text_are_known(tmp_path, lang):
    """character_coverage 0.9995 leaves rare digits and `_` out of SentencePiece's alphabet; vocab.txt keeps them."""
    raw = write_corpus(tmp_path / "dataset.txt", 30_000, seed=4, lang=lang)
    _, coverage = build_tokenizer(raw, tmp_path, vocab_size=8000, heldout_lines=3000)
    assert coverage["unk_rate"] < 0.001, coverage["most_common_unknown_words"]
    heldout = (tmp_path / "heldout.txt").read_text(encoding="utf-8")
    assert "_" in heldout and any(d in heldout for d in "0123456789")
    tokenizer = WordPieceTokenizer(tmp_path / "vocab.txt")
    assert "[UNK]" not in tokenizer.tokenize(heldout)


def test_coverage_advice_names_a_change_that_works(tmp_path):
    """Characters left out by min_char_frequency: the check names a frequency, and following it passes."""
    raw = write_corpus(tmp_path / "dataset.txt", 20_000, seed=6)
    settings, _ = build_tokenizer(raw, tmp_path, vocab_size=4000, heldout_lines=3000, min_char_frequency=0.02)

    def check(min_char_frequency):
        return check_vocab(tmp_path / "vocab.txt", tmp_path / "heldout.txt", tmp_path / "chars.tsv",
                           tmp_path / "check.json", do_lower_case=True, strip_accents=True, max_unk_rate=0.0001,
                           conversion="bert", min_char_frequency=min_char_frequency)

    with pytest.raises(CoverageError, match=r"set it to at most ([\d.e-]+)") as error:
        check(0.02)
    assert "tokenizer.conversion" not in str(error.value)  # never the setting already in force
    frequency = float(re.search(r"set it to at most ([\d.e-]+)", str(error.value)).group(1))
    build_tokenizer(raw, tmp_path, vocab_size=4000, heldout_lines=3000, min_char_frequency=frequency)
    assert check(frequency)["unk_rate"] <= 0.0001
