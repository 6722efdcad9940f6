"""The measurements CSV: bad files and values are named in one-line errors; measuring into one resumes."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest

from nasedge.errors import NasedgeError
from nasedge.measure import LatencyStats, Measurement, measure_to_csv, read_measurements_csv, write_measurements_csv
from nasedge.measure.measurement import CSV_FIELDS
from nasedge.spaces import get_space


def test_bad_measurement_files(tmp_path):
    with pytest.raises(NasedgeError, match="no such measurements file"):
        read_measurements_csv(tmp_path / "none.csv")
    (tmp_path / "a.csv").write_text("arch_id,latency\n1,2.0\n")
    with pytest.raises(NasedgeError, match="not a measurements CSV .*needs columns arch, device, median_ms"):
        read_measurements_csv(tmp_path / "a.csv")
    arch = '"{""space"": ""ofa_mbv3_cifar"", ""kernel"": [3], ""expand"": [3], ""depth"": [1], ""resolution"": 32}"'
    (tmp_path / "b.csv").write_text(f"arch_id,device,median_ms,arch\n1,cpu,fast,{arch}\n")
    with pytest.raises(NasedgeError, match=r"b.csv:2: column 'median_ms': value 'fast' is not a number"):
        read_measurements_csv(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text(f"arch_id,device,median_ms,arch\n1,cpu,-1,{arch}\n")
    with pytest.raises(NasedgeError, match=r"c.csv:2: column 'median_ms': value '-1' is not a positive latency"):
        read_measurements_csv(tmp_path / "c.csv")
    (tmp_path / "e.csv").write_text(f"arch_id,device,median_ms,noisy,arch\n1,cpu,2.0,maybe,{arch}\n")
    with pytest.raises(NasedgeError, match=r"e.csv:2: column 'noisy': value 'maybe' is not valid; expected true or false"):
        read_measurements_csv(tmp_path / "e.csv")
    (tmp_path / "d.csv").write_text("arch_id,device,median_ms,arch\n1,cpu,2.0,{}\n")
    with pytest.raises(NasedgeError, match=r"d.csv:2: field 'space'"):
        read_measurements_csv(tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text(f"arch_id,device,median_ms,arch\nx,cpu,2.5,{arch}\n")
    (m,) = read_measurements_csv(tmp_path / "e.csv")  # a minimal file (other columns optional)
    assert m.median_ms == 2.5 and m.arch_id == "x" and not m.noisy and m.stats.cpu_share is None
    (tmp_path / "bom.csv").write_text(f"\ufeffarch_id,device,median_ms,arch\nx,cpu,2.5,{arch}\n")  # a spreadsheet's
    (bom,) = read_measurements_csv(tmp_path / "bom.csv")
    assert (bom.arch_id, bom.arch, bom.median_ms) == ("x", m.arch, 2.5)
    with pytest.raises(NasedgeError, match="is a folder, expected a measurements CSV file"):
        read_measurements_csv(tmp_path)
    (tmp_path / "latin1.csv").write_bytes("arch_id,device,median_ms,arch\nx,caf\xe9,2.5,{}\n".encode("latin-1"))
    with pytest.raises(NasedgeError, match=r"latin1.csv: not UTF-8 text \(byte 0xe9 at offset 35\); expected a "
                                           r"measurements CSV file"):
        read_measurements_csv(tmp_path / "latin1.csv")


class FakeDevice:
    """Measures arch ``k`` of a call as ``1 + k`` ms, two archs per chunk; counts what it was asked."""

    def __init__(self, name: str = "fake", fail_after: int | None = None):
        self.name, self.fail_after, self.asked = name, fail_after, []

    def group_size(self):
        return 1

    def measure(self, archs, *, arch_ids, ray_address=None, on_chunk, rounds=None):
        self.asked.extend(arch_ids)
        for start in range(0, len(archs), 2):
            if self.fail_after is not None and start >= self.fail_after:
                raise KeyboardInterrupt
            on_chunk([Measurement(a, self.name, _stats(1.0 + start + k), i)
                      for k, (a, i) in enumerate(zip(archs[start:start + 2], arch_ids[start:start + 2]))])


def _stats(ms: float) -> LatencyStats:
    return LatencyStats(ms, ms, ms, ms, 0.01, 0.001, 10, 3, 1.0, False, "")


class NanDevice(FakeDevice):
    """A measurer (a plugin, say) that returns a NaN or infinite latency for the third arch."""

    def __init__(self, bad: float):
        super().__init__()
        self.bad = bad

    def measure(self, archs, *, arch_ids, ray_address=None, on_chunk, rounds=None):
        for k, (a, i) in enumerate(zip(archs, arch_ids)):
            on_chunk([Measurement(a, self.name, _stats(self.bad if k == 2 else 1.0 + k), i)])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_a_measurement_that_cannot_be_read_back_is_not_written(tmp_path, bad):
    # it was appended, then refused on reading, and every later run on the file failed on that line
    rows = [(f"a{i}", a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(4, 0))]
    path = tmp_path / "m.csv"
    with pytest.raises(NasedgeError, match=rf"^device fake, arch a2 \(not written to {path}\): column 'median_ms': "
                                           "value '.*' is not a positive latency"):
        measure_to_csv(NanDevice(bad), rows, path)
    assert [m.arch_id for m in read_measurements_csv(path)] == ["a0", "a1"]
    device = FakeDevice()  # the measurer mended, the run resumes
    assert [m.arch_id for m in measure_to_csv(device, rows, path)] == ["a0", "a1", "a2", "a3"]
    assert device.asked == ["a2", "a3"]


def test_measurements_of_other_settings_are_not_reused(tmp_path):
    # a board's YAML edited (or another board added under its name): its verification reused the rows of before
    rows = [(f"a{i}", a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(3, 0))]
    path, warned = tmp_path / "m.csv", []
    before, after = FakeDevice(), FakeDevice()
    before.settings, after.settings = "1111aaaa", "2222bbbb"
    assert len(measure_to_csv(before, rows, path)) == 3
    assert {m.settings for m in read_measurements_csv(path)} == {"1111aaaa"}
    got = measure_to_csv(after, rows, path, warn=warned.append)
    assert after.asked == ["a0", "a1", "a2"] and {m.settings for m in got} == {"2222bbbb"}
    assert warned == [f"{path}: 3 measurements of fake under other settings are not reused"]
    again = FakeDevice()
    again.settings = "2222bbbb"
    assert len(measure_to_csv(again, rows, path)) == 3 and again.asked == []
    old = FakeDevice()  # rows of a file written before settings were recorded are the device's own
    write_measurements_csv(tmp_path / "old.csv", [replace(m, settings="") for m in got])
    assert len(measure_to_csv(old, rows, tmp_path / "old.csv")) == 3 and old.asked == []


def test_measure_to_csv_appends_and_resumes(tmp_path):
    rows = [(f"a{i}", a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(5, 0))]
    path = tmp_path / "sub" / "m.csv"
    with pytest.raises(KeyboardInterrupt):  # killed during the third chunk: the first two are in the file
        measure_to_csv(FakeDevice(fail_after=4), rows, path)
    assert [m.arch_id for m in read_measurements_csv(path)] == ["a0", "a1", "a2", "a3"]
    other = Measurement(rows[0][1], "other", _stats(9.0), "a0")
    with open(path, "a", newline="") as f:  # another device's row, then a row cut short by a kill
        csv.DictWriter(f, CSV_FIELDS, lineterminator="\n").writerow(other.to_row())
        f.write("a4,fake,1.0")
    device, seen = FakeDevice(), []
    got = measure_to_csv(device, rows, path, progress=lambda done, total: seen.append((done, total)))
    assert device.asked == ["a4"] and seen == [(4, 5), (5, 5)]
    assert [m.arch_id for m in got] == ["a0", "a1", "a2", "a3", "a4"] and all(m.device == "fake" for m in got)
    assert [(m.device, m.arch_id) for m in read_measurements_csv(path)] == [
        ("fake", "a0"), ("fake", "a1"), ("fake", "a2"), ("fake", "a3"), ("other", "a0"), ("fake", "a4")]
    assert measure_to_csv(FakeDevice(), rows[:2], path) == got  # nothing left to measure: the file's rows


def test_archs_of_another_space_are_refused_before_they_are_measured(tmp_path):
    """`predictor fit` reads a device's rows of a file in one space: ofa_mbv3_tiny archs of a device whose rows are of
    ofa_mbv3_cifar would make the file unreadable; another device's rows may be of another space."""
    cifar, tiny = (get_space(s).sample_many(2, 0) for s in ("ofa_mbv3_cifar", "ofa_mbv3_tiny"))
    path = tmp_path / "lat.csv"
    measure_to_csv(FakeDevice("b"), [("0", cifar[0])], path)
    device = FakeDevice("b")
    with pytest.raises(NasedgeError, match=rf"^{path}: holds measurements of b in space 'ofa_mbv3_cifar', and archs "
                                           rf"of 'ofa_mbv3_tiny' added would make its rows unreadable"):
        measure_to_csv(device, [("1", cifar[1]), ("t0", tiny[0])], path)
    assert device.asked == [] and len(read_measurements_csv(path)) == 1
    assert len(measure_to_csv(FakeDevice("a"), [("t0", tiny[0])], path)) == 1
    # specialize's verification file, which no fit reads, takes them: a run of another supernet may share the folder
    assert len(measure_to_csv(FakeDevice("b"), [("t0", tiny[0])], path, one_space=False)) == 2


