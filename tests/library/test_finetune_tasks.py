"""Fine-tuning tasks: GLUE's layouts and generic files read into the texts and labels that were written, each bad
file refused with a message naming what to change, the inputs BERT's way, and GLUE's metrics."""

import json

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk

from bert_pretraining.finetuning import metrics
from bert_pretraining.finetuning.tasks import GLUE, Split, TaskError, encode, load_task, truncate_pair
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS, WordPieceTokenizer
from glue_tasks import FILLER, NEGATIVE, POSITIVE, write_glue, write_json_lines_task


@pytest.mark.parametrize("name", sorted(GLUE))
def test_each_glue_layout_reads_the_texts_and_labels_written(tmp_path, name):
    written = write_glue(tmp_path / name, name, train=40, dev=12)
    task = load_task({"glue": name, "path": str(tmp_path)}, str(tmp_path / "downloads"))  # glue_data/ form
    layout = GLUE[name]
    assert task.name == name and task.metrics == layout.metrics
    splits = {"train.tsv": task.train, **{layout.devs[dev]: split for dev, split in task.devs.items()}}
    assert set(splits) == set(written)
    for file, split in splits.items():
        texts, pairs, labels = zip(*written[file])
        assert split.texts == list(texts)
        assert split.pairs == (None if layout.text_pair is None else list(pairs))
        expected = [float(label) for label in labels] if layout.labels is None else list(labels)
        assert split.labels == expected
    if layout.labels is not None:
        assert task.classes == layout.labels
        ids = task.label_ids(task.train)
        assert [layout.labels[i] for i in ids] == task.train.labels


def test_the_task_folder_itself_and_quotes_kept(tmp_path):
    written = write_glue(tmp_path, "SST-2", train=10, dev=5)
    task = load_task({"glue": "SST-2", "path": str(tmp_path)}, str(tmp_path / "downloads"))
    assert task.train.texts[0].startswith('"') and task.train.texts[0] == written["train.tsv"][0][0]


