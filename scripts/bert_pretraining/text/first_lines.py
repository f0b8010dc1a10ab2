"""The first N lines of a corpus, fetched or read: what `download` and `subset` share.

Sources: an http(s) URL (OpenSubtitles among them) or a local path, each plain or gzipped text. Downloads
decompress as they stream and stop after N lines, so a demo run of a multi-GB corpus transfers only what it
keeps.
"""

import logging
import os
import urllib.error
import urllib.request
import zlib

from bert_pretraining.atomic import atomic_path
from bert_pretraining.logs import PipelineError
from bert_pretraining.progress import Progress

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


class CorpusError(PipelineError):
    """A problem with the corpus that the user fixes in config.yaml."""


def is_url(source):
    return source.startswith(("http://", "https://"))


class _Gunzip:
    """Streaming gzip decoder for single- and multi-member files."""

    def __init__(self):
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data):
        out = []
        while data:
            if self._d.eof:  # the next member of a concatenated gzip
                self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out.append(self._d.decompress(data))
            data = self._d.unused_data if self._d.eof else b""
        return b"".join(out)

    def finish(self, name):
        if not self._d.eof:
            raise CorpusError(f"{name} is a truncated or corrupt gzip file (it ends in the middle of a member)")


def _copy_lines(chunks, out, max_lines, source_name, gzipped, progress):
    """Copy decoded lines from `chunks` to `out`, stopping after `max_lines`; returns lines written."""
    gunzip = _Gunzip() if gzipped else None
    lines = 0
    try:
        for raw in chunks:
            progress.update(len(raw))
            data = gunzip.feed(raw) if gunzip else raw
            if max_lines is not None:
                count = data.count(b"\n")
                if lines + count >= max_lines:
                    cut = -1
                    for _ in range(max_lines - lines):
                        cut = data.index(b"\n", cut + 1)
                    out.write(data[: cut + 1])
                    return max_lines  # stopped early: the rest is never read
                lines += count
            else:
                lines += data.count(b"\n")
            out.write(data)
    except zlib.error as error:
        raise CorpusError(f"{source_name} is not a valid gzip file ({error})") from None
    if gunzip:
        gunzip.finish(source_name)
    return lines


def _open_source(source, timeout):
    """(binary stream, total bytes or None) for a URL or a local path."""
    if not is_url(source):
        if not os.path.isfile(source):
            raise CorpusError(f"corpus.source {source!r} is neither 'sample', 'opensubtitles', a URL nor a file")
        return open(source, "rb"), os.path.getsize(source)
    request = urllib.request.Request(source, headers={"User-Agent": "bert-pretraining-pipeline"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CorpusError(
            f"could not download {source} ({reason}); check corpus.source / corpus.lang and the network, "
            f"or use corpus.source: sample to run offline"
        ) from None
    length = response.headers.get("Content-Length")
    return response, int(length) if length else None


def copy_first_lines(source, dest, max_lines=None, timeout=60.0):
    """Write the first `max_lines` lines (all if None) of `source` (URL or path, .gz or plain) to `dest`.

    Gzip is recognised by its magic bytes. Returns the number of lines written.
    """
    stream, total = _open_source(source, timeout)
    progress = Progress(f"reading {source}", total=total, unit="MB", scale=1e6)
    with stream, atomic_path(dest) as tmp, open(tmp, "wb") as out:
        try:
            first = stream.read(CHUNK)
        except OSError as error:
            raise CorpusError(f"could not read {source} ({error})") from None
        gzipped = first.startswith(GZIP_MAGIC)

        def chunks():
            data = first
            while data:
                yield data
                try:
                    data = stream.read(CHUNK)
                except OSError as error:
                    raise CorpusError(f"reading {source} failed midway ({error}); run again to retry") from None

        lines = _copy_lines(chunks(), out, max_lines, source, gzipped, progress)
        if out.tell() == 0:
            raise CorpusError(f"the corpus {source} is empty: point corpus.source at text, one sentence per line")
    progress.log()
    logging.info("wrote %s lines of %s to %s", f"{lines:,}", source, dest)
    return lines
