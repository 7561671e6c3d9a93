"""Settings of a tiny training run, for the tests where another plugin uses what the trainer
made: a 2-layer, 32-wide model, 16-token context, 20 steps (a few seconds on a laptop CPU)."""

TINY_TRAINING = {
    "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16},
    "max_steps": 20,
    "batch_size": 4,
    "warmup_steps": 2,
    "learning_rate": 3e-3,
    "log_interval": 5,
    "eval_interval": 10,
    "eval_iters": 2,
    "sample_interval": 0,
    "checkpoint_interval": 10,
}
