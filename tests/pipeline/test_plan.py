"""`plan` and `dag`: what a run would do and why, and the job graph, on real Snakemake plans."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from jobgraph import Group, Job, Plan, group_jobs, params_changes
from workflow import ROOT, snakemake, workflow_copy, write_config

UPSTREAM = ["download", "subset", "normalize", "shard"]
VOCAB_3000 = ["--config", "tokenizer={vocab_size: 3000}"]


def tool(name, folder, *args, snakefile=None, check=True):
    """Run tools/<name>.py in `folder` with the run's config; Snakemake arguments after the tool's own.

    A plan takes seconds; the timeout turns a hang into a failure."""
    cmd = [sys.executable, os.path.join(ROOT, "tools", f"{name}.py"), *args,
           "-s", snakefile or os.path.join(ROOT, "Snakefile"), "--configfile", os.path.join(folder, "config.yaml")]
    result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def plan_rows(folder, target, *args, **kwargs):
    out = tool("plan", folder, "--json", target, *args, **kwargs).stdout
    return {row["job"]: row for row in json.loads(out)["rows"]}


def mermaid_nodes(text):
    """{label: class} of a Mermaid flowchart's nodes, legend left out."""
    return {
        m.group(2).replace("<br/>", " | "): m.group(3)
        for m in re.finditer(r'^\s+(n\d+)\["(.*)"\]:::(\w+)$', text, re.M)
    }


def mermaid_edges(text):
    """{(from label, to label)} of a Mermaid flowchart; a collapsed node's label is its rule."""
    labels = {m.group(1): m.group(2).split("<br/>")[0]
              for m in re.finditer(r'^\s+(n\d+)\["(.*)"\]:::\w+$', text, re.M)}
    return {(labels[a], labels[b]) for a, b in re.findall(r"^\s+(n\d+) --> (n\d+)$", text, re.M)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    write_config(folder, shards={"lines_per_shard": 4000})
    snakemake(folder, "--cores", "2", "data")
    return folder


def test_plan_names_the_changed_parameter(built):
    rows = plan_rows(built, "data", *VOCAB_3000)
    assert rows["sentencepiece"]["status"] == "will rebuild"
    assert "params changed: vocab_size: 4096 → 3000" in rows["sentencepiece"]["why"]
    vocab = rows["wordpiece_vocab"]
    assert vocab["status"] == "will rebuild"
    assert "input rebuilt by sentencepiece: results/tokenizer.vocab" in vocab["why"]
    assert "params changed: vocab_size: 4096 → 3000" in vocab["why"]
    for rule in UPSTREAM:
        assert (rows[rule]["status"], rows[rule]["exists"], rows[rule]["why"]) == ("up to date", "yes", []), rule
    text = tool("plan", built, "data", *VOCAB_3000).stdout
    stale = sum(r["status"] != "up to date" for r in rows.values())
    assert f"Plan for data: {stale} of {len(rows)} jobs to run." in text
    assert "Changed parameters: vocab_size: 4096 → 3000" in text


def test_snakemake_dry_run_gives_the_values_but_not_the_name(built):
    # What the README says `snakemake -n` shows, and why plan.py names the parameter.
    out = snakemake(built, "-n", "data", *VOCAB_3000).stdout
    reason = next(line for line in out.splitlines() if "Params have changed" in line)
    assert "before: 4096 now: 3000" in reason and "vocab_size" not in reason


def test_plan_when_nothing_changed(built):
    rows = plan_rows(built, "data")
    assert {r["status"] for r in rows.values()} == {"up to date"}
    assert "nothing to be done" in tool("plan", built, "data").stdout


def test_plan_on_a_fresh_checkout(tmp_path):
    write_config(tmp_path)
    result = tool("plan", tmp_path, "data")
    rows = plan_rows(tmp_path, "data")
    assert set(UPSTREAM) | {"sentencepiece", "wordpiece_vocab"} <= set(rows)
    assert all(r["status"] == "will build" and r["exists"] == "no" for r in rows.values())
    assert "missing output: results/raw/corpus.txt" in rows["download"]["why"]
    assert "`shard` is a checkpoint still to run" in result.stdout
    assert not (tmp_path / "results").exists()
    drawn = tool("dag", tmp_path, "--out", str(tmp_path / "graph" / "jobs"), "data")
    nodes = mermaid_nodes((tmp_path / "graph" / "jobs.mmd").read_text())
    assert set(rows) <= set(nodes) and set(nodes.values()) == {"run"}
    assert "jobs after it appear once it has run" in drawn.stderr


def test_plan_of_train_has_every_rule_of_the_chain(built, tmp_path):
    # `shard` is a checkpoint: once it has run, Snakemake plans `train` without it (issue 14).
    chain = ["download", "subset", "normalize", "shard", "pretraining_data", "train"]
    rows = plan_rows(built, "train")
    assert [r for r in chain if not any(row["rule"] == r for row in rows.values())] == []
    assert rows["shard"]["status"] == "up to date"
    tool("dag", built, "--out", str(tmp_path / "jobs"), "train")
    tool("dag", built, "--rulegraph", "--out", str(tmp_path / "rules"), "train")
    for name in ["jobs", "rules"]:
        edges = mermaid_edges((tmp_path / f"{name}.mmd").read_text())
        assert set(zip(chain, chain[1:])) <= edges, name


def test_plan_with_an_absolute_local_corpus(tmp_path):
    # dirname("/") is "/": looking for the folder that holds an input once climbed forever (issue 12).
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"line number {i} of the corpus\n" for i in range(100)))
    write_config(tmp_path, corpus={"source": str(corpus)})
    rows = plan_rows(tmp_path, "data")
    assert "download" not in rows  # a local file is read where it is
    assert rows["subset"]["status"] == "will build"
    tool("dag", tmp_path, "--out", str(tmp_path / "jobs"), "data")
    assert ("subset", "normalize") in mermaid_edges((tmp_path / "jobs.mmd").read_text())


