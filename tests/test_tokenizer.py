import random

import pytest
import sentencepiece as spm

from tokenizer import TokenizerError, train_sentencepiece


def _text(path, n_lines=3000, seed=1):
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "dor", "lan", "ber"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(800)]
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 15))) for _ in range(n_lines)))
    return path


def test_trains_recipe_options(tmp_path):
    text = _text(tmp_path / "proc_dataset.txt")
    model, vocab = tmp_path / "tokenizer.model", tmp_path / "tokenizer.vocab"
    train_sentencepiece(text, model, vocab, vocab_size=600, num_placeholders=100, input_sentence_size=1000)
    pieces = [line.split("\t")[0] for line in vocab.read_text(encoding="utf-8").splitlines()]
    assert len(pieces) == 500
    assert pieces[0] == "<unk>" and "<s>" not in pieces and "</s>" not in pieces  # bos_id=eos_id=-1
    sp = spm.SentencePieceProcessor(model_file=str(model))
    assert sp.get_piece_size() == 500 and sp.bos_id() == -1 and sp.eos_id() == -1
    # the same seed gives the same model
    train_sentencepiece(text, tmp_path / "b.model", tmp_path / "b.vocab", vocab_size=600, num_placeholders=100,
                        input_sentence_size=1000)
    assert (tmp_path / "b.vocab").read_bytes() == vocab.read_bytes()


def test_corpus_too_small_names_the_value_to_lower(tmp_path):
    text = tmp_path / "proc_dataset.txt"
    text.write_text("a tiny corpus\nwith very few words\n")
    with pytest.raises(TokenizerError, match=r"set tokenizer.vocab_size to at most \d+"):
        train_sentencepiece(text, tmp_path / "t.model", tmp_path / "t.vocab", vocab_size=5000, num_placeholders=256)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proc_dataset.txt"]


def test_empty_corpus(tmp_path):
    text = tmp_path / "proc_dataset.txt"
    text.write_text("")
    with pytest.raises(TokenizerError, match="empty"):
        train_sentencepiece(text, tmp_path / "t.model", tmp_path / "t.vocab", vocab_size=600, num_placeholders=100)
