"""Fine-tuning tasks: GLUE's TSV layouts and generic TSV/CSV/JSON-lines files, read and checked before training.

Every check of a task's files runs before anything is trained, and each failure is one line naming the file and
what to change: columns (those found and those expected), a label outside the task's classes, an empty file.
"""

import csv
import json
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from bert_pretraining.atomic import atomic_dir
from bert_pretraining.logs import PipelineError
from bert_pretraining.text.normalize import normalize_text
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS

CLASSIFICATION, REGRESSION = "classification", "regression"
GENERIC_EXTENSIONS = (".tsv", ".csv", ".jsonl", ".json")


class TaskError(PipelineError, ValueError):
    """A task's files cannot be fine-tuned on; the message names the file and what to change."""


class Layout(NamedTuple):
    """Where a GLUE task keeps its texts and labels. `columns` is None for a file with a header row (columns by
    name); CoLA's files have none, so its columns are named here in file order."""

    text: str
    text_pair: str | None
    label: str
    labels: tuple | None  # the classes, in id order; None for regression
    metrics: tuple  # the first is the task's headline metric
    devs: dict  # evaluation name -> file
    columns: tuple | None = None


_PAIR = ("sentence1", "sentence2")
_ENTAILMENT = ("entailment", "not_entailment")
# GLUE's files as its download script leaves them (and as its own baselines and transformers' processors read them).
GLUE = {
    "SST-2": Layout("sentence", None, "label", ("0", "1"), ("accuracy",), {"SST-2": "dev.tsv"}),
    "CoLA": Layout("sentence", None, "label", ("0", "1"), ("matthews_corrcoef",), {"CoLA": "dev.tsv"},
                   columns=("source", "label", "original_label", "sentence")),
    "MRPC": Layout("#1 String", "#2 String", "Quality", ("0", "1"), ("f1", "accuracy"), {"MRPC": "dev.tsv"}),
    "STS-B": Layout(*_PAIR, "score", None, ("pearson", "spearman"), {"STS-B": "dev.tsv"}),
    "QQP": Layout("question1", "question2", "is_duplicate", ("0", "1"), ("f1", "accuracy"), {"QQP": "dev.tsv"}),
    "MNLI": Layout(*_PAIR, "gold_label", ("contradiction", "entailment", "neutral"), ("accuracy",),
                   {"MNLI-m": "dev_matched.tsv", "MNLI-mm": "dev_mismatched.tsv"}),
    "QNLI": Layout("question", "sentence", "label", _ENTAILMENT, ("accuracy",), {"QNLI": "dev.tsv"}),
    "RTE": Layout(*_PAIR, "label", _ENTAILMENT, ("accuracy",), {"RTE": "dev.tsv"}),
    "WNLI": Layout(*_PAIR, "label", ("0", "1"), ("accuracy",), {"WNLI": "dev.tsv"}),
}


@dataclass
class Split:
    """One file's examples: texts (and second texts of a pair task) and labels as the file gives them."""

    path: str
    texts: list = field(default_factory=list)
    pairs: list | None = None
    labels: list = field(default_factory=list)


@dataclass
class Task:
    name: str
    kind: str  # CLASSIFICATION or REGRESSION
    classes: tuple | None  # classification: the labels in id order
    metrics: tuple
    train: Split
    devs: dict  # evaluation name -> Split

    def label_ids(self, split):
        """Classes as ids in `classes`' order; regression targets as float32."""
        if self.kind == REGRESSION:
            return np.asarray(split.labels, np.float32)
        index = {label: i for i, label in enumerate(self.classes)}
        return np.asarray([index[label] for label in split.labels], np.int32)


