"""The round journal: a group cut short resumes from the rounds it had timed; the file format's errors."""

import json

import pytest

from nasedge.errors import NasedgeError
from nasedge.measure import Device, measure_to_csv, read_measurements_csv
from nasedge.measure.round_journal import RoundJournal, journal_path
from nasedge.spaces import get_space


def _group(tmp_path, device_config, rounds: int):
    """A device that interleaves 3 archs for exactly ``rounds`` rounds; the archs as rows; the CSV and its journal."""
    config = device_config("grouped", runtime="onnxruntime")
    config["measure"]["protocol"].update(group_size=3, min_rounds=rounds, max_rounds=rounds)
    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_tiny").sample_many(3, 0, unique=True))]
    csv = tmp_path / "lat.csv"
    return Device.from_config(config), rows, csv, journal_path(csv, "grouped")


def test_a_kill_costs_the_round_in_flight(tmp_path, device_config, kill_after_rounds):
    device, rows, csv, journal = _group(tmp_path, device_config, 3)
    timed = kill_after_rounds(2)  # the process dies right after the second round is kept
    with pytest.raises(kill_after_rounds.Killed):
        measure_to_csv(device, rows, csv)
    assert not csv.exists() and journal.is_file()  # no row yet: the group had not ended
    assert RoundJournal(journal, "grouped", []).kept() == {f"{i}:{a.digest()}": 2 for i, a in rows}

    timed.clear()
    notes = []
    got = measure_to_csv(device, rows, csv, warn=notes.append)
    assert timed == [3]  # the rerun times the one round still needed, for the three archs
    assert [m.stats.rounds for m in got] == [3, 3, 3] and [m.arch_id for m in got] == ["0", "1", "2"]
    assert read_measurements_csv(csv) == got and not journal.exists()
    assert notes == [f"{journal}: resuming 6 rounds timed before"]


def test_a_group_refused_as_noisy_is_timed_afresh_by_a_rerun(tmp_path, device_config, kill_after_rounds):
    """on_noisy: raise on a journaled group: the rerun restored the refused rounds, which settle the group, and
    refused the same numbers again, forever, without timing anything."""
    from nasedge.measure.protocol import NoisyRefused

    config = device_config("grouped", runtime="onnxruntime")
    config["measure"]["protocol"].update(group_size=3, min_rounds=2, max_rounds=2, max_spread=1e-9,
                                         on_noisy="raise")
    device = Device.from_config(config)
    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_tiny").sample_many(3, 0, unique=True))]
    csv = tmp_path / "lat.csv"
    timed = kill_after_rounds(100)  # counts the rounds; never kills
    for _ in range(2):
        timed.clear()
        with pytest.raises(NoisyRefused, match="are noisy .* its rounds are dropped from lat.csv.grouped.rounds.jsonl"):
            measure_to_csv(device, rows, csv)
        assert timed == [3, 3] and not journal_path(csv, "grouped").exists()  # each run times its two rounds


def test_a_resumed_group_builds_only_what_is_still_to_time(tmp_path, device_config, kill_after_rounds, monkeypatch):
    from nasedge.measure._onnxruntime import OnnxRuntime

    device, rows, csv, journal = _group(tmp_path, device_config, 2)
    timed = kill_after_rounds(2)  # killed once every arch has its two rounds, before the rows are written
    with pytest.raises(kill_after_rounds.Killed):
        measure_to_csv(device, rows, csv)
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]))  # the second round of the arch timed last in it was not kept
    unsettled = rows[int(json.loads(lines[-1])["key"].split(":")[0])][1]
    built, loaded = [], []
    prepare, load = OnnxRuntime.prepare, OnnxRuntime.load
    monkeypatch.setattr(OnnxRuntime, "prepare", lambda self, w, a: (built.append(w), prepare(self, w, a))[1])
    monkeypatch.setattr(OnnxRuntime, "load", lambda self, w, a: (loaded.append(w), load(self, w, a))[1])

    timed.clear()
    got = measure_to_csv(device, rows, csv)
    assert timed == [1]  # one round, of the one arch the journal does not settle
    assert [w.arch for w in built] == [w.arch for w in loaded] == [unsettled]  # the settled two: not built again
    assert [m.stats.rounds for m in got] == [2, 2, 2] and read_measurements_csv(csv) == got


