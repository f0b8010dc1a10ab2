"""Fine-tuning on GLUE-style tasks: what pre-training bought, against a random initialisation."""
