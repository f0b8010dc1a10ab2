"""The planned job graph, as Snakemake itself works it out, in plain data for `plan.py` and `dag.py`.

`load_plan(args)` takes the same arguments as the `snakemake` command (targets, `--configfile`, `--config`,
`-s`, ...) and builds the DAG in this process through Snakemake's own command-line front end, so every option
means exactly what it means to `snakemake -n`. Nothing runs and nothing is written but Snakemake's usual log.

Snakemake's dry-run gives a params change as "before: 4096 now: 3000": its metadata keeps the values of a
job's params, sorted, without their names. Matching them against the current job's named params recovers
which parameter changed: `vocab_size: 4096 → 3000`.

This reads Snakemake's internals (the DAG, its Reason objects, the persistence records), which are not a
public API: they are read only under the Snakemake releases in SUPPORTED (requirements.txt pins one of them),
and tests/pipeline/test_plan.py runs all of it against a real workflow. Snakemake's public views of the same plan are
`snakemake -n` (jobs and reasons), `--list-changes params` and `--dag`; what this adds is the name of the
changed param and the per-shard jobs collapsed into one row or node.
"""

import collections
import contextlib
import io
import os
import sys
from dataclasses import dataclass, field
from unittest import mock

# The pipeline's package (its logs module) lives in scripts/.
SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)

from bert_pretraining.logs import PipelineError  # noqa: E402

MAX_FILES_SHOWN = 3


@dataclass
class Job:
    id: int
    rule: str
    wildcards: dict
    outputs: list
    exists: list  # one bool per output
    output_patterns: list  # the rule's outputs, with {wildcards}
    needrun: bool
    why: list = field(default_factory=list)  # (kind, detail) pairs, empty when up to date
    deps: list = field(default_factory=list)  # ids of the jobs this one needs
    checkpoint: bool = False
    params_changed: list = field(default_factory=list)  # (name, before, now)

    @property
    def label(self):
        return " ".join([self.rule, *(f"{k}={v}" for k, v in self.wildcards.items())])

    @property
    def reasons(self):
        return [f"{kind}: {detail}" if detail else kind for kind, detail in self.why]


@dataclass
class Plan:
    targets: list
    config: dict
    jobs: list

    @property
    def pending_checkpoints(self):
        """Checkpoints still to run: the jobs after them are planned only once they have."""
        return [job for job in self.jobs if job.checkpoint and job.needrun]


class PlanError(PipelineError):
    pass


# The Snakemake releases whose internals this module was written and tested against.
SUPPORTED = ("9.27.",)


def check_snakemake_version():
    import snakemake

    if not snakemake.__version__.startswith(SUPPORTED):
        raise PlanError(
            f"tools/plan.py and tools/dag.py read Snakemake's internals and support Snakemake {', '.join(SUPPORTED)}x, "
            f"not {snakemake.__version__}: install requirements.txt's pin, or use `snakemake -n` and `--dag`"
        )


def files_phrase(files):
    files = sorted(map(str, files))
    shown = ", ".join(files[:MAX_FILES_SHOWN])
    return shown + (f" and {len(files) - MAX_FILES_SHOWN} more" if len(files) > MAX_FILES_SHOWN else "")


def params_changes(recorded, named_now):
    """[(name, before, now)] from the recorded serialised values (sorted, nameless) and the current (name, value)s.

    A current value missing from the record belongs to a changed parameter; its earlier value is the recorded
    value no longer in use. With several changes, earlier values are paired by kind (number, string, ...)
    where that is unambiguous, and otherwise listed together.
    """
    remaining = collections.Counter(recorded)
    changed = []
    for name, value in named_now:
        if remaining[value] > 0:
            remaining[value] -= 1
        else:
            changed.append((name, value))
    old = sorted(remaining.elements())
    if len(changed) == 1 and len(old) == 1:
        return [(changed[0][0], old[0], changed[0][1])]
    old_by_kind = collections.defaultdict(list)
    for value in old:
        old_by_kind[_kind(value)].append(value)
    new_kinds = collections.Counter(_kind(value) for _, value in changed)
    out = []
    for name, value in changed:
        candidates = old_by_kind[_kind(value)]
        if not candidates:
            before = "(new)"  # a parameter the rule did not have when the output was made
        elif len(candidates) == 1 and new_kinds[_kind(value)] == 1:
            before = candidates[0]
        else:
            before = " / ".join(candidates)
        out.append((name, before, value))
    if not changed and old:
        out.append(("(removed)", " / ".join(old), "(none)"))
    return out


def _kind(serialised):
    if serialised[:1] in "'\"":
        return "str"
    if serialised[:1] in "[{(":
        return "container"
    if serialised in ("True", "False", "None"):
        return serialised
    return "number"


