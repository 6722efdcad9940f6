"""Lookup tables: every part of a space measured on a device, stored and read back."""

from __future__ import annotations

import json

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


class Stop(Exception):
    pass


def test_table_to_file_resumes_after_an_interruption(tmp_path, device_config):
    from nasedge.measure import measure_lookup_table_to_file
    from nasedge.measure.lut import partial_path

    device = Device.from_config(device_config("lut-dev"))
    out, parts = tmp_path / "lut.json", lookup_table_parts("ofa_mbv3_cifar", [24])
    measured = []
    real = device.measure_workloads

    def counting(workloads, **kw):
        measured.append([w.key for w in workloads])
        return real(workloads, **kw)

    device.measure_workloads = counting

    def stop_after_5(done, total):
        if done >= 5:
            raise Stop

    with pytest.raises(Stop):  # as if killed after the fifth part: the partial file holds five parts
        measure_lookup_table_to_file(device, "ofa_mbv3_cifar", out, [24], progress=stop_after_5)
    assert not out.exists() and len(partial_path(out).read_text().splitlines()) == 1 + 5
    kept = {json.loads(line)["key"]: json.loads(line)["median_ms"]
            for line in partial_path(out).read_text().splitlines()[1:]}
    with open(partial_path(out), "a") as f:  # and a sixth part's line cut short by the kill
        f.write('{"key":"stem:in24","median')
    warned = []
    table = measure_lookup_table_to_file(device, "ofa_mbv3_cifar", out, [24], warn=warned.append)
    assert len(measured[1]) == len(parts) - 5 and not set(measured[1]) & set(kept)  # only what was missing
    assert warned and "cut short" in warned[0]
    assert len(table) == len(parts) and all(table[k].median_ms == ms for k, ms in kept.items())
    assert LatencyTable.load(out).entries == table.entries and not partial_path(out).exists()
    # done: a rerun measures nothing; a table of another resolution set at the same path is refused
    again = measure_lookup_table_to_file(device, "ofa_mbv3_cifar", out, [24])
    assert len(measured) == 2 and again.entries == table.entries
    with pytest.raises(NasedgeError, match="exists and holds another table"):
        measure_lookup_table_to_file(device, "ofa_mbv3_cifar", out, [28])
    doc = json.loads(out.read_text())  # an entry deleted by hand: the same table, incomplete (not "another")
    doc["entries"].pop(sorted(doc["entries"])[0])
    out.write_text(json.dumps(doc))
    with pytest.raises(NasedgeError, match=f"exists and holds this table with 1 of its {len(parts)} parts missing"):
        measure_lookup_table_to_file(device, "ofa_mbv3_cifar", out, [24])


def test_partial_table_of_another_device_is_refused(tmp_path, device_config):
    from nasedge.measure import measure_lookup_table_to_file
    from nasedge.measure.lut import partial_path

    out = tmp_path / "lut.json"
    partial_path(out).write_text(json.dumps({"format": "nasedge-latency-table-partial/1", "device": "other",
                                             "space": "ofa_mbv3_cifar", "resolutions": [24]}) + "\n")
    with pytest.raises(NasedgeError, match="holds parts of device 'other', not 'lut-dev'"):
        measure_lookup_table_to_file(Device.from_config(device_config("lut-dev")), "ofa_mbv3_cifar", out, [24])


