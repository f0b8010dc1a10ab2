"""Report, training section: loss, masked-LM accuracy and next-sentence accuracy against step (from the
training manifest's logged windows: the whole curve from step 0, a dashed line where a session resumed),
sequences per second and the final held-out evaluation.
"""

import json
import logging

import pandas as pd

from report_common import plt, save_figure, write_json, write_tables

CURVES = [
    # panel title, [(manifest key, legend)]
    ("loss", [("loss", "total"), ("mlm_loss", "masked LM"), ("nsp_loss", "next sentence")]),
    ("masked-LM accuracy", [("mlm_accuracy", "masked LM")]),
    ("next-sentence accuracy", [("nsp_accuracy", "next sentence")]),
]


def read_json(path):
    with open(path) as f:
        return json.load(f)


def series(losses):
    """{manifest key: ([steps], [values])} for every curve the manifest has."""
    out = {}
    for _, lines in CURVES:
        for key, _ in lines:
            points = [(row["step"], row[key]) for row in losses if key in row]
            if points:
                out[key] = ([s for s, _ in points], [v for _, v in points])
    return out


def resumed_at(manifest):
    """The steps at which a later session took over from a checkpoint."""
    return [session["start_step"] for session in manifest.get("sessions", [])[1:]]


def plot_curves(path, manifest, data_path=None):
    data = series(manifest.get("losses", []))
    resumes = resumed_at(manifest)
    fig, axes = plt.subplots(1, len(CURVES), figsize=(13, 3.8))
    for ax, (title, lines) in zip(axes, CURVES):
        for key, legend in lines:
            if key in data:
                steps, values = data[key]
                ax.plot(steps, values, marker="." if len(steps) < 30 else None, label=legend)
                # The last value, written on the plot: what the run ended with.
                ax.annotate(f"{values[-1]:.4f}", (steps[-1], values[-1]), textcoords="offset points",
                            xytext=(-4, 6), ha="right", fontsize=8)
        for step in resumes:
            ax.axvline(step, color="0.6", linestyle="--", linewidth=1)
            ax.text(step, 0.98, f" resumed at {step}", transform=ax.get_xaxis_transform(), rotation=90,
                    va="top", ha="left", fontsize=7, color="0.4")
        ax.set_title(title)
        ax.set_xlabel("step")
        if sum(key in data for key, _ in lines) > 1:
            ax.legend(fontsize=8)
        if not any(key in data for key, _ in lines):
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"training to step {manifest.get('final_step', '?')} (batch {manifest.get('batch_size', '?')})")
    fig.tight_layout()
    save_figure(fig, path, {**{key: {"step": s, "value": v} for key, (s, v) in data.items()}, "resumed_at": resumes},
                data_path=data_path)
    return data


def summary_tables(manifest, metrics):
    last = manifest["losses"][-1] if manifest.get("losses") else {}
    run = [
        ("steps trained (final step)", manifest.get("final_step")),
        ("resumed from step", manifest.get("start_step")),
        ("sessions (the step each began at)", ", ".join(str(s["start_step"]) for s in manifest.get("sessions", []))
         or None),
        ("batch size", manifest.get("batch_size")),
        ("backend, platform, replicas", f"{manifest.get('backend')}, {manifest.get('platform')}, "
                                        f"{manifest.get('replicas')}"),
        ("precision", manifest.get("precision")),
        ("training time, all sessions (s)", manifest.get("train_seconds")),
        ("sequences per second (last session)", manifest.get("sequences_per_second")),
        ("final logged loss", last.get("loss")),
    ]
    evaluation = [
        ("held-out examples", metrics.get("examples")),
        ("masked tokens", metrics.get("masked_tokens")),
        ("masked-LM accuracy", metrics.get("masked_lm_accuracy")),
        ("masked-LM accuracy of the most frequent token (baseline)", metrics.get("most_frequent_token_accuracy")),
        ("masked-LM loss", metrics.get("masked_lm_loss")),
        ("next-sentence accuracy", metrics.get("next_sentence_accuracy")),
        ("next-sentence loss", metrics.get("next_sentence_loss")),
    ]
    frame = lambda rows: pd.DataFrame([r for r in rows if r[1] is not None], columns=["measure", "value"],
                                      dtype=object)
    return [("Training run", frame(run)), ("Final evaluation on the held-out shard", frame(evaluation))]


def main(*, manifest_path, metrics_path, plot_path, table_path, json_path, plot_data_path=None):
    manifest = read_json(manifest_path)
    metrics = read_json(metrics_path) if metrics_path else manifest.get("eval", {})
    data = plot_curves(plot_path, manifest, data_path=plot_data_path)
    write_tables(table_path, "Training", summary_tables(manifest, metrics))
    write_json(json_path, {"curves": data, "evaluation": metrics, "sessions": manifest.get("sessions", []),
                           "sequences_per_second": manifest.get("sequences_per_second")})
    logging.info("training: %d logged points, final step %s", len(manifest.get("losses", [])),
                 manifest.get("final_step"))
    return data


if __name__ == "__main__" and "snakemake" in globals():
    from logs import rule_log

    with rule_log(snakemake.log[0]):  # noqa: F821
        main(
            manifest_path=snakemake.input.manifest,  # noqa: F821
            metrics_path=snakemake.input.eval_metrics,  # noqa: F821
            plot_path=snakemake.output.plot,  # noqa: F821
            plot_data_path=snakemake.output.plot_data,  # noqa: F821
            table_path=snakemake.output.table,  # noqa: F821
            json_path=snakemake.output.json,  # noqa: F821
        )
