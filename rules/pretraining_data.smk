# Recipe steps 7-8: BERT pre-training examples, one job per shard (single-threaded, so --cores N runs N shards
# at once), and the model dir (bert_config.json + vocab.txt).

EXAMPLES = config["pretraining_data"]
# Calibration (bench/bench_pretraining_data.py on this repository's 2-core machine): a 256,000-line shard peaks
# at 140 MB and writes 170 MB in about 5 s with dupe_factor 5.
SHARD_LINES = config["shards"]["lines_per_shard"]


rule pretraining_data:
    input:
        shard=f"{RESULTS}/shards/shard_{{shard}}",
        # The checkpoint's list of shards: without an input that `shard` makes, Snakemake drops the finished
        # job from the graph of `train` (and the report's), as no job makes the files inside its folder. Not
        # the folder itself, which each job on a cluster without a shared file system would fetch whole.
        shards=f"{RESULTS}/shards.txt",
        vocab=f"{RESULTS}/vocab.txt",
        # No examples from a vocabulary that fails the held-out [UNK] check.
        vocab_check=f"{RESULTS}/tokenizer/vocab_check.json",
    output:
        records=f"{RESULTS}/pretraining_data/shard_{{shard}}.tfrecord",
        stats=f"{RESULTS}/pretraining_data/shard_{{shard}}.stats.json",
    log:
        f"{RESULTS}/logs/pretraining_data/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretraining_data/{{shard}}.tsv"
    params:
        max_seq_length=EXAMPLES["max_seq_length"],
        max_predictions_per_seq=EXAMPLES["max_predictions_per_seq"],
        masked_lm_prob=EXAMPLES["masked_lm_prob"],
        short_seq_prob=EXAMPLES["short_seq_prob"],
        dupe_factor=EXAMPLES["dupe_factor"],
        random_seed=EXAMPLES["random_seed"],
        # Text is split exactly as the vocabulary was made (tokenizer.do_lower_case, tokenizer.strip_accents).
        do_lower_case=TOKENIZER["do_lower_case"],
        strip_accents=STRIP_ACCENTS,
        do_whole_word_mask=EXAMPLES["do_whole_word_mask"],
        compression=EXAMPLES["compression"],
        feature_names=EXAMPLES["feature_names"],
    threads: 1
    resources:
        mem_mb=300 + SHARD_LINES // 1000,
        disk_mb=50 + SHARD_LINES * EXAMPLES["dupe_factor"] // 6000,
        runtime=5 + SHARD_LINES // 50_000,
    # `--group-components pretraining_data=N` batches N to a submission; Snakemake 9.27.1 gets only one group
    # right (N >= the shard count), and it saves little (README, "On a cluster"). Local runs ignore groups.
    group:
        "pretraining_data"
    conda:
        "../envs/pretraining_data.yaml"
    script:
        "../scripts/pretraining_data.py"


rule bert_config:
    input:
        vocab=f"{RESULTS}/vocab.txt",
    output:
        config=f"{RESULTS}/bert_model/bert_config.json",
        vocab=f"{RESULTS}/bert_model/vocab.txt",
    log:
        f"{RESULTS}/logs/bert_config/bert_config.log",
    benchmark:
        f"{RESULTS}/benchmarks/bert_config/bert_config.tsv"
    params:
        model=config["model"],
        vocab_size=TOKENIZER["vocab_size"],
        max_seq_length=EXAMPLES["max_seq_length"],
    resources:
        mem_mb=200,
        runtime=5,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/bert_config.py"


# Every shard's examples and the model dir: what training (and an upload) needs.
rule examples:
    input:
        pretraining_records,
        f"{RESULTS}/bert_model/bert_config.json",
        f"{RESULTS}/bert_model/vocab.txt",
