"""The `finetune` target on the offline chain: generated GLUE-format tasks and a JSON-lines task fine-tuned from the
pre-trained model and from random init; each bad input stopped before any training, with nothing half-made."""

import json

import pytest

from glue_tasks import write_glue, write_json_lines_task
from report_page import embedded, html_tables, script_json
from workflow import QUICK_TRAIN, planned_jobs, snakemake, write_config

# A tiny budget: one seed, one epoch, short sequences; the sentiment-like task has enough lines for one epoch to
# learn it (about 125 steps: at 400 lines neither initialisation left chance in one epoch).
FINETUNE = {"epochs": 1, "seeds": [7], "batch_size": 16, "learning_rate": 3e-4, "max_seq_length": 24}
BUILD = {"shards": {"lines_per_shard": 4000}, "train": QUICK_TRAIN}


def tasks(root):
    return [
        {"glue": "SST-2", "path": str(root)},  # the glue_data/ folder that holds SST-2/
        {"glue": "MRPC", "path": str(root / "MRPC")},
        {"glue": "STS-B", "path": str(root / "STS-B")},
        {"name": "reviews", "path": str(root / "reviews"), "text": "review", "text_pair": "context",
         "label": "stars", "type": "classification"},
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The generated tasks and one `finetune` run, which builds a quick `train` of the offline default first."""
    folder = tmp_path_factory.mktemp("finetune")
    root = folder / "glue_data"
    write_glue(root / "SST-2", "SST-2", train=2000, dev=100, seed=0)
    write_glue(root / "MRPC", "MRPC", train=100, dev=30, seed=1)
    write_glue(root / "STS-B", "STS-B", train=100, dev=30, seed=2)
    write_json_lines_task(root / "reviews", train=100, dev=30)
    write_config(folder, **BUILD, finetune=dict(FINETUNE, tasks=tasks(root)))
    result = snakemake(folder, "--cores", "2", "finetune")  # trains first: finetune needs the model
    return folder, result


def test_finetune_scores_both_initialisations_of_every_task(built):
    folder, result = built
    scores = json.loads((folder / "results" / "finetune" / "scores.json").read_text())
    assert list(scores["tasks"]) == ["SST-2", "MRPC", "STS-B", "reviews"]
    expected = {"SST-2": ("accuracy", 100), "MRPC": ("f1", 30), "STS-B": ("pearson", 30), "reviews": ("accuracy", 30)}
    for name, (metric, dev_examples) in expected.items():
        entry = scores["tasks"][name]
        assert entry["metric"] == metric and entry["dev_examples"] == dev_examples
        for init in ("pretrained", "random_init"):
            assert list(entry[init]["per_seed"]) == ["7"] and entry[init]["std"] == 0.0
            assert entry[init]["mean"] == entry[init]["per_seed"]["7"][metric]
    assert scores["settings"]["seeds"] == [7] and scores["settings"]["max_seq_length"] == 24
    sst2 = scores["tasks"]["SST-2"]
    # labels follow from the words: learned far above chance and above always answering the majority class
    assert sst2["pretrained"]["mean"] >= 0.9 > sst2["majority_class"]["accuracy"] + 0.2, sst2
    table = (folder / "results" / "finetune" / "scores.md").read_text()
    for name in expected:
        assert f"| {name} | {expected[name][0]} | " in table
    assert "| SST-2 | accuracy |" in result.stdout  # the table on the console too
    # not part of `train`; done: nothing to do
    assert planned_jobs(folder, "train") == {} and planned_jobs(folder, "finetune") == {}


def test_the_report_shows_the_scores_table(built):
    """With tasks, `report` builds section 5 from scores.json: per dev set and metric, both initialisations' mean ±
    spread over seeds, their difference and the majority class (built here alone: the other sections are
    test_report.py's, which checks that without tasks the report has no such section)."""
    folder, _ = built
    assert "finetune_table" in planned_jobs(folder, "report")
    snakemake(folder, "--cores", "1", "finetune_table")
    snakemake(folder, "finetune_table", "--report", "report.html", "--cores", "1")
    page = (folder / "report.html").read_text(encoding="utf-8")
    categories = script_json(page, "categories")
    assert list(categories) == ["5. Fine-tuning"]
    summary = "results/report/finetune/summary.html"
    result = script_json(page, "results")[summary]
    assert "random initialisation" in result["caption"]
    tables = html_tables(embedded(result))
    rows = tables["Dev-set scores: pre-trained against random init, mean ± standard deviation over seeds"]
    scores = json.loads((folder / "results" / "finetune" / "scores.json").read_text())
    expected = []
    for dev, entry in scores["tasks"].items():
        for metric in entry["metrics"]:
            pre, rnd = (entry[init]["per_seed"]["7"][metric] for init in ("pretrained", "random_init"))
            shown = [("n/a" if v is None else f"{v:.4f} ± 0.0000") for v in (pre, rnd)]
            floor = entry.get("majority_class", {}).get(metric)
            expected.append([
                dev, metric, shown[0], "n/a" if pre is None else f"{pre:.4f}", shown[1],
                "n/a" if rnd is None else f"{rnd:.4f}", "n/a" if None in (pre, rnd) else f"{pre - rnd:+.4f}",
                "-" if floor is None else f"{floor:.4f}",
                f"{entry['train_examples']:,} / {entry['dev_examples']:,}",
            ])
    assert rows == expected
    assert [r[:2] for r in rows][:3] == [["SST-2", "accuracy"], ["MRPC", "f1"], ["MRPC", "accuracy"]]
    settings = dict(tables["Fine-tuning settings (finetune.*)"])
    assert settings["seeds"] == "7" and settings["learning_rate"] == "0.0003" and settings["epochs"] == "1"


def bad_run(folder, tmp_path, task):
    """`finetune` with one task in place of the good ones; the failed run's console output."""
    write_config(folder, **BUILD, finetune=dict(FINETUNE, tasks=[task]))
    result = snakemake(folder, "--cores", "1", "finetune", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    made = folder / "results" / "finetune"
    assert not (made / "scores.json").exists() and not (made / "scores.md").exists()
    assert not made.exists() or not [path for path in made.iterdir() if path.name.endswith(".tmp")]
    assert "Traceback" not in out  # one line saying what to change, not a bug's traceback
    log = (folder / "results" / "logs" / "finetune" / "finetune.log").read_text()
    assert "pretrained:" not in log and "random_init:" not in log  # stopped before any training
    return out


def test_wrong_columns_name_those_found_and_expected(built, tmp_path):
    (tmp_path / "train.tsv").write_text("text\tlabel\nfine\t1\n")
    (tmp_path / "dev.tsv").write_text("text\tlabel\nfine\t1\n")
    out = bad_run(built[0], tmp_path, {"glue": "SST-2", "path": str(tmp_path)})
    assert "has columns 'text', 'label'; expected 'sentence', 'label' (missing 'sentence')" in out


def test_a_label_outside_the_task_s_classes(built, tmp_path):
    write_json_lines_task(tmp_path, train=20, dev=5)
    with open(tmp_path / "dev.jsonl", "a") as f:
        f.write(json.dumps({"review": "x", "stars": "meh"}) + "\n")
    task = {"name": "reviews", "path": str(tmp_path), "text": "review", "label": "stars", "type": "classification"}
    out = bad_run(built[0], tmp_path, task)
    assert "dev.jsonl line 6 has label 'meh', not one of the training file's labels (neg, pos)" in out


def test_an_empty_dev_set(built, tmp_path):
    write_glue(tmp_path, "STS-B", train=20, dev=0)
    out = bad_run(built[0], tmp_path, {"glue": "STS-B", "path": str(tmp_path)})
    assert "dev.tsv has no examples" in out


@pytest.mark.parametrize(
    "finetune,message",
    [
        ({"tasks": [{"glue": "SST-3", "path": "."}]},
         "finetune.tasks.0.glue: 'SST-3' is not one of SST-2, CoLA, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI"),
        ({"tasks": [{"glue": "SST-2", "path": "."}], "max_seq_length": 256},
         "finetune.max_seq_length (256) exceeds the positions pre-training trained (128, "
         "pretraining_data.max_seq_length): set finetune.max_seq_length to at most 128"),
        ({"tasks": [{"glue": "SST-2", "path": "no/such/folder"}]}, "finetune.tasks: path 'no/such/folder' does not"),
    ],
)
def test_config_errors_stop_before_any_job(tmp_path, finetune, message):
    write_config(tmp_path, finetune=finetune)
    result = snakemake(tmp_path, "--cores", "1", "finetune", check=False)
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_no_tasks_nothing_to_do_and_it_says_so(tmp_path):
    write_config(tmp_path)
    result = snakemake(tmp_path, "--cores", "1", "finetune")
    assert "finetune.tasks is empty: nothing to fine-tune" in result.stdout
    assert not (tmp_path / "results" / "trained").exists()  # it trains nothing to fine-tune nothing
    assert json.loads((tmp_path / "results" / "finetune" / "scores.json").read_text())["tasks"] == {}
