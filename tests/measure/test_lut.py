"""Lookup tables: every part of a space measured on a device, stored and read back."""

from __future__ import annotations

import pytest

from nasedge.errors import NasedgeError
from nasedge.measure import Device, LatencyTable, arch_parts, lookup_table_parts, measure_lookup_table
from nasedge.predict.lut import LUTPredictor
from nasedge.spaces import get_space


def test_measure_save_load_and_look_up(tmp_path, device_config):
    device = Device.from_config(device_config("lut-dev"))
    progress = []
    table = measure_lookup_table(device, "ofa_mbv3_cifar", resolutions=[24],
                                 progress=lambda done, total: progress.append((done, total)))
    assert len(table) == len(lookup_table_parts("ofa_mbv3_cifar", [24])) == progress[-1][0] == progress[-1][1]
    assert table.meta["resolutions"] == [24] and all(s.median_ms > 0 for s in table.entries.values())
    table.save(tmp_path / "lut.json")
    back = LatencyTable.load(tmp_path / "lut.json")
    assert back.device == "lut-dev" and back.entries == table.entries
    arch = get_space("ofa_mbv3_cifar").sample(0)
    arch = type(arch)(**{**arch.to_dict(), "resolution": 24})
    assert sum(back[p].median_ms for p in arch_parts(arch)) > 0
    wider = type(arch)(**{**arch.to_dict(), "resolution": 32})
    with pytest.raises(NasedgeError, match="no entry for part stem:in32"):
        back[arch_parts(wider)[0]]
    # the lut predictor reads the same file and adds up the same parts
    lut = LUTPredictor("ofa_mbv3_cifar", table=tmp_path / "lut.json")
    assert lut.table_latency([arch])[0] == pytest.approx(sum(back[p].median_ms for p in arch_parts(arch)))
