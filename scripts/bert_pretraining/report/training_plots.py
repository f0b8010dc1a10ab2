"""Report, training section: loss, masked-LM accuracy and next-sentence accuracy against step (from the
training manifest's logged windows: the whole curve from step 0 over every phase, a dashed line where a session
resumed, a solid one where phase 2 began),
sequences per second and the final held-out evaluation.
"""

import json
import logging

import pandas as pd

from bert_pretraining.report.report_common import plt, save_figure, write_json, write_tables

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


def phases(manifest):
    """Every training phase's summary, oldest first: the manifest describes the last one."""
    return manifest.get("previous_phases", []) + [manifest]


def whole_curve(manifest):
    """(log windows, steps where a later session resumed, [(step, phase label)] where a later phase began), one
    step axis over all phases: a phase's steps count on from the previous phase's final step."""
    windows, resumes, starts, offset = [], [], [], 0
    for number, phase in enumerate(phases(manifest)):
        windows += [dict(row, step=row["step"] + offset) for row in phase.get("losses", [])]
        resumes += [session["start_step"] + offset for session in phase.get("sessions", [])[1:]]
        if number:
            starts.append((offset, f"{phase['phase']} ({phase['max_seq_length']} tokens)"))
        offset += phase.get("final_step", 0)
    return windows, resumes, starts


def plot_curves(path, manifest, data_path=None):
    windows, resumes, starts = whole_curve(manifest)
    data = series(windows)
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
        for step, label in starts:
            ax.axvline(step, color="0.3", linewidth=1)
            ax.text(step, 0.02, f" {label}", transform=ax.get_xaxis_transform(), rotation=90,
                    va="bottom", ha="left", fontsize=7, color="0.2")
        ax.set_title(title)
        ax.set_xlabel("step")
        if sum(key in data for key, _ in lines) > 1:
            ax.legend(fontsize=8)
        if not any(key in data for key, _ in lines):
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    steps = sum(phase.get("final_step", 0) for phase in phases(manifest))
    fig.suptitle(f"training to step {steps} (batch {manifest.get('batch_size', '?')})")
    fig.tight_layout()
    save_figure(fig, path, {**{key: {"step": s, "value": v} for key, (s, v) in data.items()}, "resumed_at": resumes,
                            "phase_starts": [{"step": step, "phase": label} for step, label in starts]},
                data_path=data_path)
    return data


def summary_tables(manifest, metrics):
    last = manifest["losses"][-1] if manifest.get("losses") else {}
    run = [
        ("phases (steps, tokens per example, batch)", ", ".join(
            f"{p.get('phase', 'phase1')}: {p.get('final_step')}, {p.get('max_seq_length')}, {p.get('batch_size')}"
            for p in phases(manifest))),
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
    logging.info("training: %d logged points, %d phase(s), final step %s", len(whole_curve(manifest)[0]),
                 len(phases(manifest)), manifest.get("final_step"))
    return data
