"""Property-based fuzzing of the OpenAPI schema (schemathesis) against a live server: no server errors, and
responses that conform to the schema (status codes, content types, bodies, Allow headers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nasedge.client import PredictorClient

# Registration and prediction validate archs against the device's space beyond what a schema can say
# (choices per space, the space's reference archs), so schema-valid bodies are often rightly refused.
CHECKS = ["--checks", "all", "--exclude-checks", "positive_data_acceptance"]


def _schemathesis() -> list[str]:
    exe = Path(sys.executable).with_name("schemathesis")
    if exe.exists():
        return [str(exe)]
    if shutil.which("schemathesis"):
        return ["schemathesis"]
    pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")


def _fuzz(serve, token, measurements, tmp_path, *options: str) -> str:
    with serve(max_batch=50, max_measurements=40) as url:
        PredictorClient(url, token=token).register("jetson-orin", "ofa_mbv3_w1.2", measurements)
        run = subprocess.run([*_schemathesis(), "run", f"{url}/openapi.json", *CHECKS, "-H",
                              f"Authorization: Bearer {token}", "--workers", "1", "--seed", "1", *options],
                             cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "not_a_server_error" not in run.stdout
    return run.stdout


def test_schema_fuzzing_bounded(serve, token, measurements, tmp_path):
    _fuzz(serve, token, measurements, tmp_path, "--phases", "examples,coverage,fuzzing",
          "--max-examples", "15")


@pytest.mark.slow
def test_schema_fuzzing_long(serve, token, measurements, tmp_path):
    out = _fuzz(serve, token, measurements, tmp_path, "--max-time", "300")
    print(out[-1500:])
