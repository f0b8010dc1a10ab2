# What pre-training bought: GLUE-style tasks fine-tuned from the pre-trained model and from a random initialisation
# of the same architecture (finetune.tasks; none by default, and then the target says so). Not part of `train`.
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
        pooler=FINETUNE["pooler"],
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
