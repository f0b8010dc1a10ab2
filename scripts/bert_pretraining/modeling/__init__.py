"""bert_config.json, the Keras BERT pre-training model, and its exports."""