def _reasons(dag, job, producers, params_changed, incomplete=()):
    """(kind, detail) pairs saying why `job` runs, from Snakemake's own Reason.

    The kind ("missing output") is what many jobs of one rule have in common; the detail names the files.
    `incomplete`: the job's outputs that Snakemake marks as left by an interrupted job.
    """
    reason = dag.reason(job)
    out = []
    if incomplete:
        # With --rerun-incomplete (the workflow profile) Snakemake forces these jobs and says only "forced".
        out.append(("incomplete output (an interrupted run)", files_phrase(incomplete)))
    elif reason.forced:
        out.append(("forced", ""))
    if reason.noio or reason.nooutput:
        out.append(("always runs (no output files)", ""))
    if reason.missing_output:
        out.append(("missing output", files_phrase(reason.missing_output)))
    newer = set(reason.updated_input) - set(reason.updated_input_run)
    if newer:
        out.append(("newer input", files_phrase(newer)))
    if reason.updated_input_run:
        rules = sorted({producers[f] for f in map(str, reason.updated_input_run) if f in producers})
        kind = f"input rebuilt by {', '.join(rules) or 'another job'}"
        out.append((kind, files_phrase(reason.updated_input_run)))
    if reason.input_changed:
        out.append(("set of input files changed", ""))
    if reason.code_changed:
        out.append(("rule code changed", ""))
    if params_changed:
        out.append(("params changed: " + ", ".join(f"{n}: {b} → {a}" for n, b, a in params_changed), ""))
    elif reason.params_changed:
        out.append((f"params changed: {reason.params_changed}", ""))
    if reason.software_stack_changed:
        out.append(("software environment changed", ""))
    if not out and dag.needrun(job):
        out.append((str(reason) or "needed by a target", ""))
    return out


def _job_params_changes(workflow, job):
    """Named params changes of `job` against the metadata of its first output that has a record."""
    persistence = workflow.persistence
    for f in job.output:
        record = persistence.metadata(f)
        if record is None or record.params is None or (record.record_format_version or 0) < 6:
            continue
        serialise = persistence._serialize_param
        non_derived = job.non_derived_params
        named = [
            (name, serialise(value))
            for name, value in job.params.items()
            if any(value is v for v in non_derived)
        ]
        # Snakemake records no value it cannot represent as text; neither do we.
        named = [(name, value) for name, value in named if isinstance(value, str)]
        if sorted(v for _, v in named) == sorted(record.params):
            return []
        return params_changes(record.params, named)
    return []


def _collect(workflow, earlier=None):
    """The plan from Snakemake's DAG; `earlier`: {job: its dependencies} before checkpoints were resolved."""
    dag = workflow.dag
    jobs = list(dag.jobs)
    dropped = _dropped_checkpoints(jobs, earlier or {})
    jobs += dropped
    ids = {job: i for i, job in enumerate(jobs)}
    producers = {str(f): job.rule.name for job in jobs if dag.needrun(job) for f in job.output}
    # Once a checkpoint has run, the files inside its output folder (the shards) are inputs that no job makes,
    # so Snakemake gives their readers no edge to it; draw one, where the checkpoint is in the plan.
    folders = {os.path.normpath(str(f)): job for job in jobs for f in job.output if f.is_directory}
    out = []
    for job in jobs:
        changed = _job_params_changes(workflow, job) if dag.needrun(job) else []
        incomplete = workflow.async_run(workflow.persistence.incomplete(job)) if dag.needrun(job) else []
        out.append(
            Job(
                id=ids[job],
                rule=job.rule.name,
                wildcards=dict(job.wildcards.items()),
                outputs=[str(f) for f in job.output],
                output_patterns=[str(f) for f in job.rule.output],
                exists=[os.path.exists(f) for f in job.output],
                needrun=bool(dag.needrun(job)),
                why=_reasons(dag, job, producers, changed, incomplete) if dag.needrun(job) else [],
                deps=sorted({ids[d] for d in (earlier[job] if job in dropped else dag.dependencies[job]) if d in ids}
                            | {ids[d] for d in _folder_producers(job, folders) if d is not job}),
                checkpoint=bool(job.is_checkpoint),
                params_changed=changed,
            )
        )
    return Plan(targets=list(workflow.dag_settings.targets), config=dict(workflow.config), jobs=out)


def _dropped_checkpoints(jobs, earlier):
    """Up-to-date checkpoint jobs that Snakemake planned and then left out, and what only they needed.

    A job that reads files inside a checkpoint's folder (a shard) waits for the checkpoint at first; once its
    output is found complete, Snakemake re-plans that job with the files themselves as inputs, which no job
    makes, and drops the checkpoint job from the DAG. It is still part of the chain (`normalize -> shard ->
    pretraining_data`), and an up-to-date one, so it is shown. (The pipeline's per-shard rules also take
    `shards.txt`, which `shard` makes, so that Snakemake's own graphs keep it; a rule that reads only files
    inside the folder relies on this.)
    """
    kept = set(jobs)
    dropped, queue = [], [
        job for job in earlier
        if job not in kept and job.is_checkpoint and _holds_input(job, jobs)
    ]
    while queue:
        job = queue.pop()
        if job in kept:
            continue
        kept.add(job)
        dropped.append(job)
        queue += [d for d in earlier.get(job, ()) if d not in kept]
    return dropped


def _holds_input(checkpoint, jobs):
    """Whether one of `checkpoint`'s output folders holds an input of one of `jobs`."""
    folders = {os.path.normpath(str(f)): checkpoint for f in checkpoint.output if f.is_directory}
    return any(_folder_producers(job, folders) for job in jobs)


