"""The built-in trainer plugin: train and fine-tune small language models, live.

Layout: ``model/`` (the GPT decoder, attention types, LoRA, summary), ``data/`` (corpora,
tokenizers, batches), ``train/`` (the loop, checkpoints, sampling), ``qt/`` (panels),
``hooks.py`` (what the studio sees). Only ``studio.api`` (and ``studio.widgets`` in
panels) is used from the studio.
"""
