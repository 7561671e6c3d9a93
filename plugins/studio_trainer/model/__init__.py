"""Models: the GPT decoder, its attention types and blocks, LoRA and the model summary."""
