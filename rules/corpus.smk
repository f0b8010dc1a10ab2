rule download:
    output:
        f"{RESULTS}/raw/corpus.txt",
    log:
        f"{RESULTS}/logs/download/download.log",
    benchmark:
        f"{RESULTS}/benchmarks/download/download.tsv"
    params:
        source=corpus_source(),
        max_lines=download_max_lines(),
        timeout=CORPUS["timeout"],
    resources:
        mem_mb=500,
        disk_mb=text_mb(),
        runtime=30 + LINES // 1_000_000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/download.py"


rule subset:
    input:
        raw_corpus,
    output:
        f"{RESULTS}/dataset.txt",
    log:
        f"{RESULTS}/logs/subset/subset.log",
    benchmark:
        f"{RESULTS}/benchmarks/subset/subset.tsv"
    params:
        max_lines=CORPUS["max_lines"],
    resources:
        mem_mb=500,
        disk_mb=text_mb(),
        runtime=10 + LINES // 5_000_000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/subset.py"


rule normalize:
    input:
        f"{RESULTS}/dataset.txt",
    output:
        f"{RESULTS}/proc_dataset.txt",
    log:
        f"{RESULTS}/logs/normalize/normalize.log",
    benchmark:
        f"{RESULTS}/benchmarks/normalize/normalize.tsv"
    threads: MAX_THREADS
    resources:
        mem_mb=lambda wildcards, threads: 500 + 300 * threads,
        disk_mb=text_mb(),
        runtime=10 + LINES // 2_000_000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/normalize.py"
