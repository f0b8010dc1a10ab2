"""The bucket's layout under gs://BUCKET/PREFIX/, as the recipe has it: the workflow uploads to it, the TPU VM
trains from it and writes into it, the follower reads it back."""

MODEL_DIR = "bert_model"  # bert_config.json and vocab.txt (uploaded), then what training writes:
CHECKPOINTS = f"{MODEL_DIR}/checkpoints"  # one folder per model config
TRAINED = f"{MODEL_DIR}/trained"  # the final weights, the manifest, a failed VM's error.log
CODE = "code"  # what the TPU VM runs (rule tpu_code)
# What the upload leaves alone in MODEL_DIR: training's, not the upload's to delete.
TRAINING_OUTPUTS = rf"^({CHECKPOINTS.split('/')[1]}|{TRAINED.split('/')[1]})/"
