rule download:
    output:
        f"{RESULTS}/raw/corpus.txt",
    log:
        f"{RESULTS}/logs/download/download.log",
    benchmark:
        f"{RESULTS}/benchmarks/download/download.tsv"
    conda:
        "../envs/data.yaml"
    params:
        source=corpus_source(),
        max_lines=download_max_lines(),
        timeout=CORPUS["timeout"],
    script:
        "../scripts/corpus.py"


rule subset:
    input:
        raw_corpus,
    output:
        f"{RESULTS}/dataset.txt",
    log:
        f"{RESULTS}/logs/subset/subset.log",
    benchmark:
        f"{RESULTS}/benchmarks/subset/subset.tsv"
    conda:
        "../envs/data.yaml"
    params:
        max_lines=CORPUS["max_lines"],
    script:
        "../scripts/corpus.py"


rule normalize:
    input:
        f"{RESULTS}/dataset.txt",
    output:
        f"{RESULTS}/proc_dataset.txt",
    log:
        f"{RESULTS}/logs/normalize/normalize.log",
    benchmark:
        f"{RESULTS}/benchmarks/normalize/normalize.tsv"
    conda:
        "../envs/data.yaml"
    threads: MAX_THREADS
    script:
        "../scripts/normalize.py"
