"""`nasedge specialize` and the devices a user brings: errors before any work, on the device's kind."""

import pytest

from nasedge.cli import main
from tests.specialize.test_specialize_cli import _error


@pytest.mark.parametrize("args, message", [
    (["--device", "titan_rtx_64", "--measurements", "x.csv"],
     "--measurements x.csv: device titan_rtx_64 is predict-only (published measurements only), so no profile is "
     "fitted from measurements"),
    (["--device", "cpu", "--measurements", "x.csv", "--predictor-url", "http://127.0.0.1:9"],
     "--measurements x.csv: with --predictor-url the service's profile predicts latency"),
    (["--device", "h200-torch-fp16-b1"], "device h200-torch-fp16-b1 cannot be measured here: runtime torch needs"),
])
def test_device_problems_are_one_line_before_any_work(args, message, capsys, tmp_path):
    import torch

    if "h200-torch-fp16-b1" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["specialize", "--latency", "20ms", "--out", str(tmp_path / "out"), *args]) == 2
    assert message in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_device_only_the_service_knows_needs_the_service(capsys, tmp_path):
    # no device file and no --predictor-url: unknown, with how to add it
    assert main(["specialize", "--device", "lab-board", "--latency", "2ms", "--out", str(tmp_path / "o")]) == 2
    line = _error(capsys)
    assert "unknown device 'lab-board'" in line and "nasedge devices add lab-board" in line
    # with a service that cannot be reached: the service is asked (and named), not the local devices
    assert main(["specialize", "--device", "lab-board", "--latency", "2ms", "--predictor-url", "http://127.0.0.1:9",
                 "--out", str(tmp_path / "o")]) == 2
    assert "cannot reach the predictor service at http://127.0.0.1:9" in _error(capsys)
