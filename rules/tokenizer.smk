rule tokenizer_text:
    input:
        f"{RESULTS}/proc_dataset.txt",
    output:
        train=f"{RESULTS}/tokenizer/train.txt",
        heldout=f"{RESULTS}/tokenizer/heldout.txt",
        chars=f"{RESULTS}/tokenizer/chars.tsv",
    log:
        f"{RESULTS}/logs/tokenizer_text/tokenizer_text.log",
    benchmark:
        f"{RESULTS}/benchmarks/tokenizer_text/tokenizer_text.tsv"
    params:
        heldout_lines=TOKENIZER["heldout_lines"],
        input_sentence_size=TOKENIZER["input_sentence_size"],
        shuffle_input_sentence=TOKENIZER["shuffle_input_sentence"],
        seed=TOKENIZER["seed"],
        conversion=TOKENIZER["conversion"],
        do_lower_case=TOKENIZER["do_lower_case"],
        strip_accents=STRIP_ACCENTS,
    threads: MAX_THREADS
    resources:
        mem_mb=lambda wildcards, threads: 500 + 300 * threads,
        disk_mb=text_mb(),
        runtime=10 + LINES // 1_000_000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/tokenizer_text.py"


rule sentencepiece:
    input:
        f"{RESULTS}/tokenizer/train.txt",
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
        conversion=TOKENIZER["conversion"],
        model_type=TOKENIZER["model_type"],
        character_coverage=TOKENIZER["character_coverage"],
        seed=TOKENIZER["seed"],
        num_threads=TOKENIZER["num_threads"],
        extra_options=TOKENIZER["extra_options"],
    threads: TOKENIZER["num_threads"]
    resources:
        mem_mb=sentencepiece_mem_mb(),
        runtime=30 + LINES // 250_000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/sentencepiece_model.py"


rule wordpiece_vocab:
    input:
        pieces=f"{RESULTS}/tokenizer.vocab",
        chars=f"{RESULTS}/tokenizer/chars.tsv",
    output:
        f"{RESULTS}/vocab.txt",
    log:
        f"{RESULTS}/logs/wordpiece_vocab/wordpiece_vocab.log",
    benchmark:
        f"{RESULTS}/benchmarks/wordpiece_vocab/wordpiece_vocab.tsv"
    params:
        vocab_size=TOKENIZER["vocab_size"],
        num_placeholders=TOKENIZER["num_placeholders"],
        conversion=TOKENIZER["conversion"],
        min_char_frequency=TOKENIZER["min_char_frequency"],
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/wordpiece_vocab.py"


rule vocab_check:
    input:
        vocab=f"{RESULTS}/vocab.txt",
        heldout=f"{RESULTS}/tokenizer/heldout.txt",
        chars=f"{RESULTS}/tokenizer/chars.tsv",
    output:
        f"{RESULTS}/tokenizer/vocab_check.json",
    log:
        f"{RESULTS}/logs/vocab_check/vocab_check.log",
    benchmark:
        f"{RESULTS}/benchmarks/vocab_check/vocab_check.tsv"
    params:
        do_lower_case=TOKENIZER["do_lower_case"],
        strip_accents=STRIP_ACCENTS,
        max_unk_rate=TOKENIZER["max_unk_rate"],
        conversion=TOKENIZER["conversion"],
        min_char_frequency=TOKENIZER["min_char_frequency"],
    resources:
        mem_mb=500,
        runtime=10,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/vocab_check.py"
