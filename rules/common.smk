import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The package's modules that hold the config's contracts, so that the workflow and its jobs agree on them (small
# modules: the environment Snakemake runs in needs none of the stages' packages).
sys.path.insert(0, os.path.join(workflow.basedir, "scripts"))
from bert_pretraining import config_validation
from bert_pretraining.cloud import bucket, tpu_slices
from bert_pretraining.derived_config import resolve_strip_accents
from bert_pretraining.logs import PipelineError
from bert_pretraining.modeling.bert_config import make_bert_config
from bert_pretraining.script_imports import imported_scripts
from bert_pretraining.training import train_settings
from bert_pretraining.training.train_settings import check_backend


def validate_config(schema_path):
    """Fill in the schema's defaults; on an error, one line naming the key and a value that works."""
    try:
        config_validation.validate(
            config, config_validation.load_schema(schema_path), lambda values: validate(values, schema_path)
        )
    except config_validation.ConfigError as error:
        raise WorkflowError(str(error)) from None


validate_config(os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))

RESULTS = config["results"]
BUCKET = config["bucket"]
BUCKET_URL = f"gs://{BUCKET}/{config['bucket_prefix']}".rstrip("/") if BUCKET else None
# Jobs that use every core they get ask for this many; Snakemake lowers it to --cores (and --dag needs none).
MAX_THREADS = 64
# The config's sections, each by one name: its key in capitals.
CORPUS = config["corpus"]
TOKENIZER = config["tokenizer"]
SHARDS = config["shards"]
PRETRAINING_DATA = config["pretraining_data"]
MODEL = config["model"]
TRAIN = config["train"]
TPU = config["tpu"] if config["tpu"]["name"] else None
# What pre-training bought (rules/finetune.smk): none of its tasks by default.
FINETUNE = config["finetune"]
FINETUNE_TASKS = FINETUNE["tasks"]
# The second training phase (phase2.num_train_steps 0: none), and each phase's folder of examples with the
# lengths its pretraining_data jobs make; the exports take as many positions as the longest phase trained.
PHASE2 = config["phase2"] if config["phase2"]["num_train_steps"] else None
# Each phase's folder, in phase order, whether or not phase 2 is on (a shard that is gone loses its files in both).
EXAMPLE_FOLDERS = ("pretraining_data", "pretraining_data_phase2")
EXAMPLES = {EXAMPLE_FOLDERS[0]: PRETRAINING_DATA}
if PHASE2:
    EXAMPLES[EXAMPLE_FOLDERS[1]] = dict(
        PRETRAINING_DATA,
        max_seq_length=PHASE2["max_seq_length"],
        max_predictions_per_seq=PHASE2["max_predictions_per_seq"],
    )
FINAL_EXAMPLES = list(EXAMPLES)[-1]
TRAINED_POSITIONS = max(examples["max_seq_length"] for examples in EXAMPLES.values())


wildcard_constraints:
    examples="|".join(EXAMPLES),


# Checkpoints: the bucket's bert_model/ when a TPU trains (as in the recipe), else <results>/checkpoints.
MODEL_DIR = TRAIN["model_dir"] or (f"{BUCKET_URL}/{bucket.CHECKPOINTS}" if TPU else f"{RESULTS}/checkpoints")
# The training settings (train_settings.KEYS), the same whether the job trains here or on a TPU VM.
TRAIN_PARAMS = train_settings.from_config(config)
# With a TPU, the train job follows the VM from here (scripts/train_on_tpu.py); it also needs the TPU and the bucket.
TRAIN_SCRIPT = "../scripts/train_on_tpu.py" if TPU else "../scripts/train_cli.py"
TPU_PARAMS = {"tpu": TPU, "bucket_url": BUCKET_URL} if TPU else {}
# The language's text decides whether accents are accents or letters (tokenizer.strip_accents: auto).
STRIP_ACCENTS = resolve_strip_accents(TOKENIZER["strip_accents"], CORPUS["lang"])


