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
    conda:
        "../envs/data.yaml"
    threads: MAX_THREADS
    params:
        vocab_size=TOKENIZER["vocab_size"],
        num_placeholders=TOKENIZER["num_placeholders"],
        model_type=TOKENIZER["model_type"],
        input_sentence_size=TOKENIZER["input_sentence_size"],
        shuffle_input_sentence=TOKENIZER["shuffle_input_sentence"],
        character_coverage=TOKENIZER["character_coverage"],
        seed=TOKENIZER["seed"],
        extra_options=TOKENIZER["extra_options"],
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
    conda:
        "../envs/data.yaml"
    params:
        vocab_size=TOKENIZER["vocab_size"],
    script:
        "../scripts/vocab.py"