def test_a_file_measuring_cannot_append_to_says_the_way_out(tmp_path):
    """A whole line of garbage at the end stops every rerun: the error names the file and what to do."""
    rows = [(f"a{i}", a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(2, 0))]
    path = tmp_path / "m.csv"
    measure_to_csv(FakeDevice(), rows[:1], path)
    with open(path, "a") as f:
        f.write("x\n")
    device = FakeDevice()
    with pytest.raises(NasedgeError, match=r"m.csv:3: .*; measurements are appended to m.csv: fix or delete that line, "
                                           r"or move the file aside to measure afresh$"):
        measure_to_csv(device, rows, path)
    assert device.asked == []
    path.write_text("a,b\n1,2\n")  # no line is at fault: the columns are not a measurements CSV's
    with pytest.raises(NasedgeError, match=r"; measurements are appended to m.csv: move the file aside to measure "
                                           r"afresh$"):
        measure_to_csv(device, rows, path)


def test_a_second_run_on_the_same_csv_is_refused_before_it_measures(tmp_path):
    """Two runs appending to one file each measured every arch (a file of each arch twice, which a fit refuses)."""
    from nasedge.writer_lock import locked_file

    rows = [(f"a{i}", a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(2, 0))]
    path = tmp_path / "m.csv"
    device = FakeDevice()
    with locked_file(path, "measurements CSV"):   # as another run measuring into it holds it
        with pytest.raises(NasedgeError, match=f"{path}: another run is appending to this measurements CSV"):
            measure_to_csv(device, rows, path)
    assert device.asked == [] and not path.exists()
    assert len(measure_to_csv(device, rows, path)) == 2


