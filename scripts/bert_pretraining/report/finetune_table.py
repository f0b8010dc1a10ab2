"""Report, fine-tuning section: what pre-training bought. Per dev set and metric, the pre-trained and the
random-init model's mean ± standard deviation over seeds (finetune/scores.json), their difference, and the
score of always answering the training file's most frequent class; then the fine-tuning settings."""

import json

import numpy as np
import pandas as pd

from bert_pretraining.report.report_common import write_json, write_tables

INITIALISATIONS = {"pretrained": "pre-trained", "random_init": "random init"}


def spread(values):
    """(mean, population standard deviation) over seeds; (None, None) where a seed had no value (no correlation)."""
    if not values or any(value is None for value in values):
        return None, None
    return float(np.mean(values)), float(np.std(values))


def show(mean, std):
    return "n/a" if mean is None else f"{mean:.4f} ± {std:.4f}"


def rows(scores):
    """One row per dev set and metric, the headline metric first."""
    out = []
    for dev, entry in scores["tasks"].items():
        for metric in entry["metrics"]:
            row = {"dev set": dev, "metric": metric}
            means = {}
            for init, label in INITIALISATIONS.items():
                per_seed = entry[init]["per_seed"]
                means[init], std = spread([values[metric] for values in per_seed.values()])
                row[label] = show(means[init], std)
                row[f"{label}, per seed"] = " ".join(
                    "n/a" if values[metric] is None else f"{values[metric]:.4f}" for values in per_seed.values())
            both = None not in means.values()
            row["difference"] = f"{means['pretrained'] - means['random_init']:+.4f}" if both else "n/a"
            floor = entry.get("majority_class", {}).get(metric)
            row["majority class"] = "-" if floor is None else f"{floor:.4f}"
            row["train / dev examples"] = f"{entry['train_examples']:,} / {entry['dev_examples']:,}"
            out.append(row)
    return out


def main(*, scores_path, table_path, json_path):
    with open(scores_path) as f:
        scores = json.load(f)
    table = rows(scores)
    settings = scores.get("settings", {})
    shown = {key: ", ".join(map(str, value)) if isinstance(value, list) else value
             for key, value in settings.items() if key != "tasks"}
    write_tables(table_path, "Fine-tuning", [
        ("Dev-set scores: pre-trained against random init, mean ± standard deviation over seeds",
         pd.DataFrame(table)),
        ("Fine-tuning settings (finetune.*)", pd.DataFrame({"setting": list(shown), "value": list(shown.values())})),
    ])
    write_json(json_path, {"rows": table, "settings": settings})
    return table
