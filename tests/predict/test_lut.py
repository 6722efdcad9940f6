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


def test_a_table_that_does_not_cover_its_sizes_is_refused_at_once(tmp_path):
    """A part missing, a key of no part, a table of no size of the space: the fit succeeded, and a search failed on
    the first arch it could not price (or the fit failed after measuring)."""
    import json

    space = get_space("ofa_mbv3_tiny")
    table = _table(space, 20)
    missing = json.loads(json.dumps(table))
    missing["entries"].pop(sorted(missing["entries"])[3])
    (tmp_path / "m.json").write_text(json.dumps(missing))
    with pytest.raises(NasedgeError, match=r"m.json: latency table of dev: no entry for part .*1 of the 27 parts at "
                                           r"20 px missing"):
        LUTPredictor(space, table=str(tmp_path / "m.json"))
    with pytest.raises(NasedgeError, match=r"holds no part of space ofa_mbv3_tiny \(at 16, 20, 24 px\)"):
        LUTPredictor(space, table={"format": FORMAT, "device": "dev", "space": space.name, "entries": {}})
    with pytest.raises(NasedgeError, match=r"27 of the 27 parts at 20 px missing"):  # the size it says it measured
        LUTPredictor(space, table={**table, "entries": {}})
    extra = json.loads(json.dumps(table))
    extra["entries"]["stem:in99"] = 1.0
    with pytest.raises(NasedgeError, match="'stem:in99' is no part of space ofa_mbv3_tiny"):
        LUTPredictor(space, table=extra)
    assert LUTPredictor(space, table=table).resolutions == (20,)
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(NasedgeError, match="folder.json: is a folder, expected a latency table file"):
        LUTPredictor(space, table=str(tmp_path / "folder.json"))


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
    # the table as the predictor's own option, beside --predictor: it was refused as an option of meta's
    assert main(["predictor", "fit", "--device", "b", "--measurements", str(tmp_path / "m.csv"), "--predictor", "lut",
                 f"predictor.table={tmp_path / 't.json'}", "--space", "ofa_mbv3_tiny", "--allow-missing-reference",
                 "--profiles-dir", str(tmp_path / "p")]) == 0
    assert f"nasedge: warning: {tmp_path / 't.json'} was measured on device dev, not b;" in capsys.readouterr().err


def test_a_service_takes_a_table_of_any_space(tmp_path):
    """The service checked its predictor on ofa_mbv3_cifar only: with an ImageNet space's table it never started."""
    import json

    from nasedge.service.settings import ServiceSettings

    (tmp_path / "t.json").write_text(json.dumps(_table(get_space("ofa_mbv3_tiny"), 20)))
    ServiceSettings(predictor="lut", predictor_options={"table": str(tmp_path / "t.json")}).check_predictor()
    with pytest.raises(NasedgeError, match="predictor .the service fits it at each registration.: .*needs a latency"):
        ServiceSettings(predictor="lut").check_predictor()
    broken = _table(get_space("ofa_mbv3_tiny"), 20)
    broken["entries"].pop("stem:in20")
    (tmp_path / "b.json").write_text(json.dumps(broken))
    # the error of the table's own space, not "cannot predict space 'ofa_mbv3_cifar'"
    with pytest.raises(NasedgeError, match="b.json: latency table of dev: no entry for part stem:in20"):
        ServiceSettings(predictor="lut", predictor_options={"table": str(tmp_path / "b.json")}).check_predictor()


@pytest.mark.parametrize("space_name, sizes", [("ofa_mbv3_cifar", [32]), ("ofa_mbv3_cifar", [28, 32]),
                                               ("ofa_mbv3_w1.0", [160, 224])])
def test_a_table_of_some_sizes_loads_though_later_blocks_share_parts_across_sizes(space_name, sizes):
    """`measure --table --resolutions 32` holds parts of 28 px's walk too (the same feature-map size late in the
    network): the coverage check took that as a 28 px table with parts missing."""
    from nasedge.measure.workload import lookup_table_parts

    entries = {p.key: 0.01 for p in lookup_table_parts(space_name, sizes)}
    table = {"format": FORMAT, "device": "dev", "space": space_name, "entries": entries}
    assert LUTPredictor(space_name, table=table).resolutions == tuple(sizes)
    entries.pop(f"stem:in{sizes[-1]}")
    with pytest.raises(NasedgeError, match=f"no entry for part stem:in{sizes[-1]}"):
        LUTPredictor(space_name, table=table)


def test_a_table_of_absurd_entries_is_refused_at_the_fit():
    """Entries of 1e308 ms are finite, but their sums are not: least squares failed with 'SVD did not converge'."""
    space = get_space("ofa_mbv3_tiny")
    table = _table(space, 20)
    table["entries"] = {k: 1e308 for k in table["entries"]}
    archs = [a for a in space.sample_many(40, 1) if a.resolution == 20][:8]
    with pytest.raises(NasedgeError, match="the cost proxy is not finite for 8 of 8 archs"):
        LUTPredictor(space, table=table).fit(archs, np.linspace(1, 2, 8))
