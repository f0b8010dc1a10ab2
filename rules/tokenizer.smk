rule sentencepiece:
    input:
        f"{RESULTS}/proc_dataset.txt",
    output:
        model=f"{RESULTS}/tokenizer.model",
        vocab=f"{RESULTS}/tokenizer.vocab",
    log:
        f"{RESULTS}/logs/sentencepiece/sentencepiece.log",
    benchmark:
        f"{RESULTS}/benchmarks/sentencepiece/sentencepiece.tsv"
    params:
        vocab_size=TOKENIZER["vocab_size"],
        num_placeholders=TOKENIZER["num_placeholders"],
        model_type=TOKENIZER["model_type"],
        input_sentence_size=TOKENIZER["input_sentence_size"],
        shuffle_input_sentence=TOKENIZER["shuffle_input_sentence"],
        character_coverage=TOKENIZER["character_coverage"],
        seed=TOKENIZER["seed"],
        extra_options=TOKENIZER["extra_options"],
    threads: MAX_THREADS
    resources:
        mem_mb=sentencepiece_mem_mb(),
        runtime=30 + LINES // 250_000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/tokenizer.py"


rule wordpiece_vocab:
    input:
        f"{RESULTS}/tokenizer.vocab",
    output:
        f"{RESULTS}/vocab.txt",
    log:
        f"{RESULTS}/logs/wordpiece_vocab/wordpiece_vocab.log",
    benchmark:
        f"{RESULTS}/benchmarks/wordpiece_vocab/wordpiece_vocab.tsv"
    params:
        vocab_size=TOKENIZER["vocab_size"],
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/vocab.py"