def test_a_table_of_other_settings_of_the_device_is_not_taken_for_its_own(tmp_path, device_config):
    """The device's YAML edited between two runs (onnxruntime -> torch): the parts measured before were resumed into
    one table with the new ones, and a finished table was returned as this device's."""
    from nasedge.measure import measure_lookup_table_to_file
    from nasedge.measure.lut import partial_path

    before = Device.from_config(device_config("lut-dev", runtime="onnxruntime"))
    now = Device.from_config(device_config("lut-dev", runtime="torch"))
    assert before.settings != now.settings
    out = tmp_path / "lut.json"
    header = {"format": "nasedge-latency-table-partial/1", "device": "lut-dev", "space": "ofa_mbv3_cifar",
              "resolutions": [24], "settings": before.settings}
    partial_path(out).write_text(json.dumps(header) + "\n")
    with pytest.raises(NasedgeError, match=f"measured under other settings of device 'lut-dev' .{before.settings}, "
                                           f"now {now.settings}: its YAML changed."):
        measure_lookup_table_to_file(now, "ofa_mbv3_cifar", out, [24])
    partial_path(out).unlink()
    table = measure_lookup_table_to_file(now, "ofa_mbv3_cifar", out, [24])
    assert table.meta["settings"] == now.settings == LatencyTable.load(out).meta["settings"]
    assert measure_lookup_table_to_file(now, "ofa_mbv3_cifar", out, [24]).entries == table.entries  # its own: reused
    with pytest.raises(NasedgeError, match="measured under other settings of device 'lut-dev'"):
        measure_lookup_table_to_file(before, "ofa_mbv3_cifar", out, [24])
    other = Device.from_config(device_config("lut-other", runtime="onnxruntime"))
    with pytest.raises(NasedgeError, match="exists and holds another table .device 'lut-dev'"):  # not "settings"
        measure_lookup_table_to_file(other, "ofa_mbv3_cifar", out, [24])
    doc = json.loads(out.read_text())  # a table written before tables kept their settings is taken as it is
    del doc["meta"]["settings"]
    out.write_text(json.dumps(doc))
    assert measure_lookup_table_to_file(before, "ofa_mbv3_cifar", out, [24]).entries == table.entries


@pytest.mark.parametrize("line", [{"key": "stem:in24", "median_ms": -5, "stats": {}}, {"key": "stem:in24"},
                                  {"key": "stem:in24", "median_ms": float("nan")},
                                  {"key": "stem:in24", "median_ms": 1.0, "stats": 3}])
def test_a_bad_line_of_a_partial_table_is_refused_before_measuring(tmp_path, device_config, line):
    """-5 was written into the finished table (unreadable then), a line without stats ended in a KeyError after
    every other part was measured."""
    from nasedge.measure import measure_lookup_table_to_file
    from nasedge.measure.lut import partial_path

    out = tmp_path / "lut.json"
    header = {"format": "nasedge-latency-table-partial/1", "device": "lut-dev", "space": "ofa_mbv3_cifar",
              "resolutions": [24]}
    partial_path(out).write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(NasedgeError, match=r"lut.json.partial.jsonl:2: a part needs 'key', 'median_ms'"):
        measure_lookup_table_to_file(Device.from_config(device_config("lut-dev")), "ofa_mbv3_cifar", out, [24])


def test_a_table_in_interleaved_groups_resumes_their_rounds(tmp_path, device_config, monkeypatch):
    from nasedge.measure import measure_lookup_table_to_file
    from nasedge.measure.round_journal import RoundJournal, journal_path

    config = device_config("lut-groups")
    config["measure"]["protocol"].update(group_size=4, min_rounds=2, max_rounds=2)
    device = Device.from_config(config)
    out, parts = tmp_path / "lut.json", lookup_table_parts("ofa_mbv3_cifar", [24])
    record, kept = RoundJournal.record, []

    def stop_after_first_round(self, rounds):
        record(self, rounds)
        kept.append(len(rounds))
        if len(kept) == 1:
            raise Stop

    monkeypatch.setattr(RoundJournal, "record", stop_after_first_round)
    with pytest.raises(Stop):  # killed after the first round of the first group: no part is done yet
        measure_lookup_table_to_file(device, "ofa_mbv3_cifar", out, [24])
    assert journal_path(out, "lut-groups").is_file() and kept == [4]
    table = measure_lookup_table_to_file(device, "ofa_mbv3_cifar", out, [24])
    assert kept[1] == 4 and sum(kept) == 2 * len(parts)  # the first group needed one more round, no more
    assert len(table) == len(parts) and not journal_path(out, "lut-groups").exists()
