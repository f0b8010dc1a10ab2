"""Recipe step 10: the training loop, its settings and command line, checkpoints, devices, evaluation. All that a
TPU VM runs: nothing here imports the submitter or the uploader (cloud/)."""
