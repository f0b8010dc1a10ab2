"""What the report's stat scripts share: HTML tables, matplotlib figures that carry their data, JSON."""

import html
import json

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display on build machines

import matplotlib.pyplot as plt  # noqa: E402

from bert_pretraining.atomic import atomic_path  # noqa: E402

# Text stays text in the SVG (searchable, and the numbers on a plot can be checked); no date, so a rebuild
# of the same data gives the same bytes.
plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "bert-report", "figure.dpi": 100})

TABLE_STYLE = """<style>
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ced4da; padding: 4px 10px; text-align: right; }
th { background: #f1f3f5; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: bold; padding: 4px 0; }
</style>"""


def write_tables(path, title, tables):
    """A small standalone HTML page of pandas DataFrames; `tables` is a list of (heading, DataFrame)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{TABLE_STYLE}</head><body>"]
    for heading, frame in tables:
        if heading:
            parts.append(f"<h3>{html.escape(heading)}</h3>")
        parts.append(frame.map(format_cell).to_html(index=False, border=0, escape=True))
    parts.append("</body></html>")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))


def format_cell(x):
    """Integers with thousands separators, floats to 4 significant digits; anything else as it is."""
    if isinstance(x, (bool, np.bool_)) or x is None:
        return "" if x is None else str(x)
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    if isinstance(x, (float, np.floating)):
        return f"{x:,.0f}" if abs(x) >= 1e5 else f"{x:.4g}"
    return x


def save_figure(fig, path, data, data_path=None):
    """Save `fig` (SVG or PNG by suffix) with the plotted numbers as JSON in its description, and in the plain
    JSON file `data_path` (when given) for readers without the report's JavaScript.

    The report then shows a picture whose numbers can be read back exactly (`figure_data`), which is how the
    tests check that a plot shows the run's own figures.
    """
    if data_path:
        write_json(data_path, data)
    fmt = path.rsplit(".", 1)[-1]
    metadata = {"Description": json.dumps(data, sort_keys=True)}
    if fmt == "svg":
        metadata["Date"] = None
    with atomic_path(path, suffix="." + fmt) as tmp:
        fig.savefig(tmp, format=fmt, metadata=metadata, bbox_inches="tight")
    plt.close(fig)


def figure_data(svg_text):
    """The JSON that `save_figure` stored in an SVG."""
    import re

    match = re.search(r"<dc:description>(.*?)</dc:description>", svg_text, re.S)
    if match is None:
        raise ValueError("no data in this SVG")
    return json.loads(html.unescape(match.group(1)))


def write_json(path, data):
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
