# What pre-training bought: GLUE-style tasks fine-tuned from the pre-trained model and from a random initialisation
# of the same architecture (finetune.tasks; none by default, and then the target says so). Not part of `train`.
FINETUNE = config["finetune"]
FINETUNE_TASKS = FINETUNE["tasks"]


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
            raise WorkflowError(f"finetune.tasks: path {path!r} does not exist; give a task's folder, files or URL")
    names = [task.get("glue") or task["name"] for task in FINETUNE_TASKS]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise WorkflowError(f"finetune.tasks: {', '.join(twice)} given twice; keep one entry per task")


check_finetune_config()


rule finetune:
    input:
        # No tasks, nothing to fine-tune: the target then needs no trained model.
        model=f"{RESULTS}/trained/model" if FINETUNE_TASKS else [],
        tasks=finetune_task_paths,
    output:
        scores=f"{RESULTS}/finetune/scores.json",
        table=f"{RESULTS}/finetune/scores.md",
    log:
        f"{RESULTS}/logs/finetune/finetune.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/finetune.tsv"
    params:
        tasks=FINETUNE_TASKS,
        learning_rate=FINETUNE["learning_rate"],
        batch_size=FINETUNE["batch_size"],
        epochs=FINETUNE["epochs"],
        warmup_proportion=FINETUNE["warmup_proportion"],
        max_seq_length=FINETUNE["max_seq_length"],
        dropout=FINETUNE["dropout"],
        seeds=FINETUNE["seeds"],
        # Text is split as the vocabulary and the pre-training examples were made.
        do_lower_case=TOKENIZER["do_lower_case"],
        strip_accents=STRIP_ACCENTS,
        backend=TRAIN["backend"],
        # A TPU trains on its VM; fine-tuning runs here, on whatever this machine has.
        device="auto" if TPU else TRAIN["device"],
        # GLUE archives given by URL are fetched and unpacked here once.
        download_dir=f"{RESULTS}/finetune/downloads",
    threads: MAX_THREADS
    resources:
        mem_mb=TRAIN["mem_mb"],
        runtime=TRAIN["runtime_minutes"],
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/finetune.py"
