"""The lookup-table file format: what measurement writes and the lut predictor reads."""

from __future__ import annotations

import json

import pytest

from nasedge.errors import NasedgeError
from nasedge.latency_table import FORMAT, LatencyTable, PartLatency

# an entry as nasedge.measure wrote it before the format had one class (LatencyStats.to_dict())
MEASURED = {"median_ms": 0.125, "p90_ms": 0.14, "mean_ms": 0.13, "min_ms": 0.12, "spread": 0.05, "rse": 0.01,
            "samples": 40, "rounds": 4, "cpu_share": None, "noisy": False, "reason": "", "probe_ms": None}


def test_measured_tables_round_trip_byte_for_byte(tmp_path):
    doc = {"format": FORMAT, "device": "cpu-ort-t1", "space": "ofa_mbv3_cifar",
           "meta": {"resolutions": [24], "nodes": ["here"], "measure": "local"},
           "entries": {"stem:in24": MEASURED, "head:in3": {**MEASURED, "median_ms": 0.5}}}
    text = json.dumps(doc, indent=1) + "\n"
    (tmp_path / "old.json").write_text(text)
    table = LatencyTable.load(tmp_path / "old.json")
    assert table.device == "cpu-ort-t1" and table.meta["resolutions"] == [24] and len(table) == 2
    assert table["stem:in24"] == PartLatency(0.125, MEASURED) and table["head:in3"].median_ms == 0.5
    table.save(tmp_path / "new.json")
    assert (tmp_path / "new.json").read_text() == text


def test_tables_of_medians_as_the_lut_predictor_stores_them():
    doc = {"format": FORMAT, "device": "d", "space": "s", "entries": {"stem:in24": 0.25, "head:in3": {"median_ms": 1}}}
    table = LatencyTable.from_dict(doc)
    assert table["stem:in24"] == PartLatency(0.25) and table["head:in3"].median_ms == 1.0
    medians = table.medians()
    assert medians.to_dict() == {"format": FORMAT, "device": "d", "space": "s",
                                 "entries": {"stem:in24": 0.25, "head:in3": 1.0}}
    assert LatencyTable.from_dict(medians.to_dict()) == medians
    assert "stem:in24" in table and "stem:in32" not in table
    with pytest.raises(NasedgeError, match="latency table of d: no entry for part stem:in32"):
        table["stem:in32"]


@pytest.mark.parametrize("doc, needle", [
    ({"format": "other"}, "field 'format': expected 'nasedge-latency-table/1'"),
    ({"format": FORMAT, "entries": []}, "field 'entries': expected a mapping"),
    ({"format": FORMAT, "entries": {"stem:in24": -1.0}}, r"field 'entries.stem:in24': latency -1.0 is not valid"),
    ({"format": FORMAT, "entries": {"stem:in24": {"p90_ms": 1.0}}}, "field .entries.stem:in24.: latency None is not valid"),
    ({"format": FORMAT, "entries": {"stem:in24": True}}, "field .entries.stem:in24.: latency True is not valid"),
    ({"format": FORMAT, "entries": {}, "meta": [1]}, "field 'meta': expected a mapping"),
    # infinity broke the calibration's least squares (a traceback); 10**400 overflowed float()
    ({"format": FORMAT, "entries": {"stem:in24": float("inf")}}, "field 'entries.stem:in24': latency inf is not valid"),
    ({"format": FORMAT, "entries": {"stem:in24": 10**400}}, "field 'entries.stem:in24': latency 1000"),
    ({"format": FORMAT, "device": ["x"], "entries": {}}, r"field 'device': value \['x'\] is not valid"),
])
def test_bad_tables_name_the_field(doc, needle):
    with pytest.raises(NasedgeError, match=f"t.json: {needle}"):
        LatencyTable.from_dict(doc, "t.json")


def test_bad_files(tmp_path):
    with pytest.raises(NasedgeError, match="no such latency table"):
        LatencyTable.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(NasedgeError, match="bad.json: invalid JSON at line 1"):
        LatencyTable.load(tmp_path / "bad.json")
