"""The built-in trainer plugin: train, fine-tune and sample small GPT-style language models, live."""
