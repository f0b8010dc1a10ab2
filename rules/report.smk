# The report's own results: statistics and plots per stage, shown by `snakemake --report report.html`
# grouped by stage (report() categories). Built on demand only: nothing that `data` or `train` requests needs
# them. `report_data` covers recipe steps 1-7, `report` adds training, and fine-tuning when finetune.tasks has tasks.


rule corpus_stats:
    input:
        raw=raw_corpus,
        dataset=f"{RESULTS}/dataset.txt",
        normalized=f"{RESULTS}/proc_dataset.txt",
    output:
        table=report(
            f"{RESULTS}/report/corpus/summary.html",
            caption="../report/corpus_summary.rst",
            category="1. Corpus",
            labels={"figure": "lines, characters, documents"},
        ),
        plot=report(
            f"{RESULTS}/report/corpus/line_lengths.svg",
            caption="../report/corpus_line_lengths.rst",
            category="1. Corpus",
            labels={"figure": "line-length histogram"},
        ),
        plot_data=report(
            f"{RESULTS}/report/corpus/line_lengths.json",
            caption="../report/corpus_line_lengths_data.rst",
            category="1. Corpus",
            labels={"figure": "line-length histogram: its numbers (JSON)"},
        ),
        json=f"{RESULTS}/report/corpus/stats.json",
    log:
        f"{RESULTS}/logs/corpus_stats/corpus_stats.log",
    benchmark:
        f"{RESULTS}/benchmarks/corpus_stats/corpus_stats.tsv"
    # Reads the three corpus files in 8 MB blocks (numpy), at about disk speed.
    resources:
        mem_mb=1000,
        runtime=10 + LINES // 2_000_000,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/corpus_stats.py"


rule tokenizer_stats:
    input:
        vocab=f"{RESULTS}/vocab.txt",
        sentencepiece_vocab=f"{RESULTS}/tokenizer.vocab",
        vocab_check=f"{RESULTS}/tokenizer/vocab_check.json",  # measured on lines SentencePiece never saw
    output:
        table=report(
            f"{RESULTS}/report/tokenizer/summary.html",
            caption="../report/tokenizer_summary.rst",
            category="2. Tokenizer",
            labels={"figure": "vocabulary, [UNK] rate, tokens and their pieces"},
        ),
        plot=report(
            f"{RESULTS}/report/tokenizer/pieces_per_word.svg",
            caption="../report/tokenizer_pieces_per_word.rst",
            category="2. Tokenizer",
            labels={"figure": "WordPiece tokens per word"},
        ),
        plot_data=report(
            f"{RESULTS}/report/tokenizer/pieces_per_word.json",
            caption="../report/tokenizer_pieces_per_word_data.rst",
            category="2. Tokenizer",
            labels={"figure": "WordPiece tokens per word: its numbers (JSON)"},
        ),
        json=f"{RESULTS}/report/tokenizer/stats.json",
    log:
        f"{RESULTS}/logs/tokenizer_stats/tokenizer_stats.log",
    benchmark:
        f"{RESULTS}/benchmarks/tokenizer_stats/tokenizer_stats.tsv"
    params:
        num_placeholders=TOKENIZER["num_placeholders"],
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/tokenizer_stats.py"


rule pretraining_stats:
    input:
        # The statistics each current shard's pretraining_data job writes beside its records.
        lambda wildcards: [
            record.removesuffix(".tfrecord") + ".stats.json" for record in pretraining_records()
        ],
    output:
        table=report(
            f"{RESULTS}/report/pretraining_data/summary.html",
            caption="../report/pretraining_summary.rst",
            category="3. Pre-training data",
            labels={"figure": "instances, masking, next sentence"},
        ),
        plot=report(
            f"{RESULTS}/report/pretraining_data/sequence_lengths.svg",
            caption="../report/pretraining_sequence_lengths.rst",
            category="3. Pre-training data",
            labels={"figure": "sequence lengths, instances per shard"},
        ),
        plot_data=report(
            f"{RESULTS}/report/pretraining_data/sequence_lengths.json",
            caption="../report/pretraining_sequence_lengths_data.rst",
            category="3. Pre-training data",
            labels={"figure": "sequence lengths, instances per shard: their numbers (JSON)"},
        ),
        json=f"{RESULTS}/report/pretraining_data/stats.json",
    log:
        f"{RESULTS}/logs/pretraining_stats/pretraining_stats.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretraining_stats/pretraining_stats.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/pretraining_stats.py"


rule training_plots:
    input:
        manifest=f"{RESULTS}/trained/manifest.json",
        eval_metrics=f"{RESULTS}/trained/eval_metrics.json",
    output:
        plot=report(
            f"{RESULTS}/report/training/curves.svg",
            caption="../report/training_curves.rst",
            category="4. Training",
            labels={"figure": "loss and accuracy against step"},
        ),
        plot_data=report(
            f"{RESULTS}/report/training/curves.json",
            caption="../report/training_curves_data.rst",
            category="4. Training",
            labels={"figure": "loss and accuracy against step: their numbers (JSON)"},
        ),
        table=report(
            f"{RESULTS}/report/training/summary.html",
            caption="../report/training_summary.rst",
            category="4. Training",
            labels={"figure": "speed and final evaluation"},
        ),
        json=f"{RESULTS}/report/training/stats.json",
    log:
        f"{RESULTS}/logs/training_plots/training_plots.log",
    benchmark:
        f"{RESULTS}/benchmarks/training_plots/training_plots.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/training_plots.py"


# Only with finetune.tasks: the `report` target then fine-tunes them (rule finetune) and shows the scores.
rule finetune_table:
    input:
        scores=f"{RESULTS}/finetune/scores.json",
    output:
        table=report(
            f"{RESULTS}/report/finetune/summary.html",
            caption="../report/finetune_summary.rst",
            category="5. Fine-tuning",
            labels={"figure": "pre-trained against random init, per task and metric"},
        ),
        json=f"{RESULTS}/report/finetune/stats.json",
    log:
        f"{RESULTS}/logs/finetune_table/finetune_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune_table/finetune_table.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/finetune_table.py"


rule report_data:
    input:
        rules.corpus_stats.output,
        rules.tokenizer_stats.output,
        rules.pretraining_stats.output,


rule report:
    input:
        rules.report_data.input,
        rules.training_plots.output,
        rules.finetune_table.output if FINETUNE_TASKS else [],
