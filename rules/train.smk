# Recipe step 10: pre-train BERT on the .tfrecord shards, then evaluate and export it.
#
# Checkpoints live in a model dir of their own ({train.model_dir or RESULTS/checkpoints}/<model-config hash>/),
# never among a rule's outputs: Snakemake deletes declared outputs before re-running a job, and a re-run must
# resume from them. The outputs are a small manifest and the final weights.


rule train:
    input:
        bert_config=f"{RESULTS}/bert_model/bert_config.json",
        vocab=f"{RESULTS}/bert_model/vocab.txt",
        records=training_records,
        held_out=held_out_record,
    output:
        manifest=f"{RESULTS}/trained/manifest.json",
        model=directory(f"{RESULTS}/trained/model"),
    log:
        f"{RESULTS}/logs/train/train.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/train.tsv"
    params:
        model_dir=TRAIN["model_dir"] or f"{RESULTS}/checkpoints",
        backend=TRAIN["backend"],
        device=TRAIN["device"],
        batch_size=TRAIN["batch_size"],
        learning_rate=TRAIN["learning_rate"],
        warmup_steps=TRAIN["warmup_steps"],
        num_train_steps=TRAIN["num_train_steps"],
        save_checkpoints_steps=TRAIN["save_checkpoints_steps"],
        keep_checkpoints=TRAIN["keep_checkpoints"],
        log_every_steps=TRAIN["log_every_steps"],
        mixed_precision=TRAIN["mixed_precision"],
        jit_compile=TRAIN["jit_compile"],
        steps_per_execution=TRAIN["steps_per_execution"],
        shuffle_buffer=TRAIN["shuffle_buffer"],
        seed=TRAIN["seed"],
        eval_batch_size=TRAIN["eval_batch_size"],
        eval_steps=TRAIN["eval_steps"],
        max_seq_length=config["pretraining_data"]["max_seq_length"],
        max_predictions_per_seq=config["pretraining_data"]["max_predictions_per_seq"],
    threads: MAX_THREADS
    resources:
        # The model's size and the device decide both; train.mem_mb and train.runtime_minutes say them for a cluster.
        mem_mb=TRAIN["mem_mb"],
        runtime=TRAIN["runtime_minutes"],
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        model=f"{RESULTS}/trained/model",
        held_out=held_out_record,
    output:
        f"{RESULTS}/trained/eval_metrics.json",
    log:
        f"{RESULTS}/logs/evaluate/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/evaluate.tsv"
    params:
        batch_size=TRAIN["eval_batch_size"],
        max_steps=0,  # every held-out example
        max_seq_length=config["pretraining_data"]["max_seq_length"],
        max_predictions_per_seq=config["pretraining_data"]["max_predictions_per_seq"],
    threads: MAX_THREADS
    resources:
        mem_mb=TRAIN["mem_mb"],
        runtime=60,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/evaluate.py"


rule export:
    input:
        model=f"{RESULTS}/trained/model",
    output:
        keras_hub=directory(f"{RESULTS}/export/keras_hub"),
        huggingface=directory(f"{RESULTS}/export/huggingface"),
    log:
        f"{RESULTS}/logs/export/export.log",
    benchmark:
        f"{RESULTS}/benchmarks/export/export.tsv"
    params:
        max_seq_length=config["pretraining_data"]["max_seq_length"],
        # The exported tokenizers split text as the vocabulary and the examples were made.
        do_lower_case=TOKENIZER["do_lower_case"],
        strip_accents=STRIP_ACCENTS,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/export.py"
