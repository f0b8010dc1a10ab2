import os
import subprocess
import sys

import pytest
import sentencepiece as spm

from corpora import write_corpus
from bert_pretraining.text.normalize import NotTextError, check_text
from bert_pretraining.text.sentencepiece_model import TokenizerError
from tokenizer_stage import build_tokenizer, tokenizer_defaults
from bert_pretraining.text.tokenizer_text import TextError
from workflow import ROOT



def test_trains_recipe_options(tmp_path):
    raw = write_corpus(tmp_path / "dataset.txt", 6000, seed=1)
    build_tokenizer(raw, tmp_path, vocab_size=600, num_placeholders=100, heldout_lines=100,
                    input_sentence_size=1000)
    pieces = [line.split("\t")[0] for line in (tmp_path / "tokenizer.vocab").read_text(encoding="utf-8").splitlines()]
    # the bert conversion asks for one piece more than the recipe, for the bare "▁" that converts to nothing
    assert len(pieces) == 501
    assert pieces[0] == "<unk>" and "<s>" not in pieces and "</s>" not in pieces  # bos_id=eos_id=-1
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "tokenizer.model"))
    assert sp.get_piece_size() == 501 and sp.bos_id() == -1 and sp.eos_id() == -1
    # SentencePiece learned from the sample tokenizer_text drew: exactly input_sentence_size lines
    assert len((tmp_path / "train.txt").read_text(encoding="utf-8").splitlines()) == 1000
    assert len((tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()) == 600


_BUILD = """
import sys
sys.path[:0] = [{tests!r}, {scripts!r}]
from tokenizer_stage import build_tokenizer
build_tokenizer({raw!r}, {out!r}, vocab_size=3000, input_sentence_size=8000, heldout_lines=500, processes=2)
"""


def test_same_bytes_from_two_processes_when_sentences_are_sampled(tmp_path):
    """The recipe samples 12.8M of 100M lines; SentencePiece's own sampling gave each process another model."""
    raw = write_corpus(tmp_path / "dataset.txt", 40_000, seed=3, lang="de")
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        out.mkdir()
        code = _BUILD.format(tests=os.path.join(ROOT, "tests", "fixtures"), scripts=os.path.join(ROOT, "scripts"), raw=str(raw),
                             out=str(out))
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        outs.append(out)
    for name in ("train.txt", "heldout.txt", "chars.tsv", "tokenizer.model", "tokenizer.vocab", "vocab.txt"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    sampled = (outs[0] / "train.txt").read_text(encoding="utf-8").splitlines()
    assert len(sampled) == 8000 and len(set(sampled)) > 7000
    # a sample, not the first lines: some come from the end of the corpus
    proc = (outs[0] / "proc_dataset.txt").read_text(encoding="utf-8").splitlines()
    assert set(sampled) & set(proc[-10_000:]) and set(sampled) & set(proc[500:10_500])


def test_corpus_too_small_names_a_size_that_works(tmp_path):
    """The recipe's conversion keeps SentencePiece's hard size limit: its refusal becomes the largest size."""
    raw = tmp_path / "dataset.txt"
    raw.write_text("a tiny corpus\nwith very few words\n" * 20)
    with pytest.raises(TokenizerError, match=r"set tokenizer.vocab_size to at most \d+") as error:
        build_tokenizer(raw, tmp_path, vocab_size=5000, num_placeholders=256, heldout_lines=0, conversion="recipe")
    assert not (tmp_path / "tokenizer.model").exists() and not (tmp_path / "tokenizer.vocab").exists()
    settings, _ = build_tokenizer(raw, tmp_path, vocab_size=5000, num_placeholders=256, heldout_lines=0,
                                  conversion="recipe", follow_advice=True)
    assert str(settings["vocab_size"]) in str(error.value)


def test_blank_lines_are_no_text(tmp_path):
    raw = tmp_path / "dataset.txt"
    raw.write_text("\n" * 5000 + "only this line\n")
    with pytest.raises(TextError, match="no line with a word in it.*or lower tokenizer.heldout_lines"):
        build_tokenizer(raw, tmp_path, vocab_size=600, num_placeholders=100, heldout_lines=10)
    raw.write_text(" \n\n-- ... !!\n" * 100)
    with pytest.raises(TextError, match=r"no line with a word in it \(\\w\+\) beyond those; point corpus.source"):
        build_tokenizer(raw, tmp_path, vocab_size=600, num_placeholders=100, heldout_lines=10)


def test_one_long_line_is_explained_and_the_advice_works(tmp_path):
    raw = write_corpus(tmp_path / "corpus.txt", 3000, seed=5)
    sentences = raw.read_text(encoding="utf-8").split("\n")
    one_line = tmp_path / "one_line.txt"
    one_line.write_text(" ".join(sentences) + "\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match="one sentence a line: split it into sentences"):
        build_tokenizer(one_line, tmp_path / "a", vocab_size=600, num_placeholders=100, heldout_lines=0)
    (tmp_path / "b").mkdir()
    _, coverage = build_tokenizer(raw, tmp_path / "b", vocab_size=600, num_placeholders=100, heldout_lines=100)
    assert coverage["unk_rate"] < 0.01


def test_random_bytes_are_not_text(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(os.urandom(200_000))
    with pytest.raises(NotTextError, match="not UTF-8 text.*iconv"):
        check_text(path)
    check_text(write_corpus(tmp_path / "text.txt", 2000, lang="ru"))


def test_schema_defaults_are_the_recipe():
    defaults = tokenizer_defaults()
    assert defaults["vocab_size"] == 32000 and defaults["num_placeholders"] == 256
    assert defaults["input_sentence_size"] == 12_800_000 and defaults["model_type"] == "unigram"
