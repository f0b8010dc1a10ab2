"""`dag`: the job graph (or the rule graph) of a planned run, as Graphviz DOT, SVG and a Mermaid block.

    .venv/bin/python tools/dag.py train                # results/dag/jobs.{dot,mmd,svg}
    .venv/bin/python tools/dag.py --rulegraph train    # results/dag/rules.{dot,mmd,svg}

Unlike `snakemake --dag`, a rule with more than `--collapse` jobs (the per-shard ones) is drawn as one node
with its count, so a 400-shard plan is still a picture a person can read. Jobs already built are grey and
dashed; jobs that will run are orange; a collapsed node with both is yellow and says how many of each. The SVG
needs Graphviz's `dot`; the DOT and Mermaid files are written without it (Mermaid renders in GitHub's
Markdown). Every other argument goes to Snakemake as to `snakemake -n` (targets first).
"""

import argparse
import os
import shutil
import subprocess
import sys

from jobgraph import PlanError, group_jobs, load_plan  # first: it puts scripts/ on the path
from bert_pretraining.atomic import atomic_path  # noqa: E402

STYLES = {
    # state: (fill, border, font, dashed)
    "done": ("#f1f3f5", "#868e96", "#495057", True),
    "run": ("#ffd8a8", "#e8590c", "#212529", False),
    "partial": ("#fff3bf", "#e8590c", "#212529", True),
    "plain": ("#e7f5ff", "#1c7ed6", "#212529", False),
}
LEGEND = {"done": "up to date", "run": "will run", "partial": "some will run"}


def node_lines(group, plain=False):
    """The lines of a node's label: the job (or rule and count), then what is left to run."""
    if plain:
        return [group.rule if group.collapsed else group.label]  # no counts: a picture of the rules, not of a run
    if not group.collapsed:
        return [group.label]
    n = len(group.jobs)
    if group.state == "partial":
        return [group.rule, f"{n} jobs: {n - group.to_run} done, {group.to_run} to run"]
    return [group.rule, f"{n} jobs, {'all done' if group.state == 'done' else 'all to run'}"]


def tooltip(group):
    return "; ".join(group.reasons) or "up to date"


def _dot_quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(groups, edges, plain=False, legend=True):
    ids = {g.key: f"n{i}" for i, g in enumerate(groups)}
    lines = [
        "digraph snakemake_dag {",
        '    graph [rankdir=TB, fontname="sans-serif", bgcolor="white"];',
        '    node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
        '    edge [color="#495057"];',
    ]
    for g in groups:
        fill, border, font, dashed = STYLES["plain" if plain else g.state]
        style = "rounded,filled,dashed" if dashed else "rounded,filled"
        label = "\\n".join(line.replace('"', '\\"') for line in node_lines(g, plain))
        attrs = f'label="{label}", fillcolor="{fill}", color="{border}", fontcolor="{font}", style="{style}"'
        if not plain:
            attrs += f", tooltip={_dot_quote(tooltip(g))}"
        lines.append(f"    {ids[g.key]} [{attrs}];")
    for a, b in edges:
        lines.append(f"    {ids[a]} -> {ids[b]};")
    if legend and not plain:
        lines.append('    subgraph cluster_legend { label="legend"; fontsize=10; color="#ced4da";')
        for state, text in LEGEND.items():
            fill, border, font, dashed = STYLES[state]
            style = "rounded,filled,dashed" if dashed else "rounded,filled"
            lines.append(f'        legend_{state} [label="{text}", fillcolor="{fill}", color="{border}", '
                         f'fontcolor="{font}", style="{style}", fontsize=9];')
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text):
    # Mermaid's quoted labels take HTML entities; a double quote would end the label.
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def to_mermaid(groups, edges, plain=False, legend=True, header=()):
    """A `flowchart` for a ```mermaid block; `header` lines become `%%` comments."""
    ids = {g.key: f"n{i}" for i, g in enumerate(groups)}
    lines = [f"%% {h}" for h in header] + ["flowchart TB"]
    for state, (fill, border, font, dashed) in STYLES.items():
        dash = ",stroke-dasharray: 5 5" if dashed else ""
        lines.append(f"    classDef {state} fill:{fill},stroke:{border},color:{font},stroke-width:2px{dash}")
    for g in groups:
        label = "<br/>".join(_mermaid_text(line) for line in node_lines(g, plain))
        lines.append(f'    {ids[g.key]}["{label}"]:::{"plain" if plain else g.state}')
    for a, b in edges:
        lines.append(f"    {ids[a]} --> {ids[b]}")
    if legend and not plain:
        lines.append('    subgraph legend ["legend"]')
        lines.append("        direction LR")
        for state, text in LEGEND.items():
            lines.append(f'        legend_{state}["{text}"]:::{state}')
        lines.append("    end")
    return "\n".join(lines) + "\n"


def render_svg(dot_text, svg_path):
    """SVG through Graphviz's `dot`; False (and nothing written) when `dot` is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        return False
    with atomic_path(svg_path) as tmp:
        subprocess.run([dot, "-Tsvg", "-o", tmp], input=dot_text, text=True, check=True)
    return True


def write_graph(plan, prefix, *, rulegraph=False, collapse=3, plain=False, svg=True):
    """Write `prefix`.dot, `prefix`.mmd and (with Graphviz) `prefix`.svg; returns the paths written."""
    groups, edges = group_jobs(plan, collapse, rules_only=rulegraph)
    header = [f"{'rule' if rulegraph else 'job'} graph of: {' '.join(plan.targets)}",
              "generated by tools/dag.py; do not edit"]
    written = []
    texts = {".dot": to_dot(groups, edges, plain), ".mmd": to_mermaid(groups, edges, plain, header=header)}
    for suffix, text in texts.items():
        with atomic_path(prefix + suffix) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(prefix + suffix)
    if svg and render_svg(texts[".dot"], prefix + ".svg"):
        written.append(prefix + ".svg")
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--rulegraph", action="store_true", help="one node per rule")
    parser.add_argument("--collapse", type=int, default=3, metavar="N",
                        help="one node for a rule with more than N jobs (default 3)")
    parser.add_argument("--out", metavar="PREFIX",
                        help="output path without suffix (default <results>/dag/jobs or <results>/dag/rules)")
    parser.add_argument("--plain", action="store_true",
                        help="no done/to-run styling or legend (for documentation pictures)")
    args, snakemake_args = parser.parse_known_args(argv)
    try:
        plan = load_plan(snakemake_args)
    except PlanError as error:
        print(error, file=sys.stderr)
        return 1
    prefix = args.out or os.path.join(plan.config.get("results", "results"), "dag",
                                      "rules" if args.rulegraph else "jobs")
    written = write_graph(plan, prefix, rulegraph=args.rulegraph, collapse=args.collapse, plain=args.plain)
    for path in written:
        print(path)
    if not any(p.endswith(".svg") for p in written):
        print("no SVG: Graphviz's `dot` is not installed (apt-get install graphviz); "
              "the .mmd renders in Markdown without it", file=sys.stderr)
    for job in plan.pending_checkpoints:
        print(f"note: `{job.rule}` is a checkpoint still to run; the jobs after it appear once it has run",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