def test_plan_with_a_bad_config_says_which_key(tmp_path):
    write_config(tmp_path, tokenizer={"vocab_size": 200})
    result = tool("plan", tmp_path, "data", check=False)
    assert result.returncode == 1 and "tokenizer.vocab_size" in result.stderr


def test_dag_draws_built_and_stale_jobs_differently(built, tmp_path):
    prefix = str(tmp_path / "jobs")
    tool("dag", built, "--out", prefix, "data", *VOCAB_3000)
    nodes = mermaid_nodes((tmp_path / "jobs.mmd").read_text())
    expected = {"download": "done", "subset": "done", "normalize": "done", "shard": "done",
                "sentencepiece": "run", "wordpiece_vocab": "run", "data": "run"}
    assert {k: nodes.get(k) for k in expected} == expected
    # Every job the plan lists is drawn in the state the plan gives it.
    for job, row in plan_rows(built, "data", *VOCAB_3000).items():
        assert nodes[job] == ("done" if row["status"] == "up to date" else "run"), job
    dot = (tmp_path / "jobs.dot").read_text()
    assert re.search(r'label="download".*style="rounded,filled,dashed"', dot)
    assert re.search(r'label="sentencepiece".*style="rounded,filled"[,\]]', dot)
    assert "params changed: vocab_size: 4096 → 3000" in dot  # the tooltip
    if shutil.which("dot"):
        svg = (tmp_path / "jobs.svg").read_text()
        assert "<svg" in svg and "sentencepiece" in svg
    else:
        assert not (tmp_path / "jobs.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
def test_dot_output_is_valid_graphviz(built, tmp_path):
    prefix = str(tmp_path / "rules")
    tool("dag", built, "--rulegraph", "--out", prefix, "data")
    svg = (tmp_path / "rules.svg").read_text()
    rules = mermaid_nodes((tmp_path / "rules.mmd").read_text())
    assert {"download", "sentencepiece", "shard", "data"} <= set(rules)
    assert svg.count('class="node"') == len(rules) + 3  # the rules and the three legend entries


PER_SHARD = """
rule count_lines:
    input:
        f"{RESULTS}/shards/shard_{{shard}}",
    output:
        f"{RESULTS}/counts/shard_{{shard}}.txt",
    shell:
        "wc -l < {input} > {output}"


rule counts:
    input:
        lambda wildcards: expand(f"{RESULTS}/counts/shard_{{shard}}.txt", shard=shard_ids()),
"""


def test_four_hundred_shards_are_one_node(tmp_path):
    snakefile = workflow_copy(tmp_path, PER_SHARD)
    (tmp_path / "corpus.txt").write_text("".join(f"line number {i} of the corpus\n" for i in range(800)))
    write_config(tmp_path, corpus={"source": str(tmp_path / "corpus.txt")}, shards={"lines_per_shard": 2})
    done = [f"results/counts/shard_{i:04d}.txt" for i in range(4)]
    snakemake(tmp_path, "--cores", "2", "results/shards", snakefile=snakefile)
    snakemake(tmp_path, "--cores", "2", *done, snakefile=snakefile)
    assert len([n for n in os.listdir(tmp_path / "results" / "shards") if n.startswith("shard_")]) == 400

    tool("dag", tmp_path, "--out", str(tmp_path / "jobs"), "counts", snakefile=snakefile)
    graph = (tmp_path / "jobs.mmd").read_text()
    # The shard files are inputs no rule makes, and Snakemake drops the finished checkpoint from its plan;
    # the graph still starts at the corpus, through `shard` (the local corpus file needs no download).
    assert mermaid_nodes(graph) == {"subset": "done", "normalize": "done", "shard": "done",
                                    "count_lines | 400 jobs: 4 done, 396 to run": "partial", "counts": "run"}
    assert {("normalize", "shard"), ("shard", "count_lines"), ("count_lines", "counts")} <= mermaid_edges(graph)

    rows = plan_rows(tmp_path, "counts", snakefile=snakefile)
    per_shard = rows["count_lines ×400"]
    assert (per_shard["jobs"], per_shard["to_run"], per_shard["exists"]) == (400, 396, "4/400")
    assert per_shard["status"] == "396 of 400 will run"
    # One line per kind of reason, not one per shard.
    assert per_shard["why"] == ["missing output (396 of 400 jobs)"]


def test_params_changes_names_each_changed_value():
    assert params_changes(["'unigram'", "256", "4096"], [("vocab_size", "3000"), ("num_placeholders", "256"),
                                                           ("model_type", "'unigram'")]) == [
        ("vocab_size", "4096", "3000")]
    # Two changes of different kinds pair up; two numbers cannot be told apart.
    assert params_changes(["'bpe'", "1", "2"], [("a", "1"), ("b", "3"), ("t", "'unigram'")]) == [
        ("b", "2", "3"), ("t", "'bpe'", "'unigram'")]
    assert params_changes(["1", "2"], [("a", "3"), ("b", "4")]) == [("a", "1 / 2", "3"), ("b", "1 / 2", "4")]
    assert params_changes(["1", "1"], [("a", "1"), ("b", "2")]) == [("b", "1", "2")]
    # A parameter added to a rule, and one taken away.
    assert params_changes(["1"], [("a", "1"), ("b", "'x'")]) == [("b", "(new)", "'x'")]
    assert params_changes(["1", "2"], [("a", "1")]) == [("(removed)", "2", "(none)")]


def test_group_jobs_collapses_many_jobs_of_a_rule():
    jobs = [Job(0, "shard", {}, ["s"], [True], ["s"], False, deps=[])]
    jobs += [Job(i, "per_shard", {"shard": f"{i:04d}"}, [f"o{i}"], [i < 3], ["o{shard}"], i >= 3,
                 why=[("missing output", f"o{i}")] if i >= 3 else [], deps=[0]) for i in range(1, 401)]
    jobs.append(Job(401, "train", {}, ["m"], [False], ["m"], True, deps=list(range(1, 401))))
    groups, edges = group_jobs(Plan(["train"], {}, jobs), collapse=3)
    assert [g.label for g in groups] == ["shard", "per_shard ×400", "train"]
    assert [g.state for g in groups] == ["done", "partial", "run"]
    assert groups[1].to_run == 398 and edges == [("per_shard", "train"), ("shard", "per_shard")]
    assert groups[1].reasons == ["missing output (398 of 400 jobs)"]
    few, _ = group_jobs(Plan(["train"], {}, jobs[:4]), collapse=3)
    assert len(few) == 4 and all(isinstance(g, Group) and not g.collapsed for g in few)


def test_committed_rule_graph_is_current(built, tmp_path):
    """docs/rulegraph.mmd must be what tools/dag.py draws for the targets named in its header."""
    committed = (os.path.join(ROOT, "docs", "rulegraph.mmd"))
    text = open(committed, encoding="utf-8").read()
    targets = re.match(r"%% rule graph of: (.*)", text).group(1).split()
    listed = snakemake(built, "--list-rules").stdout.split()
    missing = [t for t in targets if t not in listed]
    assert not missing, f"docs/rulegraph.mmd draws {' '.join(missing)}, which the Snakefile has no rule for"
    tool("dag", built, "--rulegraph", "--plain", "--out", str(tmp_path / "rulegraph"), *targets)
    assert (tmp_path / "rulegraph.mmd").read_text() == text, (
        "docs/rulegraph.* is out of date: regenerate it (README, 'See the plan')")


def test_the_snakemake_it_reads_is_one_it_supports(monkeypatch):
    """jobgraph reads Snakemake's internals: the pinned Snakemake is a supported one, and another is refused
    with advice rather than misread."""
    import snakemake as snakemake_package

    import jobgraph

    with open(os.path.join(ROOT, "requirements.txt")) as f:
        pin = re.search(r"^snakemake==(\S+)$", f.read(), re.M).group(1)
    assert pin.startswith(jobgraph.SUPPORTED) and snakemake_package.__version__ == pin
    jobgraph.check_snakemake_version()
    monkeypatch.setattr(snakemake_package, "__version__", "10.0.0")
    with pytest.raises(jobgraph.PlanError, match="support Snakemake 9.27.x, not 10.0.0: install requirements.txt"):
        jobgraph.check_snakemake_version()
