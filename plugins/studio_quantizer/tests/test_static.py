"""Static quantization: observers (min-max, percentile, MSE), calibration through the model
loader, the calibrated model's loss, and an empty calibration set."""

from __future__ import annotations

import json

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


def test_static_mode_from_the_cli(make_studio, run_job, tmp_path, capsys):
    import studio_trainer.hooks as trainer_hooks
    from studio_trainer.tests.helpers import tiny

    from studio.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Now is the winter of our discontent made glorious summer by this sun of York.\n" * 200)
    trained = run_job(make_studio(("trainer", trainer_hooks)), "trainer.train", tiny(corpus))
    source = sorted((trained.run.dir / "checkpoints").glob("step-*"))[-1]
    assert main(["quantize", str(source), "--mode", "static", "--observer", "percentile", "--measure", str(corpus),
                 "--repeats", "2", "--out", str(tmp_path / "s"), "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)["measured"]
    assert abs(measured["static_int8_percentile"]["loss"] - measured["fp32"]["loss"]) < 0.1
    empty = tmp_path / "empty.txt"
    empty.write_text("   ")
    assert main(["quantize", str(source), "--mode", "static", "--calibration", str(empty),
                 "--out", str(tmp_path / "e")]) == 2
    assert "calibration set is empty" in capsys.readouterr().err and not (tmp_path / "e").exists()
