"""`plan`: what a run would do, before running it. Per target file: exists, up to date or will (re)build, and why.

    .venv/bin/python tools/plan.py train
    .venv/bin/python tools/plan.py train --config tokenizer='{vocab_size: 8000}'
    .venv/bin/python tools/plan.py --json train

Every argument but `--json` and `--collapse` is passed to Snakemake as to `snakemake -n` (targets,
`--configfile`, `--config`, `-s`, ...); put the targets first, as `--configfile` takes several values. Rules
with more than `--collapse` jobs (the per-shard ones) are summarised in one row. Nothing is run or written.
"""

import argparse
import json
import sys

from jobgraph import PlanError, files_phrase, group_jobs, load_plan


def group_row(group):
    """One row of the plan: a job, or all the jobs of a many-job rule."""
    jobs = group.jobs
    outputs = [f for job in jobs for f in job.outputs]
    exist = sum(all(job.exists) for job in jobs)
    if group.collapsed:
        shown = f"{len(jobs)} × " + ", ".join(jobs[0].output_patterns)
        exists = f"{exist}/{len(jobs)}"
    else:
        shown = files_phrase(outputs)
        exists = "yes" if exist else ("partly" if any(any(j.exists) for j in jobs) else "no")
    if not group.to_run:
        status = "up to date"
    elif group.collapsed:
        status = f"{group.to_run} of {len(jobs)} will run"
    else:
        status = "will rebuild" if any(jobs[0].exists) else "will build"
    return {
        "rule": group.rule,
        "job": group.label,
        "jobs": len(jobs),
        "to_run": group.to_run,
        "outputs": outputs if not group.collapsed else jobs[0].output_patterns,
        "shown_outputs": shown,
        "exists": exists,
        "status": status,
        "why": group.reasons,
        "params_changed": sorted({c for job in jobs for c in job.params_changed}),
    }


def plan_rows(plan, collapse=3):
    """Rows for the jobs that make files; target rules without outputs (like `data`, `report`) are left out."""
    groups, _ = group_jobs(plan, collapse)
    return [group_row(g) for g in groups if any(job.outputs for job in g.jobs)]


def summary_line(plan, rows):
    to_run = sum(job.needrun for job in plan.jobs if job.outputs)
    total = sum(1 for job in plan.jobs if job.outputs)
    targets = " ".join(plan.targets) or "the default target"
    if not to_run:
        return f"Plan for {targets}: all {total} jobs up to date, nothing to be done."
    return f"Plan for {targets}: {to_run} of {total} jobs to run."


def format_table(rows, columns):
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns[:-1]}
    lines = ["  ".join(c.ljust(widths.get(c, 0)) for c in columns).rstrip()]
    for row in rows:
        lines.append("  ".join(str(row[c]).ljust(widths.get(c, 0)) for c in columns).rstrip())
    return lines


def render_text(plan, rows):
    lines = [summary_line(plan, rows), ""]
    table = [
        {"job": r["job"], "outputs": r["shown_outputs"], "exists": r["exists"], "status": r["status"],
         "why": "; ".join(r["why"])}
        for r in rows
    ]
    lines += format_table(table, ["job", "outputs", "exists", "status", "why"])
    changed = sorted({c for r in rows for c in r["params_changed"]})
    if changed:
        lines += ["", "Changed parameters: " + ", ".join(f"{n}: {b} → {a}" for n, b, a in changed)]
    for job in plan.pending_checkpoints:
        lines += [
            "",
            f"`{job.rule}` is a checkpoint still to run: the jobs that depend on its output (the per-shard ones)"
            " are planned once it has run, so they are not listed yet.",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--collapse", type=int, default=3, metavar="N",
                        help="one row for a rule with more than N jobs (default 3)")
    args, snakemake_args = parser.parse_known_args(argv)
    try:
        plan = load_plan(snakemake_args)
    except PlanError as error:
        print(error, file=sys.stderr)
        return 1
    rows = plan_rows(plan, args.collapse)
    if args.json:
        json.dump({"targets": plan.targets, "summary": summary_line(plan, rows), "rows": rows,
                   "pending_checkpoints": [j.rule for j in plan.pending_checkpoints]},
                  sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print(render_text(plan, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