def test_measure_to_csv_brings_an_older_file_to_the_current_columns(tmp_path):
    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(2, 0))]
    path = tmp_path / "m.csv"
    write_measurements_csv(path, [Measurement(rows[0][1], "fake", _stats(2.0), "0")])
    lines = path.read_text().splitlines()
    drop = CSV_FIELDS.index("probe_ms")  # as files written before probe_ms existed
    path.write_text("".join(",".join(c for k, c in enumerate(line.split(",")) if k != drop) + "\n"
                            for line in lines[:1]) + lines[1].replace(",,", ",", 1) + "\n")
    assert read_measurements_csv(path)[0].stats.probe_ms is None
    measure_to_csv(FakeDevice(), rows, path)
    assert path.read_text().splitlines()[0] == ",".join(CSV_FIELDS)
    assert [m.median_ms for m in read_measurements_csv(path)] == [2.0, 1.0]


def test_a_last_line_cut_short_is_left_out_and_said(tmp_path):
    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(3, 0))]
    path = tmp_path / "m.csv"
    write_measurements_csv(path, [Measurement(a, "fake", _stats(1.0 + k), i) for k, (i, a) in enumerate(rows)])
    whole = path.read_text()
    said = []
    for cut in (len(whole) - 1 - k for k in (3, 30, len(whole.splitlines()[-1]) - 1)):  # in the arch, stats, id
        path.write_text(whole[:cut])
        assert [m.arch_id for m in read_measurements_csv(path, warn=said.append)] == ["0", "1"]
    assert len(said) == 3 and all("m.csv:4" in s and "cut short" in s for s in said)
    path.write_text(whole[:-1])  # a whole last row without its newline (a hand-written file) is kept, silently
    assert len(read_measurements_csv(path, warn=said.append)) == 3 and len(said) == 3
    path.write_text(whole.splitlines()[0][:7])  # even the header cut short: no measurements yet
    assert read_measurements_csv(path, warn=said.append) == [] and len(said) == 4
    path.write_text("my notes, not measurements")  # one line, no newline, and no header: not ours to drop
    with pytest.raises(NasedgeError, match="not a measurements CSV"):
        read_measurements_csv(path, warn=said.append)
    with pytest.raises(NasedgeError, match="not a measurements CSV"):
        measure_to_csv(FakeDevice(), rows, path)
    assert path.read_text() == "my notes, not measurements" and len(said) == 4
    lines = whole.splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][:40] + "\n" + lines[2] + lines[3][:40])  # a bad row that is not the last
    with pytest.raises(NasedgeError, match=r"m.csv:2: "):
        read_measurements_csv(path, warn=said.append)


def test_resuming_repairs_a_cut_row_and_appends_whole_rows(tmp_path, capsys):
    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(3, 0))]
    path = tmp_path / "m.csv"
    measure_to_csv(FakeDevice(), rows[:2], path)
    text = path.read_text()
    path.write_text(text[:-25])  # the second row cut short, as by an older version killed while writing
    device = FakeDevice()
    got = measure_to_csv(device, rows, path)
    assert device.asked == ["1", "2"] and [m.arch_id for m in got] == ["0", "1", "2"]
    assert "cut short" in capsys.readouterr().err
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 4
    assert [m.arch_id for m in read_measurements_csv(path)] == ["0", "1", "2"]


def test_what_is_measured_is_what_the_file_holds(tmp_path):
    # a fit of a resumed run (read back from the file) and of an uninterrupted one must see the same numbers
    class Third(FakeDevice):
        def measure(self, archs, *, arch_ids, ray_address=None, on_chunk, rounds=None):
            on_chunk([Measurement(a, self.name, _stats(1 / 3 + k), i) for k, (a, i) in enumerate(zip(archs, arch_ids))])

    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(2, 0))]
    got = measure_to_csv(Third(), rows, tmp_path / "m.csv")
    assert got == read_measurements_csv(tmp_path / "m.csv") and got[0].median_ms == 0.333333
