"""Transform a large text file line by line, in multi-megabyte blocks spread over processes.

Blocks end at line ends, so a per-line transformation gives the same bytes whatever the block size or the
number of processes; output keeps the input's line order.
"""

import logging
import multiprocessing
import os

from bert_pretraining.atomic import atomic_path
from bert_pretraining.progress import Progress

BLOCK_BYTES = 8 << 20


def block_ranges(path, start=0, block_bytes=BLOCK_BYTES):
    """(start, end) byte ranges covering the file from `start`, each ending just after a newline (or at the end)."""
    size = os.path.getsize(path)
    ranges = []
    with open(path, "rb") as f:
        while start < size:
            f.seek(min(start + block_bytes, size) - 1)
            f.readline()  # move to the end of the line the block boundary falls in
            end = f.tell()
            ranges.append((start, end))
            start = end
    return ranges


def read_text(data):
    """Bytes as Python's text mode reads them: invalid UTF-8 dropped, \\r\\n and \\r turned into \\n."""
    return data.decode("utf-8", "ignore").replace("\r\n", "\n").replace("\r", "\n")


def _transform_range(args):
    block_fn, path, start, end = args
    with open(path, "rb") as f:
        f.seek(start)
        text = read_text(f.read(end - start))
    if text and not text.endswith("\n"):  # every output line ends with a newline, the last one too
        text += "\n"
    return block_fn(text).encode("utf-8"), end - start


def transform_lines(src, dest, block_fn, *, processes=1, start=0, block_bytes=BLOCK_BYTES, what="processing"):
    """Write `block_fn(block)` for each block of `src` (from byte `start`) to `dest`; returns lines written.

    `block_fn` maps "\\n"-terminated lines to as many "\\n"-terminated lines, and must be picklable (a
    module-level function, or a functools.partial of one) when processes > 1.
    """
    ranges = [(block_fn, src, a, b) for a, b in block_ranges(src, start, block_bytes)]
    progress = Progress(what, total=os.path.getsize(src) - start, unit="MB", scale=1e6)
    lines = 0
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        pool = multiprocessing.Pool(processes) if processes > 1 and len(ranges) > 1 else None
        try:
            for data, size in (pool.imap if pool else map)(_transform_range, ranges):
                out.write(data)
                lines += data.count(b"\n")
                progress.update(size)
        finally:
            if pool:
                pool.close()
                pool.join()
    progress.log()
    logging.info("%s: wrote %s lines to %s", what, f"{lines:,}", dest)
    return lines
