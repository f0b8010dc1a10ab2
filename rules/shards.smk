# A checkpoint: how many shards there are is known only once the text is split.
checkpoint shard:
    input:
        f"{RESULTS}/proc_dataset.txt",
    output:
        directory(f"{RESULTS}/shards"),
        # The shards' names: what the per-shard jobs name as input to depend on this job (see pretraining_data).
        f"{RESULTS}/shards.txt",
    log:
        f"{RESULTS}/logs/shard/shard.log",
    benchmark:
        f"{RESULTS}/benchmarks/shard/shard.tsv"
    params:
        lines_per_shard=SHARDS["lines_per_shard"],
        per_shard_folders=[f"{RESULTS}/{folder}" for folder in EXAMPLE_FOLDERS],
    resources:
        mem_mb=500,
        disk_mb=text_mb(),
        runtime=10 + LINES // 10_000_000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/shard.py"
