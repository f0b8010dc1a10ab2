# Recipe step 7: BERT pre-training examples, one job per shard (single-threaded, so --cores N runs N shards
# at once); the `examples` target adds the model dir (rules/model.smk).


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
        # {examples}: a folder of EXAMPLES, one per training phase (pretraining_data_phase2: phase2's lengths).
        records=f"{RESULTS}/{{examples}}/shard_{{shard}}.tfrecord",
        stats=f"{RESULTS}/{{examples}}/shard_{{shard}}.stats.json",
    log:
        f"{RESULTS}/logs/{{examples}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{examples}}/{{shard}}.tsv"
    params:
        max_seq_length=examples_setting("max_seq_length"),
        max_predictions_per_seq=examples_setting("max_predictions_per_seq"),
        masked_lm_prob=PRETRAINING_DATA["masked_lm_prob"],
        short_seq_prob=PRETRAINING_DATA["short_seq_prob"],
        dupe_factor=PRETRAINING_DATA["dupe_factor"],
        random_seed=PRETRAINING_DATA["random_seed"],
        # Text is split exactly as the vocabulary was made (tokenizer.do_lower_case, tokenizer.strip_accents).
        do_lower_case=TOKENIZER["do_lower_case"],
        strip_accents=STRIP_ACCENTS,
        do_whole_word_mask=PRETRAINING_DATA["do_whole_word_mask"],
        compression=PRETRAINING_DATA["compression"],
        feature_names=PRETRAINING_DATA["feature_names"],
    threads: 1
    resources:
        mem_mb=300 + SHARD_LINES // 1000,
        disk_mb=50 + SHARD_LINES * PRETRAINING_DATA["dupe_factor"] // 6000,
        runtime=5 + SHARD_LINES // 50_000,
    conda:
        "../envs/pretraining_data.yaml"
    script:
        "../scripts/pretraining_data.py"


# Every shard's examples and the model dir: what training (and an upload) needs.
rule examples:
    input:
        all_records,
        f"{RESULTS}/bert_model/bert_config.json",
        f"{RESULTS}/bert_model/vocab.txt",
