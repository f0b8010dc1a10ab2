"""Every script family of the recipe's languages gets a vocabulary BERT's tokenizer can use (held-out [UNK])."""

import re

import pytest

from bert_pretraining.derived_config import resolve_strip_accents
from multilingual import SCRIPTS, build_vocab
from bert_pretraining.text.normalize import normalize_file
from bert_pretraining.text.vocab_check import CoverageError, check_vocab
from bert_pretraining.text.wordpiece_tokenizer import WordPieceTokenizer

@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_default_conversion_covers_every_script(tmp_path, script):
    stats, strip = build_vocab(tmp_path, script, "bert")
    assert stats["heldout_lines"] == 60 and stats["words"] >= 60
    assert stats["unk_rate"] <= 0.01, stats
    # every character of the training text maps to a non-[UNK] token
    tokenizer = WordPieceTokenizer(tmp_path / "vocab.txt", strip_accents=strip)
    chars = {c for line in open(tmp_path / "train.txt", encoding="utf-8") for c in line.split() for c in c}
    unknown = [c for c in chars if tokenizer.tokenize(c) == ["[UNK]"]]
    assert not unknown, unknown[:10]


@pytest.mark.parametrize("script", ["chinese", "japanese"])
def test_recipe_conversion_fails_cjk(tmp_path, script):
    stats, _ = build_vocab(tmp_path, script, "recipe")
    assert stats["unk_rate"] > 0.01, stats


def test_check_stops_the_run_above_the_threshold(tmp_path):
    build_vocab(tmp_path, "chinese", "recipe")
    with pytest.raises(CoverageError, match=r"tokenizer.max_unk_rate.*tokenizer.conversion: bert"):
        check_vocab(tmp_path / "vocab.txt", tmp_path / "heldout.txt", tmp_path / "chars.tsv", tmp_path / "check.json",
                    do_lower_case=True, strip_accents=True, max_unk_rate=0.01, conversion="recipe",
                    min_char_frequency=1e-7)
    assert not (tmp_path / "check.json").exists()


def test_accent_stripping_is_off_where_marks_are_letters():
    assert resolve_strip_accents("auto", "ja") is False and resolve_strip_accents("auto", "hi") is False
    assert resolve_strip_accents("auto", "fr") is True and resolve_strip_accents(False, "fr") is False
    # what stripping would do to Japanese: the voiced kana が loses its mark
    assert WordPieceTokenizer({}, strip_accents=True).basic_tokenize("が") == ["か"]
    assert WordPieceTokenizer({}, strip_accents=False).basic_tokenize("が") == ["が"]