def test_generic_json_lines_csv_and_a_file_pair(tmp_path):
    written = write_json_lines_task(tmp_path / "reviews", train=30, dev=10)
    spec = {"name": "reviews", "path": str(tmp_path / "reviews"), "text": "review", "text_pair": "context",
            "label": "stars", "type": "classification"}
    task = load_task(spec, "")
    assert task.train.texts == [row["review"] for row in written["train.jsonl"]]
    assert task.devs["reviews"].pairs == [row["context"] for row in written["dev.jsonl"]]
    assert task.classes == ("neg", "pos") and task.metrics == ("accuracy",)
    # the same rows as CSV files named as a pair, a text with a comma and quotes among them
    rows = written["train.jsonl"][:5]
    rows[0] = dict(rows[0], review='a "quoted", comma text')
    for name in ("a.csv", "b.csv"):
        lines = ["stars,review"] + [f'{row["stars"]},"{row["review"].replace(chr(34), 2 * chr(34))}"' for row in rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    task = load_task(dict(spec, path=[str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], text_pair=None), "")
    assert task.train.texts[0] == 'a "quoted", comma text' and task.train.pairs is None
    assert task.devs["reviews"].labels == [row["stars"] for row in rows]


def test_generic_regression_reads_numbers(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tb\ty\none two\tthree\t1.5\nfour\tfive\t-2\n")
    (tmp_path / "dev.tsv").write_text("a\tb\ty\nsix\tseven\t0.25\n")
    task = load_task({"name": "r", "path": str(tmp_path), "text": "a", "text_pair": "b", "label": "y",
                      "type": "regression"}, "")
    assert task.train.labels == [1.5, -2.0] and task.metrics == ("pearson", "spearman")
    assert task.label_ids(task.devs["r"]).dtype == np.float32


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "train,dev,message",
    [
        ("text\tlabel\nfine\t1\n", "sentence\tlabel\nfine\t1\n",
         "has columns 'text', 'label'; expected 'sentence', 'label' (missing 'sentence')"),
        ("sentence\tlabel\nfine\t1\nbad\t0\n", "sentence\tlabel\nfine\t2\n",
         "dev.tsv line 2 has label '2', not one of finetune task SST-2's labels (0, 1)"),
        ("sentence\tlabel\nfine\t1\nbad\t0\n", "sentence\tlabel\n", "dev.tsv has no examples"),
        ("sentence\tlabel\nfine\t1\textra\n", "sentence\tlabel\nfine\t1\n",
         "train.tsv line 2 has 3 columns; expected 2"),
    ],
)
def test_bad_glue_files_are_refused_naming_what_to_change(tmp_path, train, dev, message):
    write(tmp_path / "train.tsv", train)
    write(tmp_path / "dev.tsv", dev)
    with pytest.raises(TaskError) as error:
        load_task({"glue": "SST-2", "path": str(tmp_path)}, "")
    assert message in str(error.value)


def test_a_cola_line_without_its_four_columns(tmp_path):
    write(tmp_path / "train.tsv", "gj04\t1\t\tfine\ngj04\t0\tbad\n")
    write(tmp_path / "dev.tsv", "gj04\t1\t\tfine\n")
    with pytest.raises(TaskError, match=r"train.tsv line 2 has 3 columns; expected 4 \(no header: source, label"):
        load_task({"glue": "CoLA", "path": str(tmp_path)}, "")


@pytest.mark.parametrize(
    "dev,extra,message",
    [
        ('{"t": "x", "y": "c"}\n', {}, "line 1 has label 'c', not one of the training file's labels (a, b)"),
        ('{"t": "x", "y": "c"}\n', {"labels": ["a", "b", "c"]}, None),
        ('{"t": "x", "y": "a"}\n', {"labels": ["a", "c"]}, "train.jsonl line 2 has label 'b', not one of"),
        ('{"text": "x", "y": "a"}\n', {}, "line 1 has keys 'text', 'y'; expected 't', 'y' (missing 't')"),
        ('{"t": "x", "y": "a"}\n', {"type": "regression"}, "line 1 has label 'a', not a number (type: regression)"),
    ],
)
def test_bad_generic_files(tmp_path, dev, extra, message):
    write(tmp_path / "train.jsonl", '{"t": "one", "y": "a"}\n{"t": "two", "y": "b"}\n')
    write(tmp_path / "dev.jsonl", dev)
    spec = {"name": "g", "path": str(tmp_path), "text": "t", "label": "y", "type": "classification", **extra}
    if message is None:
        assert load_task(spec, "").classes == ("a", "b", "c")
        return
    with pytest.raises(TaskError) as error:
        load_task(spec, "")
    assert message in str(error.value)


def test_inputs_are_bert_s(tmp_path):
    vocab = list(SPECIAL_TOKENS) + sorted(set(FILLER + list(POSITIVE + NEGATIVE)))
    tokenizer = WordPieceTokenizer({token: i for i, token in enumerate(vocab)})
    write_glue(tmp_path, "MRPC", train=20, dev=5)
    task = load_task({"glue": "MRPC", "path": str(tmp_path)}, "")
    inputs = encode(task.train, tokenizer, 12)
    cls, sep, pad = (vocab.index(token) for token in (SPECIAL_TOKENS.cls, SPECIAL_TOKENS.sep, SPECIAL_TOKENS.pad))
    a, b = truncate_pair(tokenizer.encode(task.train.texts[1]), tokenizer.encode(task.train.pairs[1]), 9)
    assert (len(a), len(b)) == (5, 4)  # 8 + 8 tokens, the longer cut first, alternately
    row = [cls, *a, sep, *b, sep]
    assert inputs["token_ids"][1].tolist() == row
    assert inputs["segment_ids"][1].tolist() == [0] * 7 + [1] * 5
    assert inputs["padding_mask"].all()
    single = encode(task.devs["MRPC"], tokenizer, 40)
    assert single["token_ids"].shape == (5, 40) and (single["token_ids"][~single["padding_mask"]] == pad).all()


def test_metrics_are_scikit_learn_s_and_scipy_s():
    labels = np.array([1, 1, 1, 0, 0, 0])
    predictions = np.array([1, 1, 0, 0, 0, 1])
    scores = metrics.compute(("accuracy", "f1", "matthews_corrcoef"), labels, predictions)
    # by hand: TP 2, TN 2, FP 1, FN 1
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["matthews_corrcoef"] == pytest.approx((2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3))
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    assert metrics.compute(("f1", "matthews_corrcoef"), y, p) == {
        "f1": sk.f1_score(y, p), "matthews_corrcoef": sk.matthews_corrcoef(y, p)}
    x, z = rng.normal(size=40), rng.normal(size=40)
    scores = metrics.compute(("pearson", "spearman"), x, x + z)
    assert scores["pearson"] == pytest.approx(stats.pearsonr(x, x + z).statistic)
    assert scores["spearman"] == pytest.approx(stats.spearmanr(x, x + z).statistic)
    assert metrics.compute(("pearson",), [1.0, 2.0, 3.0], [2.0, 4.0, 7.0])["pearson"] == pytest.approx(
        0.9933992677987828)  # by hand: cov 2.5 / sqrt(1 * 6.3333)
    assert metrics.compute(("pearson",), x, np.zeros(40)) == {"pearson": None}  # undefined, JSON's null
    assert metrics.majority_class(("accuracy",), np.array([1, 1, 0]), np.array([1, 0, 0, 0])) == {"accuracy": 0.25}
    json.dumps(scores)


def test_a_glue_archive_by_url_is_fetched_once(tmp_path):
    """GLUE's per-task zip (SST-2.zip holds SST-2/train.tsv ...), served over HTTP, unpacked once and reused."""
    import functools
    import http.server
    import threading
    import zipfile

    written = write_glue(tmp_path / "src" / "SST-2", "SST-2", train=10, dev=4)
    (tmp_path / "site").mkdir()
    with zipfile.ZipFile(tmp_path / "site" / "SST-2.zip", "w") as archive:
        for name in ("train.tsv", "dev.tsv"):
            archive.write(tmp_path / "src" / "SST-2" / name, f"SST-2/{name}")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    downloads = str(tmp_path / "downloads")
    try:
        task = load_task({"glue": "SST-2", "path": f"{url}/SST-2.zip"}, downloads)
        assert task.train.texts == [text for text, _, _ in written["train.tsv"]]
        with pytest.raises(TaskError, match=r"could not fetch the zip archive .*/RTE.zip: HTTP Error 404"):
            load_task({"glue": "RTE", "path": f"{url}/RTE.zip"}, downloads)
        assert not (tmp_path / "downloads" / "RTE").exists()  # nothing half-made
    finally:
        server.shutdown()
        server.server_close()
    # the server is gone: the unpacked copy is read
    assert load_task({"glue": "SST-2", "path": f"{url}/SST-2.zip"}, downloads).train.texts == task.train.texts


def test_text_is_normalised_as_the_pre_training_text_was(tmp_path):
    """Pre-training saw proc_dataset.txt (lower-cased `\\w+` tokens only): a task's capitals and punctuation
    become what that text would have held, not tokens pre-training never trained."""
    vocab = list(SPECIAL_TOKENS) + ["!", ",", "'", "it", "s", "valid", "the", "file"]
    tokenizer = WordPieceTokenizer({token: i for i, token in enumerate(vocab)})
    raw = Split("x", texts=["It's the VALID file, valid!!"], pairs=["The file!"], labels=["1"])
    plain = Split("x", texts=["it s the valid file valid"], pairs=["the file"], labels=["1"])
    got, expected = encode(raw, tokenizer, 16), encode(plain, tokenizer, 16)
    assert all((got[key] == expected[key]).all() for key in got)
    assert not {vocab.index(p) for p in "!,'"} & set(got["token_ids"].ravel().tolist())
