"""The pipeline's library: what the rule scripts in scripts/ call, one folder per stage, each importable and
testable without Snakemake.

text/      corpus download, normalisation, SentencePiece, the WordPiece vocabulary and its check (steps 1-5)
examples/  shards, pre-training examples and their record format (steps 6-7)
modeling/  bert_config.json, the Keras model, the exports
training/  the training loop, its settings and command line, checkpoints, devices, input pipeline, evaluation
cloud/     Cloud Storage uploads and the Cloud TPU submitter that follows a VM
report/    the report's statistics and plots
Beside them, what every stage shares (atomic outputs, logs, progress lines) and the config's contracts that the
workflow imports when it is parsed (config_validation, derived_config, script_imports).
"""
