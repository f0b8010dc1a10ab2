# A checkpoint: how many shards there are is known only once the text is split.
checkpoint shard:
    input:
        f"{RESULTS}/proc_dataset.txt",
    output:
        directory(f"{RESULTS}/shards"),
    log:
        f"{RESULTS}/logs/shard/shard.log",
    benchmark:
        f"{RESULTS}/benchmarks/shard/shard.tsv"
    conda:
        "../envs/data.yaml"
    params:
        lines_per_shard=config["shards"]["lines_per_shard"],
        per_shard_folders=[f"{RESULTS}/pretraining_data"],
    script:
        "../scripts/shard.py"
