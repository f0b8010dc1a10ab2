"""Recipe steps 6-7: shards, BERT pre-training examples and their TFRecord format."""
