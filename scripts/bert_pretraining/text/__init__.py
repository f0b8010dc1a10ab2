"""Recipe steps 1-5: the corpus, its normalisation, SentencePiece, vocab.txt and its check."""
