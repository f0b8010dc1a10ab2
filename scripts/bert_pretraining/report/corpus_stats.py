"""Report, corpus section: lines kept, characters, words, empty lines and line lengths, before and after
normalisation (`dataset.txt` and `proc_dataset.txt`, with the raw corpus for the lines kept).

Files are read in blocks with numpy (line breaks, UTF-8 lead bytes and word starts counted vectorised), so
the recipe's 100,000,000-line corpus is measured at disk speed rather than line by line in Python.
"""

import logging

import numpy as np
import pandas as pd

from bert_pretraining.progress import Progress
from bert_pretraining.report.report_common import plt, save_figure, write_json, write_tables

BLOCK_BYTES = 8 << 20
MAX_LINE_LENGTH = 1000  # characters; longer lines share the histogram's last bin


class LineStats:
    """Running totals over lines fed in blocks that end at a line break."""

    def __init__(self, max_length):
        self.max_length = max_length
        # Characters per line; the last bin counts the lines of max_length characters or more.
        self.histogram = np.zeros(max_length + 1, np.int64)
        self.lines = self.characters = self.words = self.empty = self.documents = self.longest = 0
        self.previous_empty = True  # a document starts at the first non-empty line

    def add_block(self, data):
        """Count the lines of `data` (bytes; every line ends with b"\n")."""
        arr = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(arr == 10)
        if not len(ends):
            return
        starts = np.empty_like(ends)
        starts[0], starts[1:] = 0, ends[:-1] + 1
        # Per-line sums over [start, next start): the line and its "\n", which counts as neither below.
        per_line = lambda mask: np.add.reduceat(mask.view(np.uint8), starts, dtype=np.int64)  # noqa: E731
        # Characters: bytes that are not UTF-8 continuation bytes; a line's count excludes "\r\n" / "\n".
        continuation = per_line((arr & 0xC0) == 0x80)
        carriage_return = (arr[ends - 1] == 13) & (ends > starts)
        lengths = ends - starts - continuation - carriage_return
        space = (arr == 32) | ((arr >= 9) & (arr <= 13))  # ASCII whitespace, what str.split() splits this on
        after_space = np.empty_like(space)
        after_space[0], after_space[1:] = True, space[:-1]
        words = per_line(~space & after_space)  # a word starts at a non-space after a space
        empty = words == 0  # blank lines (only whitespace) separate documents
        previous = np.empty_like(empty)
        previous[0], previous[1:] = self.previous_empty, empty[:-1]
        self.documents += int(np.count_nonzero(~empty & previous))
        self.previous_empty = bool(empty[-1])
        self.lines += len(ends)
        self.characters += int(lengths.sum())
        self.words += int(words.sum())
        self.empty += int(np.count_nonzero(empty))
        self.longest = max(self.longest, int(lengths.max()))
        self.histogram += np.bincount(np.minimum(lengths, self.max_length), minlength=self.max_length + 1)

    def summary(self):
        non_empty = self.lines - self.empty
        return {
            "lines": self.lines,
            "characters": self.characters,
            "words": self.words,
            "empty_lines": self.empty,
            "documents": self.documents,
            "mean_characters_per_line": self.characters / non_empty if non_empty else 0.0,
            "mean_words_per_line": self.words / non_empty if non_empty else 0.0,
            "longest_line": self.longest,
            "length_histogram": self.histogram.tolist(),
        }


def file_stats(path, max_length, block_bytes=BLOCK_BYTES):
    """LineStats.summary() of a text file; a last line without a line break counts as a line."""
    stats = LineStats(max_length)
    progress = Progress(f"measuring {path}", unit="MB", scale=1e6)
    rest = b""
    with open(path, "rb") as f:
        while block := f.read(block_bytes):
            data = rest + block
            cut = data.rfind(b"\n") + 1
            stats.add_block(data[:cut])
            rest = data[cut:]
            progress.update(len(block))
    if rest:
        stats.add_block(rest + b"\n")
    return stats.summary()


def summary_table(columns):
    """One row per measure, one column per file; `columns` maps a column heading to a file_stats() dict."""
    rows = [
        ("lines", "lines"),
        ("non-empty lines", None),
        ("empty lines (document breaks)", "empty_lines"),
        ("documents", "documents"),
        ("characters", "characters"),
        ("words (whitespace-separated)", "words"),
        ("characters per non-empty line, mean", "mean_characters_per_line"),
        ("words per non-empty line, mean", "mean_words_per_line"),
        ("longest line (characters)", "longest_line"),
    ]
    table = {"measure": [name for name, _ in rows]}
    for heading, stats in columns.items():
        table[heading] = [
            stats["lines"] - stats["empty_lines"] if key is None else stats[key] for _, key in rows
        ]
    return pd.DataFrame(table, dtype=object)  # object: counts stay integers beside the means


def histogram_bins(histograms, bins=50):
    """Common bins for several length histograms: up to the 99.9th percentile of the longest, then one
    overflow bin, so a few very long lines do not squeeze the rest into one bar."""
    total = np.sum(histograms, axis=0)
    cumulative = np.cumsum(total)
    top = int(np.searchsorted(cumulative, 0.999 * cumulative[-1])) + 1 if cumulative[-1] else 1
    width = max(1, -(-top // bins))
    edges = list(range(0, top + width, width))
    out = []
    for hist in histograms:
        hist = np.asarray(hist)
        counts = [int(hist[a:b].sum()) for a, b in zip(edges[:-1], edges[1:])]
        counts.append(int(hist[edges[-1]:].sum()))  # overflow: edges[-1] characters or more
        out.append(counts)
    return edges, out


def plot_lengths(path, series, data_path=None):
    """Step histograms of characters per line; `series` maps a label to a histogram (list of counts)."""
    edges, counts = histogram_bins(list(series.values()))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = edges + [edges[-1] + (edges[1] - edges[0] if len(edges) > 1 else 1)]
    for (label, _), c in zip(series.items(), counts):
        ax.stairs(c, x, label=f"{label} ({sum(c):,} lines)", linewidth=1.5)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel(f"characters per line (last bin: {edges[-1]} or more)")
    ax.set_ylabel("lines")
    ax.set_title("Line lengths before and after normalisation")
    ax.legend()
    save_figure(fig, path, {"bin_edges": edges, "counts": dict(zip(series, counts))}, data_path=data_path)


def main(*, raw, dataset, normalized, table_path, plot_path, json_path, plot_data_path=None):
    columns = {"raw corpus": file_stats(raw, MAX_LINE_LENGTH)} if raw else {}
    columns["dataset.txt (kept)"] = file_stats(dataset, MAX_LINE_LENGTH)
    columns["proc_dataset.txt (normalised)"] = file_stats(normalized, MAX_LINE_LENGTH)
    table = summary_table(columns)
    kept = columns["dataset.txt (kept)"]["lines"]
    notes = pd.DataFrame({"note": [
        f"{kept:,} lines kept"
        + (f" of the raw corpus's {columns['raw corpus']['lines']:,}" if raw else ""),
        "Normalisation keeps one line per line: lower-cased, only \\w+ tokens, joined by single spaces.",
    ]})
    write_tables(table_path, "Corpus", [("Corpus before and after normalisation", table), ("", notes)])
    plot_lengths(plot_path, {
        "dataset.txt": columns["dataset.txt (kept)"]["length_histogram"],
        "proc_dataset.txt": columns["proc_dataset.txt (normalised)"]["length_histogram"],
    }, data_path=plot_data_path)
    write_json(json_path, columns)
    logging.info("corpus: %s", {k: v["lines"] for k, v in columns.items()})
    return columns
