"""Static quantization: observers (min-max, percentile, MSE) and an empty calibration set.
(Calibration through the model loader and the calibrated model's loss:
tests/integration/test_quantizer_and_trainer.py.)"""

from __future__ import annotations

import pytest
import torch

from studio_quantizer.observers import Observer


def test_observers_choose_sensible_ranges():
    torch.manual_seed(0)
    data = torch.randn(100_000)
    data[0] = 60.0  # one outlier
    ranges = {}
    for kind in ("minmax", "percentile", "mse"):
        observer = Observer(kind)
        for chunk in data.split(10_000):
            observer.update(chunk)
        ranges[kind] = observer.range()
    assert ranges["minmax"][1] == pytest.approx(60.0)
    assert ranges["percentile"][1] < 6 and ranges["mse"][1] < 60.0  # the outlier is clipped
    with pytest.raises(ValueError, match="calibration set is empty"):
        Observer().range()