def test_a_group_reports_progress_by_its_rounds(tmp_path, device_config):
    config = device_config("grouped", runtime="onnxruntime")
    config["measure"]["protocol"].update(group_size=3, min_rounds=4, max_rounds=4)
    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_tiny").sample_many(3, 0, unique=True))]
    seen = []
    measure_to_csv(Device.from_config(config), rows, tmp_path / "lat.csv", progress=lambda d, t: seen.append((d, t)))
    # 0, then a quarter of an arch per round for the three (capped at 0.9 each), then the rows
    assert seen[0] == (0, 3) and seen[1:4] == [(0.75, 3), (1.5, 3), (2.25, 3)] and seen[4] == (2.7, 3)
    assert seen[-1] == (3, 3) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_bad_journals(tmp_path):
    path = tmp_path / "lat.csv.dev.rounds.jsonl"
    path.write_text('{"format": "nasedge-rounds/1", "device": "other"}\n')
    with pytest.raises(NasedgeError, match="not a round journal of device 'dev'"):
        RoundJournal(path, "dev", [])
    path.write_text('{"format": "nasedge-rounds/1", "device": "dev"}\n{"key": "0:x", "timings": []')
    notes = []
    assert RoundJournal(path, "dev", ["0:x"], warn=notes.append).restored == 0
    assert "dropped a last line cut short" in notes[0] and path.read_text().endswith("}\n")
    path.write_text('{"format": "nasedge-rounds/1", "device": "dev"}\n{"key": "0:x"}\n')
    with pytest.raises(NasedgeError, match=r"rounds.jsonl:2: a round needs 'key', 'timings'"):
        RoundJournal(path, "dev", [])
    # a whole line of garbage stops every rerun: the error says the way out
    path.write_text('{"format": "nasedge-rounds/1", "device": "dev"}\nx\n')
    with pytest.raises(NasedgeError, match=r"rounds.jsonl:2: not a JSON line of a round journal; move it away to "
                                           r"measure afresh \(the rounds it holds are timed again\)$"):
        RoundJournal(path, "dev", [])


def test_a_journal_of_other_settings_is_moved_aside(tmp_path):
    # a group interrupted under threads 1, resumed after the YAML was edited to 2, mixed the two boards' rounds
    from nasedge.measure.protocol import Round

    path, warned = tmp_path / "j.jsonl", []
    first = RoundJournal(path, "b", ["k0", "k1"], settings="1111aaaa")
    first.record({0: Round((1.0, 1.1), 0.1, 0.1)})
    assert RoundJournal(path, "b", ["k0", "k1"], settings="1111aaaa").restored == 1
    again = RoundJournal(path, "b", ["k0", "k1"], warn=warned.append, settings="2222bbbb")
    assert again.restored == 0 and not path.exists()
    aside = tmp_path / "j.jsonl.settings-1111aaaa"
    assert warned == [f"{path}: rounds timed under other settings of b (1111aaaa) are not resumed; kept in {aside}"]
    assert json.loads(aside.read_text().splitlines()[1])["timings"] == [1.0, 1.1]
    path.write_text(json.dumps({"format": "nasedge-rounds/1", "device": "b"}) + "\n")  # written before settings
    assert RoundJournal(path, "b", ["k0"], settings="2222bbbb").restored == 0 and path.exists()


def test_the_check_before_the_work_refuses_what_measuring_would_and_changes_nothing(tmp_path, device_config):
    """specialize checks its verification journal before the search: as measuring reads it, but a last line cut
    short is left for the run to drop (and say so), and a journal of other settings for it to move aside."""
    from nasedge.measure.round_journal import check_journal

    device, _, csv, path = _group(tmp_path, device_config, 3)
    header = {"format": "nasedge-rounds/1", "device": "grouped", "settings": device.settings}
    round_ = '{"key": "k", "timings": [1.0], "cpu_s": 0.1, "wall_s": 0.1}'
    check_journal(csv, device)  # none
    for text in (json.dumps(header) + "\n" + round_ + '\n{"key": "k", "tim',  # cut short by a kill
                 json.dumps({**header, "settings": "0ther5e7"}) + "\nnot json\n"):  # moved aside by the run
        path.write_text(text)
        check_journal(csv, device)
        assert path.read_text() == text
    path.write_text(json.dumps({**header, "device": "other"}) + "\n")
    with pytest.raises(NasedgeError, match=r"rounds.jsonl:1: not a round journal of device 'grouped'.*; move it away"):
        check_journal(csv, device)
