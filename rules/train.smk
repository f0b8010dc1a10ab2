# Recipe step 10: pre-train BERT on the .tfrecord shards, then evaluate and export it. One train job trains
# every phase: phase 1, then (phase2.num_train_steps > 0) phase 2 on longer examples from phase 1's final weights.
#
# Checkpoints live in a model dir of their own ({train.model_dir or RESULTS/checkpoints}/<model-config hash>/),
# never among a rule's outputs: Snakemake deletes declared outputs before re-running a job, and a re-run must
# resume from them. The outputs are a small manifest and the final weights.


# Here (scripts/train_cli.py), or with tpu.name set on a Cloud TPU VM from the bucket (scripts/train_on_tpu.py
# starts and follows it): the same training code and values, the same outputs.
rule train:
    input:
        bert_config=f"{RESULTS}/bert_model/bert_config.json",
        vocab=f"{RESULTS}/bert_model/vocab.txt",
        records=training_records,
        held_out=held_out_record,
        # phase2: the examples of the second phase (none without one)
        phase2_records=phase2_training_records,
        phase2_held_out=phase2_held_out_record,
        upload=train_upload,
    output:
        manifest=f"{RESULTS}/trained/manifest.json",
        model=directory(f"{RESULTS}/trained/model"),
    log:
        f"{RESULTS}/logs/train/train.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/train.tsv"
    params:
        **TRAIN_PARAMS,
        **TPU_PARAMS,
        model_dir=MODEL_DIR,
    # The model's size and the device decide them; train.mem_mb and train.runtime_minutes say them for a cluster.
    # A job that follows a TPU needs little: the runtime is the TPU's.
    threads: 1 if TPU else MAX_THREADS
    resources:
        mem_mb=2000 if TPU else TRAIN["mem_mb"],
        runtime=TRAIN["runtime_minutes"],
    conda:
        "../envs/train.yaml"
    script:
        TRAIN_SCRIPT


rule evaluate:
    input:
        model=f"{RESULTS}/trained/model",
        held_out=final_held_out_record,
    output:
        f"{RESULTS}/trained/eval_metrics.json",
    log:
        f"{RESULTS}/logs/evaluate/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/evaluate.tsv"
    params:
        batch_size=TRAIN["eval_batch_size"],
        max_steps=0,  # every held-out example
        max_seq_length=EXAMPLES[FINAL_EXAMPLES]["max_seq_length"],
        max_predictions_per_seq=EXAMPLES[FINAL_EXAMPLES]["max_predictions_per_seq"],
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
        # google-research/bert's TensorFlow checkpoint: its run_classifier.py --init_checkpoint starts from it.
        google_bert=directory(f"{RESULTS}/export/google_bert"),
    log:
        f"{RESULTS}/logs/export/export.log",
    benchmark:
        f"{RESULTS}/benchmarks/export/export.tsv"
    params:
        # Positions past the longest phase's sequences were never trained: the exports leave them out.
        max_seq_length=TRAINED_POSITIONS,
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
