# Recipe step 8: the model dir, bert_config.json (the config's model section, tokenizer.vocab_size, and the
# positions the longest phase trains) with a copy of vocab.txt.


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
        model=MODEL,
        vocab_size=TOKENIZER["vocab_size"],
        max_seq_length=TRAINED_POSITIONS,
    resources:
        mem_mb=200,
        runtime=5,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/bert_config.py"
