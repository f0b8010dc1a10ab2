"""Report, pre-training data section: instances per shard, sequence lengths, masked tokens and their 80/10/10
split, and the random-next share, summed over the statistics each `pretraining_data` job writes beside its
`.tfrecord` (scripts/pretraining_data.py), so the records themselves are not read again.
"""

import json
import logging

import numpy as np
import pandas as pd

from bert_pretraining.report.report_common import plt, save_figure, write_json, write_tables


def read_stats(paths):
    stats = []
    for path in paths:
        with open(path) as f:
            stats.append(json.load(f))
    return sorted(stats, key=lambda s: s["shard"])


def totals(stats):
    """Sums over the shards, and the shares and means they give."""
    keys = ["lines", "documents", "sentences", "tokens", "unknown_tokens", "instances", "random_next",
            "masked_positions", "masked_replaced_by_mask", "masked_replaced_by_random", "masked_unchanged"]
    total = {k: sum(s[k] for s in stats) for k in keys}
    width = max(len(s["seq_length_histogram"]) for s in stats)
    histogram = np.zeros(width, np.int64)
    for s in stats:
        histogram[: len(s["seq_length_histogram"])] += s["seq_length_histogram"]
    n, masked = total["instances"], total["masked_positions"]
    total.update(
        shards=len(stats),
        seq_length_histogram=histogram.tolist(),
        mean_seq_length=float((histogram * np.arange(width)).sum() / n) if n else 0.0,
        full_length_share=float(histogram[-1] / n) if n else 0.0,
        random_next_share=total["random_next"] / n if n else 0.0,
        masked_per_instance=masked / n if n else 0.0,
        mask_share=total["masked_replaced_by_mask"] / masked if masked else 0.0,
        random_share=total["masked_replaced_by_random"] / masked if masked else 0.0,
        unchanged_share=total["masked_unchanged"] / masked if masked else 0.0,
        unknown_share=total["unknown_tokens"] / total["tokens"] if total["tokens"] else 0.0,
    )
    return total


def shard_table(stats, total):
    rows = []
    for s in stats + [dict(total, shard="all shards")]:
        masked = s["masked_positions"] or 1
        rows.append({
            "shard": s["shard"],
            "lines": s["lines"],
            "documents": s["documents"],
            "tokens": s["tokens"],
            "[UNK] tokens": s["unknown_tokens"],
            "instances": s["instances"],
            "mean length": s["mean_seq_length"],
            "full length": f"{s['full_length_share']:.1%}",
            "random next": f"{s['random_next_share']:.1%}",
            "masked / instance": s["masked_positions"] / s["instances"] if s["instances"] else 0.0,
            "[MASK]": f"{s['masked_replaced_by_mask'] / masked:.1%}",
            "random token": f"{s['masked_replaced_by_random'] / masked:.1%}",
            "unchanged": f"{s['masked_unchanged'] / masked:.1%}",
        })
    return pd.DataFrame(rows, dtype=object)


def plot(path, stats, total, data_path=None):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    hist = total["seq_length_histogram"]
    left.bar(np.arange(len(hist)), hist, width=1.0, color="#4c6ef5")
    left.set_yscale("log")  # the spike at max_seq_length would flatten the rest
    left.set_xlabel("tokens per instance")
    left.set_ylabel("instances")
    left.set_title(f"{total['instances']:,} instances, mean length {total['mean_seq_length']:.1f}")
    names = [s["shard"].replace("shard_", "") for s in stats]
    right.bar(range(len(stats)), [s["instances"] for s in stats], color="#12b886")
    if len(names) <= 20:
        right.set_xticks(range(len(names)), names, rotation=90)
    right.set_xlabel("shard")
    right.set_ylabel("instances")
    right.set_title(f"instances per shard ({len(stats)} shards)")
    fig.tight_layout()
    save_figure(fig, path, {
        "seq_length_histogram": hist,
        "instances_per_shard": {s["shard"]: s["instances"] for s in stats},
    }, data_path=data_path)


def main(*, stats_paths, table_path, plot_path, json_path, plot_data_path=None):
    stats = read_stats(stats_paths)
    if not stats:
        raise ValueError("no pre-training statistics to report: are there any shards?")
    total = totals(stats)
    overview = pd.DataFrame(
        [
            ("shards", total["shards"]),
            ("instances", total["instances"]),
            ("mean sequence length (tokens)", total["mean_seq_length"]),
            ("instances at max_seq_length", f"{total['full_length_share']:.1%}"),
            ("masked positions", total["masked_positions"]),
            ("masked positions per instance", total["masked_per_instance"]),
            ("replaced by [MASK] (recipe: 80%)", f"{total['mask_share']:.2%}"),
            ("replaced by a random token (recipe: 10%)", f"{total['random_share']:.2%}"),
            ("kept unchanged (recipe: 10%)", f"{total['unchanged_share']:.2%}"),
            ("random next sentence (recipe: about 50%)", f"{total['random_next_share']:.2%}"),
            ("[UNK] among the tokens read", f"{total['unknown_share']:.3%}"),
        ],
        columns=["measure", "value"],
        dtype=object,
    )
    write_tables(table_path, "Pre-training data",
                 [("All shards", overview), ("Per shard", shard_table(stats, total))])
    plot(plot_path, stats, total, data_path=plot_data_path)
    write_json(json_path, {"total": total, "shards": stats})
    logging.info("pre-training data: %d shards, %d instances", total["shards"], total["instances"])
    return total