def finetune_task_paths(wildcards=None):
    """The tasks' local files and folders, so that changed data reruns the job (a URL is fetched by the job)."""
    paths = []
    for task in FINETUNE_TASKS:
        given = task["path"] if isinstance(task["path"], list) else [task["path"]]
        paths += [path for path in given if not path.startswith(("http://", "https://"))]
    return paths


def check_finetune_config():
    """Before any job: sequences the model has positions for, task paths that exist, one entry per task."""
    if not FINETUNE_TASKS:
        return
    if FINETUNE["max_seq_length"] > TRAINED_POSITIONS:
        trained = "phase2.max_seq_length" if PHASE2 else "pretraining_data.max_seq_length"
        raise WorkflowError(
            f"finetune.max_seq_length ({FINETUNE['max_seq_length']}) exceeds the positions pre-training trained "
            f"({TRAINED_POSITIONS}, {trained}): set finetune.max_seq_length to at most {TRAINED_POSITIONS}"
        )
    for path in finetune_task_paths():
        if not os.path.exists(path):
            raise WorkflowError(
                f"finetune.tasks: path {path!r} does not exist; give a task's folder, files or URL"
            )
    names = [task.get("glue") or task["name"] for task in FINETUNE_TASKS]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise WorkflowError(f"finetune.tasks: {', '.join(twice)} given twice; keep one entry per task")


def check_config():
    """Checks the schema cannot express, run before any job; each names the key to change."""
    source = CORPUS["source"]
    if source not in ("sample", "opensubtitles") and not source.startswith(("http://", "https://")):
        if not os.path.isfile(source):
            raise WorkflowError(
                f"corpus.source: {source!r} is not 'sample', 'opensubtitles', an http(s) URL or an existing file"
            )
    if TPU and not BUCKET:
        raise WorkflowError("tpu.name is set but bucket is not: a TPU VM trains from a Cloud Storage bucket")
    if TPU and tpu_slices.accelerator_type_error(TPU["accelerator_type"]):
        raise WorkflowError(tpu_slices.accelerator_type_error(TPU["accelerator_type"]))
    if TPU and not TPU["project"]:
        raise WorkflowError("tpu.project: name the Google Cloud project that the TPU belongs to")
    if TPU and not MODEL_DIR.startswith("gs://"):
        raise WorkflowError(
            f"train.model_dir: {MODEL_DIR!r} is not a gs:// URL, and a TPU VM keeps its checkpoints in the bucket"
        )
    # The jobs' own checks of values the config alone decides, by the functions the jobs call: a bad combination
    # stops here, not after the jobs before it have overwritten good outputs.
    phases = {"train": TRAIN, "phase2": PHASE2} if PHASE2 else {"train": TRAIN}
    errors = [config_validation.vocab_size_error(TOKENIZER["vocab_size"], TOKENIZER["num_placeholders"])]
    for section, values in phases.items():
        errors += [
            train_settings.batch_size_error(
                section, values["batch_size"], values["gradient_accumulation_steps"]
            ),
            train_settings.steps_per_execution_error(
                section, values["num_train_steps"], TRAIN["steps_per_execution"]
            ),
        ]
    if any(errors):
        raise WorkflowError(next(filter(None, errors)))
    try:
        check_backend(backend=TRAIN["backend"], device=TRAIN["device"], tpu_name=TPU["name"] if TPU else None)
        # EXAMPLES' folders are in phase order; a phase's examples take their length from its own section.
        for section, examples in zip(("pretraining_data", "phase2"), EXAMPLES.values()):
            make_bert_config(
                MODEL,
                TOKENIZER["vocab_size"],
                max_seq_length=examples["max_seq_length"],
                length_key=f"{section}.max_seq_length",
            )
    except PipelineError as error:
        raise WorkflowError(str(error)) from None
    check_finetune_config()


check_config()


# Resource sizes, from the corpus size the config asks for. Calibration (bench/bench_scale.py, subtitle-shaped
# lines of 39 bytes): SentencePiece peaked at 0.88 GB on 1,000,000 sentences and 8.0 GB on 10,000,000, about
# 0.8 kB a sentence, and it reads at most input_sentence_size of them; text is taken as 100 bytes a line.
LINES = CORPUS["max_lines"] or 100_000_000
# bench/bench_pretraining_data.py on this repository's 2-core machine: a 256,000-line shard peaks at 140 MB and
# writes 170 MB in about 5 s with dupe_factor 5.
SHARD_LINES = SHARDS["lines_per_shard"]


