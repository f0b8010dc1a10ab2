import pytest

from vocab import CONTROL_SYMBOLS, VocabError, bert_vocab, read_sentencepiece_vocab, wordpiece_token, write_bert_vocab


def test_recipe_conversion_examples():
    assert wordpiece_token("\u2581cafe") == "cafe"
    assert wordpiece_token("xious") == "##xious"


def test_exact_length_control_first_placeholders_last(tmp_path):
    sp_vocab = tmp_path / "tokenizer.vocab"
    sp_vocab.write_text("<unk>\t0\n\u2581the\t-1.5\ning\t-2.0\n\u2581cafe\t-3.0\nxious\t-4.0\n", encoding="utf-8")
    out = tmp_path / "vocab.txt"
    write_bert_vocab(sp_vocab, out, vocab_size=20, num_placeholders=15)
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
        bert_vocab(["\u2581a"] * 10, vocab_size=12, num_placeholders=1)
