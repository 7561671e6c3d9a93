"""Data: corpora from files and folders, tokenizers, and the batches a training step eats."""
