"""The lut predictor: a sum of table latencies over an arch's parts, calibrated linearly."""

from __future__ import annotations

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.latency_table import FORMAT
from nasedge.predict.lut import LUTPredictor
from nasedge.spaces import get_space


def _table(space, resolution):
    keys = [x.key for options in space.layer_choices(resolution) for x in options]
    entries = {k: {"median_ms": 0.001 * (i + 1), "p90_ms": 1.0} for i, k in enumerate(dict.fromkeys(keys))}
    return {"format": FORMAT, "device": "dev", "space": space.name, "meta": {"resolutions": [resolution]},
            "entries": entries}


def test_table_latency_adds_up_the_parts_of_the_walk_and_profiles_keep_medians_only():
    space = get_space("ofa_mbv3_tiny")
    table = _table(space, 20)
    archs = [a for a in space.sample_many(40, 1) if a.resolution == 20][:8]
    lut = LUTPredictor(space, table=table)
    expected = [sum(table["entries"][x.key]["median_ms"] for x in space.layers(a)) for a in archs]
    np.testing.assert_allclose(lut.table_latency(archs), expected, rtol=1e-12)
    lut.fit(archs, 2 * np.asarray(expected) + 1)
    stored = lut.to_dict()["options"]["table"]
    assert set(stored) == {"format", "device", "space", "entries"}  # no meta, no statistics
    assert stored["entries"] == {k: v["median_ms"] for k, v in table["entries"].items()}
    back = LUTPredictor.from_dict(lut.to_dict())
    np.testing.assert_array_equal(back.predict(archs), lut.predict(archs))
    other = next(a for a in space.sample_many(40, 1) if a.resolution != 20)
    with pytest.raises(NasedgeError, match=f"no entry for part stem:in{other.resolution}"):
        lut.predict([other])
    with pytest.raises(NasedgeError, match="latency table of space 'ofa_mbv3_tiny' cannot predict"):
        LUTPredictor("ofa_mbv3_cifar", table=table)


def test_a_space_lut_cannot_read_is_refused_before_asking_for_a_table():
    # a user told only "needs a table" would measure one, and then learn the space was never possible
    with pytest.raises(NasedgeError, match="needs an OFA-family space, not 'fbnet'"):
        LUTPredictor("fbnet")
    with pytest.raises(NasedgeError, match=r"--table FILE on the command line, predictor.table=FILE"):
        LUTPredictor("ofa_mbv3_cifar")


def test_a_table_of_another_device_is_said(tmp_path, capsys):
    # predictor fit took a table measured on another device without a word
    import json

    from nasedge.cli import main

    space = get_space("ofa_mbv3_tiny")
    (tmp_path / "t.json").write_text(json.dumps(_table(space, 20)))
    archs = [a for a in space.sample_many(60, 1) if a.resolution == 20][:8]
    rows = ['"' + a.to_json().replace('"', '""') + f'",{1.0 + 0.1 * i}' for i, a in enumerate(archs)]
    (tmp_path / "m.csv").write_text("arch,latency_ms\n" + "\n".join(rows) + "\n")
    assert main(["predictor", "fit", "--device", "b", "--measurements", str(tmp_path / "m.csv"), "--predictor", "lut",
                 "--table", str(tmp_path / "t.json"), "--space", "ofa_mbv3_tiny", "--allow-missing-reference",
                 "--profiles-dir", str(tmp_path / "p")]) == 0
    assert f"nasedge: warning: {tmp_path / 't.json'} was measured on device dev, not b;" in capsys.readouterr().err
