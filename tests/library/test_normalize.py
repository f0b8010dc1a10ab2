import random

import pytest

from bert_pretraining.text.normalize import normalize_block, normalize_file, normalize_text
from normalize_reference import normalize_file_reference


def test_recipe_examples():
    assert normalize_text("Hello, World!! It's 3pm.\n") == "hello world it s 3pm"
    assert normalize_text("   ") == ""
    assert normalize_text("snake_case — Über-Größe") == "snake_case über größe"


def test_block_equals_line_by_line():
    lines = ["Hello, World!", "", "  a  b  ", "...", "ΣΑΣ Σ", "x"]
    assert normalize_block("\n".join(lines)) == "\n".join(normalize_text(line) for line in lines)


def _nasty_file(path, n_chars=60_000, seed=0):
    rng = random.Random(seed)
    alphabet = ["a", "B", "Σ", "ς", "İ", "é", "_", "1", " ", "\t", "\n", "\r", "\r\n", ".", "—", "中",
                "\x0b", "\x0c", "\u2028", "\x85", "ﬁ", "ß", "\u0301", "\ufeff"]
    data = "".join(rng.choice(alphabet) for _ in range(n_chars)).encode()
    # invalid UTF-8 in the middle and a truncated sequence at the end, with no final newline
    path.write_bytes(data[:1000] + b"\xff\xfe\xc3" + data[1000:] + b"\xe2\x82")
    return path


@pytest.mark.parametrize("processes,block_bytes", [(1, 1 << 20), (1, 13), (2, 997), (2, 7)])
def test_file_matches_recipe_loop_byte_for_byte(tmp_path, processes, block_bytes):
    src = _nasty_file(tmp_path / "dataset.txt")
    normalize_file_reference(src, tmp_path / "ref.txt")
    lines = normalize_file(src, tmp_path / "fast.txt", processes=processes, block_bytes=block_bytes)
    ref = (tmp_path / "ref.txt").read_bytes()
    assert (tmp_path / "fast.txt").read_bytes() == ref
    assert lines == ref.count(b"\n")


def test_one_output_line_per_input_line(tmp_path):
    src = tmp_path / "dataset.txt"
    src.write_text("First line.\n\n!!!\nLast, without newline")
    normalize_file(src, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text().split("\n") == ["first line", "", "", "last without newline", ""]
