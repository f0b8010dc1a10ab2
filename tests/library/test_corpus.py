import functools
import gzip
import http.server
import os
import socket
import threading

import pytest

from bert_pretraining.text.download import fetch
from bert_pretraining.text.first_lines import CorpusError, copy_first_lines
from bert_pretraining.text.sample_corpus import write_sample_corpus

LINES = [f"Sentence number {i}." if i % 10 else "" for i in range(5000)]
TEXT = ("\n".join(LINES) + "\n").encode()


def _left_over(folder):
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


@pytest.fixture
def served(tmp_path):
    """A local HTTP server over tmp_path/www that records how many bytes it sent."""
    www = tmp_path / "www"
    www.mkdir()
    sent = {"bytes": 0}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def copyfile(self, source, outputfile):
            try:
                while chunk := source.read(64 * 1024):
                    outputfile.write(chunk)
                    sent["bytes"] += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what a download that keeps N lines does

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}", sent
    server.shutdown()


@pytest.mark.parametrize("compress", [False, True])
def test_local_file_first_n_lines(tmp_path, compress):
    src = tmp_path / ("corpus.txt.gz" if compress else "corpus.txt")
    src.write_bytes(gzip.compress(TEXT) if compress else TEXT)
    assert copy_first_lines(str(src), tmp_path / "dataset.txt", max_lines=123) == 123
    assert (tmp_path / "dataset.txt").read_bytes() == b"".join(TEXT.splitlines(keepends=True)[:123])
    assert copy_first_lines(str(src), tmp_path / "all.txt", max_lines=None) == len(LINES)
    assert (tmp_path / "all.txt").read_bytes() == TEXT


def test_multi_member_gzip(tmp_path):
    src = tmp_path / "corpus.gz"
    src.write_bytes(gzip.compress(TEXT[:1000]) + gzip.compress(TEXT[1000:]))
    copy_first_lines(str(src), tmp_path / "dataset.txt")
    assert (tmp_path / "dataset.txt").read_bytes() == TEXT


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_bad_gzip_fails_and_leaves_nothing(tmp_path, damage):
    data = gzip.compress(os.urandom(300_000))  # incompressible, so damage lands in the deflate stream
    data = data[: len(data) // 2] if damage == "truncated" else data[:5000] + b"\x00" * 5000 + data[10000:]
    src = tmp_path / "corpus.gz"
    src.write_bytes(data)
    with pytest.raises(CorpusError, match="gzip"):
        copy_first_lines(str(src), tmp_path / "out" / "dataset.txt")
    assert os.listdir(tmp_path / "out") == []


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="empty"):
        copy_first_lines(str(tmp_path / "empty.txt"), tmp_path / "dataset.txt")
    assert not (tmp_path / "dataset.txt").exists() and not _left_over(tmp_path)


def test_download_stops_after_n_lines(tmp_path, served):
    www, base, sent = served
    # ~25 MB compressed: more than the socket buffers hold, so bytes sent reflect bytes read
    big = b"".join(b"%d %s\n" % (i, os.urandom(40).hex().encode()) for i in range(500_000))
    (www / "big.txt.gz").write_bytes(gzip.compress(big, compresslevel=1))
    lines = copy_first_lines(f"{base}/big.txt.gz", tmp_path / "raw.txt", max_lines=1000)
    assert lines == 1000
    assert (tmp_path / "raw.txt").read_bytes() == b"".join(big.splitlines(keepends=True)[:1000])
    assert sent["bytes"] < os.path.getsize(www / "big.txt.gz") / 3


def test_download_whole_plain_text(tmp_path, served):
    www, base, _ = served
    (www / "c.txt").write_bytes(TEXT)
    assert fetch(f"{base}/c.txt", tmp_path / "raw.txt") == len(LINES)
    assert (tmp_path / "raw.txt").read_bytes() == TEXT


def test_unreachable_url_says_what_to_change(tmp_path, served):
    _, base, _ = served
    with pytest.raises(CorpusError, match="corpus.source"):
        fetch(f"{base}/missing.txt.gz", tmp_path / "raw.txt")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(CorpusError, match="could not download"):
        fetch(f"http://127.0.0.1:{closed_port}/x.txt", tmp_path / "raw.txt", timeout=5)
    assert not (tmp_path / "raw.txt").exists() and not _left_over(tmp_path)


def test_offline_sample_is_prose_in_documents(tmp_path):
    docs, sentences = write_sample_corpus(tmp_path / "sample.txt")
    text = (tmp_path / "sample.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    assert docs > 300 and sentences > 10_000
    assert lines.count("") == docs  # a blank line between documents, plus the final newline
    assert not any(line.startswith((">>>", "...")) or "::" in line or "`" in line for line in lines)
    assert 1_000_000 < len(text.encode()) < 3_000_000
