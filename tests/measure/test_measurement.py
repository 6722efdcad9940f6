"""The measurements CSV: bad files and values are named in one-line errors."""

from __future__ import annotations

import pytest

from nasedge.errors import NasedgeError
from nasedge.measure import read_measurements


def test_bad_measurement_files(tmp_path):
    with pytest.raises(NasedgeError, match="no such measurements file"):
        read_measurements(tmp_path / "none.csv")
    (tmp_path / "a.csv").write_text("arch_id,latency\n1,2.0\n")
    with pytest.raises(NasedgeError, match="not a measurements CSV .*needs columns arch, device, median_ms"):
        read_measurements(tmp_path / "a.csv")
    arch = '"{""space"": ""ofa_mbv3_cifar"", ""kernel"": [3], ""expand"": [3], ""depth"": [1], ""resolution"": 32}"'
    (tmp_path / "b.csv").write_text(f"arch_id,device,median_ms,arch\n1,cpu,fast,{arch}\n")
    with pytest.raises(NasedgeError, match=r"b.csv:2: column 'median_ms': value 'fast' is not a number"):
        read_measurements(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text(f"arch_id,device,median_ms,arch\n1,cpu,-1,{arch}\n")
    with pytest.raises(NasedgeError, match=r"c.csv:2: column 'median_ms': value '-1' is not a positive latency"):
        read_measurements(tmp_path / "c.csv")
    (tmp_path / "d.csv").write_text("arch_id,device,median_ms,arch\n1,cpu,2.0,{}\n")
    with pytest.raises(NasedgeError, match=r"d.csv:2: field 'space'"):
        read_measurements(tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text(f"arch_id,device,median_ms,arch\nx,cpu,2.5,{arch}\n")
    (m,) = read_measurements(tmp_path / "e.csv")  # a minimal file (other columns optional)
    assert m.median_ms == 2.5 and m.arch_id == "x" and not m.noisy and m.stats.cpu_share is None
