"""Rule `train` (recipe step 10) here, and the training command line (on a TPU VM, or without Snakemake):

    python scripts/train_cli.py --bert-config bert_model/bert_config.json --vocab bert_model/vocab.txt \\
        --train-files pretraining_data/shard_0000.tfrecord ... --eval-files pretraining_data/shard_0009.tfrecord \\
        --model-dir gs://BUCKET/bert_model --manifest manifest.json --final-model-dir trained_model --backend jax

`--help` lists every option (bert_pretraining.training.train_cli)."""

import sys

from bert_pretraining.training.train_cli import cli, snakemake_job

if "snakemake" in globals():
    snakemake_job(snakemake)
else:
    cli(sys.argv[1:])
