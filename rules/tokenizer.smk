rule tokenizer_text:
    input:
        f"{RESULTS}/proc_dataset.txt",
    output:
        train=f"{RESULTS}/tokenizer/train.txt",
        heldout=f"{RESULTS}/tokenizer/heldout.txt",
    log:
        f"{RESULTS}/logs/tokenizer_text/tokenizer_text.log",
    benchmark:
        f"{RESULTS}/benchmarks/tokenizer_text/tokenizer_text.tsv"
    params:
        heldout_lines=TOKENIZER["heldout_lines"],
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
        model_type=TOKENIZER["model_type"],
        input_sentence_size=TOKENIZER["input_sentence_size"],
        shuffle_input_sentence=TOKENIZER["shuffle_input_sentence"],
        character_coverage=TOKENIZER["character_coverage"],
        seed=TOKENIZER["seed"],
        num_threads=TOKENIZER["num_threads"],
        # The `bert` conversion's text is already as BERT will see it, so SentencePiece must not NFKC it;
        # and with CJK split into single characters, its size estimate refuses sizes it can in fact reach.
        extra_options=(
            {"normalization_rule_name": "identity", "hard_vocab_limit": False}
            if TOKENIZER["conversion"] == "bert"
            else {}
        )
        | TOKENIZER["extra_options"],
    threads: TOKENIZER["num_threads"]
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
        num_placeholders=TOKENIZER["num_placeholders"],
        conversion=TOKENIZER["conversion"],
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/vocab.py"


rule vocab_check:
    input:
        vocab=f"{RESULTS}/vocab.txt",
        heldout=f"{RESULTS}/tokenizer/heldout.txt",
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
    resources:
        mem_mb=500,
        runtime=10,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/vocab_check.py"