def read_rows(path, columns, *, header_columns=None, delimiter="\t", quoting=csv.QUOTE_NONE, what):
    """[(line number, {column: value})] of a delimited file. `header_columns` None: the first row names the
    columns; else the file has no header and these are its columns. `columns` must all be there."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        if header_columns is None:
            header = next(reader, None) or []
            missing = [column for column in columns if column not in header]
            if missing:
                raise TaskError(
                    f"{what}: {path} has columns {', '.join(map(repr, header)) or 'none'}; expected "
                    f"{', '.join(map(repr, columns))} (missing {', '.join(map(repr, missing))})"
                )
        else:
            header = list(header_columns)
        rows = []
        for number, row in enumerate(reader, start=1 if header_columns else 2):
            if not row:
                continue
            if len(row) != len(header):
                layout = "no header" if header_columns else "its header's"
                raise TaskError(
                    f"{what}: {path} line {number} has {len(row)} columns; expected {len(header)} "
                    f"({layout}: {', '.join(header)})"
                )
            rows.append((number, dict(zip(header, row))))
    return rows


def read_json_lines(path, columns, *, what):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise TaskError(f"{what}: {path} line {number} is not JSON ({error.msg})") from None
            missing = [column for column in columns if not isinstance(row, dict) or column not in row]
            if missing:
                found = ", ".join(map(repr, row)) if isinstance(row, dict) else type(row).__name__
                raise TaskError(
                    f"{what}: {path} line {number} has keys {found or 'none'}; expected "
                    f"{', '.join(map(repr, columns))} (missing {', '.join(map(repr, missing))})"
                )
            rows.append((number, row))
    return rows


def to_split(path, rows, *, text, text_pair, label):
    split = Split(path, pairs=[] if text_pair else None)
    for number, row in rows:
        split.texts.append(str(row[text]))
        if text_pair:
            split.pairs.append(str(row[text_pair]))
        split.labels.append((number, row[label]))
    return split


def check_labels(task, what, declared):
    """Classification: every label one of the classes (declared, else the training file's); regression: numbers.
    Replaces (line, label) pairs by the labels themselves."""
    splits = [task.train, *task.devs.values()]
    if task.kind == REGRESSION:
        for split in splits:
            for number, value in split.labels:
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise TaskError(
                        f"{what}: {split.path} line {number} has label {value!r}, not a number (type: regression)"
                    ) from None
            split.labels = [float(value) for _, value in split.labels]
        return
    classes = tuple(str(label) for label in declared) if declared else None
    for split in splits:
        split.labels = [(number, str(value)) for number, value in split.labels]
    if classes is None:
        classes = tuple(sorted({value for _, value in task.train.labels}))
        source = f"the training file's labels ({', '.join(classes)}); add the label to {task.train.path}, or " \
                 "declare the task's labels"
    else:
        source = f"{what}'s labels ({', '.join(classes)})"
    for split in splits:
        for number, value in split.labels:
            if value not in classes:
                raise TaskError(f"{what}: {split.path} line {number} has label {value!r}, not one of {source}")
        split.labels = [value for _, value in split.labels]
    if len(classes) < 2:
        raise TaskError(f"{what}: {task.train.path} has the one label {classes[0]!r}; a classifier needs two or more")
    task.classes = classes


def check_not_empty(task, what):
    for split in (task.train, *task.devs.values()):
        if not split.texts:
            raise TaskError(f"{what}: {split.path} has no examples; give it examples or point path at another file")


def glue_folder(name, path, download_dir):
    """The folder with the task's train.tsv: `path` itself, its subfolder named after the task (glue_data/), or
    what the zip archive at an http(s) URL holds."""
    if path.startswith(("http://", "https://")):
        path = download_archive(name, path, download_dir)
    for folder in (path, os.path.join(path, name)):
        if os.path.isfile(os.path.join(folder, "train.tsv")):
            return folder
    if download_dir and path.startswith(download_dir):  # an archive may nest the task's folder deeper
        for folder, _, names in os.walk(path):
            if "train.tsv" in names:
                return folder
    raise TaskError(f"finetune task {name}: no train.tsv in {path} or {os.path.join(path, name)}; "
                    "set its path to the folder GLUE's download made for the task")


def download_archive(name, url, download_dir):
    """Fetch and unpack a GLUE task's zip once; later runs reuse the unpacked folder."""
    folder = os.path.join(download_dir, name)
    if os.path.isdir(folder):
        return folder
    os.makedirs(download_dir, exist_ok=True)
    with atomic_dir(folder) as tmp:
        archive = os.path.join(tmp, "archive.zip")
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as f:
                shutil.copyfileobj(response, f)
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(tmp)
        except (OSError, zipfile.BadZipFile) as error:
            raise TaskError(f"finetune task {name}: could not fetch the zip archive {url}: {error}") from None
        os.remove(archive)
    return folder


def load_glue(name, path, download_dir):
    layout = GLUE[name]
    folder = glue_folder(name, path, download_dir)
    columns = [c for c in (layout.text, layout.text_pair, layout.label) if c]

    def split(file_name):
        file = os.path.join(folder, file_name)
        if not os.path.isfile(file):
            raise TaskError(f"finetune task {name}: {file} is missing; GLUE's {name} folder holds it")
        rows = read_rows(file, columns, header_columns=layout.columns, what=f"finetune task {name}")
        return to_split(file, rows, text=layout.text, text_pair=layout.text_pair, label=layout.label)

    kind = REGRESSION if layout.labels is None else CLASSIFICATION
    task = Task(name, kind, None, layout.metrics, split("train.tsv"),
                {dev: split(file) for dev, file in layout.devs.items()})
    return task, layout.labels


def generic_files(name, path):
    """(train file, dev file) of a generic task: the two files given, or train.* and dev.* in a folder."""
    if isinstance(path, list):
        return tuple(path)
    found = {}
    for stem in ("train", "dev"):
        names = [f"{stem}{ext}" for ext in GENERIC_EXTENSIONS if os.path.isfile(os.path.join(path, f"{stem}{ext}"))]
        if len(names) != 1:
            raise TaskError(
                f"finetune task {name}: {path} holds {' and '.join(names) or 'no'} {stem} file; expected one of "
                f"{', '.join(stem + ext for ext in GENERIC_EXTENSIONS)}"
            )
        found[stem] = os.path.join(path, names[0])
    return found["train"], found["dev"]


def read_generic(path, columns, what):
    if path.endswith((".jsonl", ".json")):
        return read_json_lines(path, columns, what=what)
    if path.endswith(".csv"):
        return read_rows(path, columns, delimiter=",", quoting=csv.QUOTE_MINIMAL, what=what)
    if path.endswith(".tsv"):
        return read_rows(path, columns, what=what)
    raise TaskError(f"{what}: {path} is not .tsv, .csv or .jsonl; rename it to say its format")


def load_generic(spec):
    name, what = spec["name"], f"finetune task {spec['name']}"
    text_pair = spec.get("text_pair")
    columns = [c for c in (spec["text"], text_pair, spec["label"]) if c]
    train_file, dev_file = generic_files(name, spec["path"])
    for file in (train_file, dev_file):
        if not os.path.isfile(file):
            raise TaskError(f"{what}: {file} does not exist; set the task's path")
    splits = [to_split(file, read_generic(file, columns, what), text=spec["text"], text_pair=text_pair,
                       label=spec["label"]) for file in (train_file, dev_file)]
    kind = spec["type"]
    metrics = ("pearson", "spearman") if kind == REGRESSION else ("accuracy",)
    return Task(name, kind, None, metrics, splits[0], {name: splits[1]}), spec.get("labels")


def load_task(spec, download_dir):
    """A task of finetune.tasks (a config entry), read and checked: Task with labels ready for training."""
    task, declared = load_glue(spec["glue"], spec["path"], download_dir) if "glue" in spec else load_generic(spec)
    what = f"finetune task {task.name}"
    check_not_empty(task, what)
    check_labels(task, what, declared)
    return task


def truncate_pair(a, b, most):
    """BERT's run_classifier: drop the last token of the longer sequence until both fit."""
    a, b = list(a), list(b)
    while len(a) + len(b) > most:
        (a if len(a) > len(b) else b).pop()
    return a, b


def encode(split, tokenizer, max_seq_length):
    """BertBackbone's inputs: [CLS] A [SEP] (B [SEP]), segment ids 0 then 1, zero-padded to max_seq_length.

    Each text is first normalised as the pre-training text was (the recipe's step 3: lower-cased, only `\\w+`
    tokens), so that the model sees no token its pre-training never showed it (punctuation, say, whose
    vocab.txt entries pre-training never trained)."""
    vocab = tokenizer.vocab
    cls, sep = vocab[SPECIAL_TOKENS.cls], vocab[SPECIAL_TOKENS.sep]
    n = len(split.texts)
    token_ids = np.full((n, max_seq_length), vocab[SPECIAL_TOKENS.pad], np.int32)
    segment_ids = np.zeros((n, max_seq_length), np.int32)
    padding_mask = np.zeros((n, max_seq_length), bool)
    for i, text in enumerate(split.texts):
        a = tokenizer.encode(normalize_text(text))
        if split.pairs is None:
            ids, segments = [cls, *a[: max_seq_length - 2], sep], None
        else:
            a, b = truncate_pair(a, tokenizer.encode(normalize_text(split.pairs[i])), max_seq_length - 3)
            ids = [cls, *a, sep, *b, sep]
            segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        token_ids[i, : len(ids)] = ids
        padding_mask[i, : len(ids)] = True
        if segments:
            segment_ids[i, : len(ids)] = segments
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