def sentencepiece_mem_mb():
    sentences = min(LINES, TOKENIZER["input_sentence_size"] or LINES)
    return 1000 + sentences // 1000


def text_mb():
    """Megabytes of a file holding the corpus."""
    return int(100 + LINES * 100 / 1e6)


def corpus_source():
    """What the download job fetches: 'sample' or a URL."""
    if CORPUS["source"] == "opensubtitles":
        return CORPUS["opensubtitles_url"].format(lang=CORPUS["lang"])
    return CORPUS["source"]


def download_max_lines():
    """A download stops after the lines it keeps; the offline sample is extracted whole, whatever max_lines is."""
    return None if CORPUS["source"] == "sample" else CORPUS["max_lines"]


def raw_corpus(wildcards=None):
    """A local corpus is read where it is; anything else is fetched first."""
    if os.path.isfile(CORPUS["source"]):
        return CORPUS["source"]
    return f"{RESULTS}/raw/corpus.txt"


def shard_ids(wildcards=None):
    """The shard suffixes ("0000", "0001", ...) that the shard checkpoint produced."""
    shard_dir = checkpoints.shard.get().output[0]
    return sorted(glob_wildcards(os.path.join(shard_dir, "shard_{shard,[0-9]+}")).shard)


def pretraining_records(wildcards=None, folder="pretraining_data"):
    """One .tfrecord per current shard in a folder of EXAMPLES; none from an earlier, larger run."""
    return expand(f"{RESULTS}/{folder}/shard_{{shard}}.tfrecord", shard=shard_ids())


def all_records(wildcards=None):
    """The examples of every training phase."""
    return [record for folder in EXAMPLES for record in pretraining_records(folder=folder)]


def held_out_record(wildcards=None, folder="pretraining_data"):
    """The shard that training never reads (train.eval_shard indexes the sorted shards; -1 = the last)."""
    records = pretraining_records(folder=folder)
    if len(records) < 2:
        raise ValueError(
            f"train: {len(records)} pretraining shard(s); holding one out for evaluation needs at least 2 "
            "(lower shards.lines_per_shard or add text)"
        )
    return records[TRAIN["eval_shard"]]


def training_records(wildcards=None, folder="pretraining_data"):
    held_out = held_out_record(folder=folder)
    return [record for record in pretraining_records(folder=folder) if record != held_out]


def phase2_training_records(wildcards=None):
    return training_records(folder=EXAMPLE_FOLDERS[1]) if PHASE2 else []


def phase2_held_out_record(wildcards=None):
    return [held_out_record(folder=EXAMPLE_FOLDERS[1])] if PHASE2 else []


def final_held_out_record(wildcards=None):
    """What the final model is evaluated on: the held-out shard of the last phase's examples."""
    return held_out_record(folder=FINAL_EXAMPLES)


def examples_setting(key):
    """A pretraining_data param that each folder of EXAMPLES sets for itself."""
    return lambda wildcards: EXAMPLES[wildcards.examples][key]


# The script a TPU VM runs (tpu.train_command); it and what it imports are all of scripts/ that a VM gets.
TPU_ENTRY = "train_cli.py"


def train_upload(wildcards=None):
    """A TPU VM trains from the bucket: the data must be there first."""
    return [f"{RESULTS}/upload/manifest.json"] if TPU else []


def upload_folders():
    """{local folder: gs:// URL} that `upload` mirrors; a TPU VM also needs this project's scripts."""
    folders = {f"{RESULTS}/{name}": f"{BUCKET_URL}/{name}" for name in (bucket.MODEL_DIR, *EXAMPLES)}
    if TPU:
        folders[f"{RESULTS}/tpu/code"] = f"{BUCKET_URL}/{bucket.CODE}"
    return folders