def _folder_producers(job, folders):
    """The jobs whose output folder holds one of `job`'s inputs."""
    found = set()
    for f in job.input:
        path = os.path.normpath(str(f))
        # Up to "" for a relative path, up to "/" for an absolute one, where dirname stops changing.
        while path and path != (parent := os.path.dirname(path)):
            path = parent
            if path in folders:
                found.add(folders[path])
                break
    return found


def load_plan(args):
    """Plan the jobs for `snakemake *args` (without running any) and return it as a `Plan`.

    Raises PlanError with Snakemake's message when the workflow cannot be planned (a bad config, say).
    """
    from snakemake import api, cli

    check_snakemake_version()
    result = {}

    def capture(dag_api, detailed=False):
        # Stands in for `--summary`: the same DAG preparation, then our own reading of it.
        workflow = dag_api.workflow_api._workflow
        # As a run would: outputs of interrupted jobs are re-run (--rerun-incomplete) or refused.
        ignore_incomplete = getattr(workflow.execution_settings, "ignore_incomplete", False)
        workflow._prepare_dag(
            forceall=workflow.dag_settings.forceall, ignore_incomplete=ignore_incomplete, lock_warn_only=True
        )
        # Workflow._build_dag in its two steps, noting the jobs in between: resolving the checkpoints drops
        # those that are up to date (see _dropped_checkpoints).
        dag = workflow.dag
        workflow.async_run(dag.init())
        earlier = {job: set(dag.dependencies[job]) for job in dag.jobs}
        workflow.async_run(dag.update_checkpoint_dependencies())
        result["plan"] = _collect(workflow, earlier)

    # Snakemake's progress lines and errors go to stderr: keep them, and show them only if planning fails.
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
        try:
            parser, parsed = cli.parse_args(["--summary", *args])
        except SystemExit:  # argparse wrote its usage, then what is wrong with the arguments
            raise PlanError(err.getvalue().strip().splitlines()[-1]) from None
        if parsed.cores is None and parsed.jobs is None:
            parsed.cores = 1  # as for `snakemake -n`: rules with `threads: workflow.cores` need a number to plan
        with mock.patch.object(api.DAGApi, "summary", capture):
            ok = cli.args_to_api(parsed, parser)
    if not ok or "plan" not in result:
        raise PlanError(err.getvalue().strip() or "snakemake could not plan the workflow")
    return result["plan"]


@dataclass
class Group:
    """One job, or all the jobs of a rule that has many (per-shard jobs), shown as one node or row."""

    key: str
    rule: str
    jobs: list
    collapsed: bool

    @property
    def to_run(self):
        return sum(job.needrun for job in self.jobs)

    @property
    def state(self):
        """'done' (nothing to run), 'run' (every job runs) or 'partial'."""
        return "done" if not self.to_run else "run" if self.to_run == len(self.jobs) else "partial"

    @property
    def label(self):
        return f"{self.rule} ×{len(self.jobs)}" if self.collapsed else self.jobs[0].label

    @property
    def reasons(self):
        """Why the jobs run: a single job's reasons in full; for many, each kind of reason with its count."""
        if not self.collapsed:
            return self.jobs[0].reasons
        kinds = collections.Counter(kind for job in self.jobs for kind, _ in job.why)
        return [f"{kind} ({n} of {len(self.jobs)} jobs)" for kind, n in kinds.items()]


def group_jobs(plan, collapse=3, rules_only=False):
    """Groups in dependency order (inputs first) and the edges between them as (from key, to key).

    A rule with more than `collapse` jobs becomes one group, so that 400 per-shard jobs are one node or row;
    `rules_only` makes one group per rule (the rule graph).
    """
    by_rule = collections.defaultdict(list)
    for job in plan.jobs:
        by_rule[job.rule].append(job)
    key_of, groups = {}, {}
    for rule, jobs in by_rule.items():
        if rules_only or len(jobs) > collapse:
            groups[rule] = Group(rule, rule, jobs, collapsed=len(jobs) > 1)
            key_of.update((job.id, rule) for job in jobs)
        else:
            for job in jobs:
                key = job.label
                groups[key] = Group(key, rule, [job], collapsed=False)
                key_of[job.id] = key
    edges = sorted(
        {(key_of[d], key_of[job.id]) for job in plan.jobs for d in job.deps if key_of[d] != key_of[job.id]}
    )
    return _toposorted(groups, edges), edges


def _toposorted(groups, edges):
    """Kahn's algorithm; ties broken by name, so the same plan always gives the same file."""
    import heapq

    incoming = collections.Counter(b for _, b in edges)
    children = collections.defaultdict(list)
    for a, b in edges:
        children[a].append(b)
    ready = [key for key in groups if not incoming[key]]
    heapq.heapify(ready)
    out = []
    while ready:
        key = heapq.heappop(ready)
        out.append(groups[key])
        for child in children[key]:
            incoming[child] -= 1
            if not incoming[child]:
                heapq.heappush(ready, child)
    return out
