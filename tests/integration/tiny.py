"""Settings of a tiny training run, for the tests where another plugin uses what the trainer
made: the trainer's own tiny settings (a 2-layer, 32-wide model, 16-token context, 20
steps; a few seconds on a laptop CPU), without a corpus: each test names its own."""

from studio_trainer.tests.helpers import tiny

TINY_TRAINING = {key: value for key, value in tiny("").items() if key != "data"}
