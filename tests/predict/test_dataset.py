import shutil

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.dataset import load_dataset, read_arch_latency_csv


def test_shipped_sample(ofa_sample):
    assert len(ofa_sample) == 310 and len(ofa_sample.devices) == 12
    assert ofa_sample.encoding.name == "ofa_mbv3_w1.2" and len(ofa_sample.reference) == 10
    assert np.all(np.isfinite(ofa_sample.latency))
    assert list(ofa_sample.arch_ids[list(ofa_sample.reference)]) == [1316, 1587, 1621, 1636, 1980, 2329, 2487,
                                                                     3355, 3740, 4948]


def test_directories_join_on_arch_identity(tmp_path, ofa_sample, data_dir):
    # split the sample in two: devices 0-5 on the first 200 rows, devices 6-11 on the rest, other ids
    src = data_dir / "help_ofa_sample"
    lines = (src / "archs.jsonl").read_text().splitlines()
    rows = (src / "latency_ms.csv").read_text().splitlines()
    header = rows[0].split(",")
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    (a / "archs.jsonl").write_text("\n".join(lines[:200]) + "\n")
    (a / "latency_ms.csv").write_text("\n".join(",".join(r.split(",")[:7]) for r in rows[:201]) + "\n")
    import json

    shifted = [json.dumps({**json.loads(ln), "arch_id": json.loads(ln)["arch_id"] + 100000}) for ln in lines[100:]]
    (b / "archs.jsonl").write_text("\n".join(shifted) + "\n")
    body = [",".join([str(int(r.split(",")[0]) + 100000), *r.split(",")[7:]]) for r in rows[101:]]
    (b / "latency_ms.csv").write_text("\n".join([",".join(["arch_id", *header[7:]]), *body]) + "\n")
    ds = load_dataset([a, b])
    assert len(ds) == 310 and ds.devices == ofa_sample.devices
    both = np.isfinite(ds.latency).all(axis=1)
    assert both.sum() == 100  # rows 100-199 are in both directories
    where = {x: i for i, x in enumerate(ofa_sample.items)}
    for dev in ds.devices:
        m = np.isfinite(ds.column(dev))
        order = [where[x] for x, keep in zip(ds.items, m) if keep]
        np.testing.assert_array_equal(ds.column(dev)[m], ofa_sample.column(dev)[order])
    with pytest.raises(NasedgeError, match="device '2080ti_1' is in both"):
        load_dataset([a, a])


@pytest.mark.parametrize("edit, needle", [
    (lambda t: t.replace("arch_id,", "id,", 1), "latency_ms.csv:1: expected a header"),
    (lambda t: t.replace(t.splitlines()[3], t.splitlines()[3].rsplit(",", 1)[0] + ",fast"),
     "latency_ms.csv:4: column 'v100_64': value 'fast' is not a number"),
    (lambda t: t.replace(t.splitlines()[2], t.splitlines()[2] + ",1.0"), "latency_ms.csv:3: 14 columns"),
    (lambda t: "\n".join(ln if i != 5 else "999999," + ln.split(",", 1)[1] for i, ln in enumerate(t.splitlines())),
     "latency_ms.csv:6: column 'arch_id': value 999999 is not in archs.jsonl"),
])
def test_malformed_latency_csv_names_file_line_column(tmp_path, edit, needle, data_dir):
    d = tmp_path / "ds"
    shutil.copytree(data_dir / "help_ofa_sample", d)
    (d / "latency_ms.csv").write_text(edit((d / "latency_ms.csv").read_text()))
    with pytest.raises(NasedgeError, match=needle):
        load_dataset(d)


def test_malformed_archs(tmp_path, data_dir):
    d = tmp_path / "ds"
    shutil.copytree(data_dir / "help_ofa_sample", d)
    lines = (d / "archs.jsonl").read_text().splitlines()
    lines[4] = lines[4].replace('"r": ', '"r": 999, "x": ')
    (d / "archs.jsonl").write_text("\n".join(lines))
    with pytest.raises(NasedgeError, match=r"archs.jsonl:5: field 'resolution': value 999"):
        load_dataset(d)
    with pytest.raises(NasedgeError, match="not a directory"):
        load_dataset(tmp_path / "missing")


def test_a_dataset_of_another_space_says_so(data_dir):
    with pytest.raises(NasedgeError, match=r"archs.jsonl:1: an arch of space 'ofa_mbv3_w1.2', not 'fbnet'; "
                                           r"is --space right"):
        load_dataset(data_dir / "help_ofa_sample", space="fbnet")
    assert load_dataset(data_dir / "help_ofa_sample", space="ofa_mbv3_w1.2").encoding.name == "ofa_mbv3_w1.2"


@pytest.mark.parametrize("space", [None, "nasbench201"])
def test_an_arch_of_another_space_on_a_later_line_says_so(tmp_path, data_dir, space):
    d = _copy(data_dir, tmp_path)
    lines = (d / "archs.jsonl").read_text().splitlines()
    lines[50] = '{"arch_id": 424243, "ops": [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6]}'
    (d / "archs.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(NasedgeError, match=r"archs.jsonl:51: an arch of space 'fbnet', not 'nasbench201'; the lines "
                                           r"before it are archs of 'nasbench201', and a dataset holds one space's$"):
        load_dataset(d, space)  # it said: field 'arch_str': missing


@pytest.mark.parametrize("space, first", [(None, False), ("fbnet", False), ("nasbench201", True)])
def test_a_measurements_row_of_another_space_says_so(tmp_path, space, first):
    """A CSV of fbnet archs with a NAS-Bench-201 arch on row 4 said "field 'ops': missing" of that row."""
    ops = '"{""ops"": [' + ", ".join(["1"] * 22) + ']}"'
    nb201 = '"{""arch_str"": ""|none~0|+|none~0|none~1|+|none~0|none~1|none~2|""}"'
    path = tmp_path / "m.csv"
    path.write_text("\n".join(["arch,latency_ms", f"{ops},1.0", f"{ops},1.5", f"{nb201},2.0"]) + "\n")
    line, found, expected = ("2", "fbnet", "nasbench201") if first else ("4", "nasbench201", "fbnet")
    tail = "is --space right for this dataset?" if first else \
        "the lines before it are archs of 'fbnet', and a dataset holds one space's"
    with pytest.raises(NasedgeError) as caught:
        read_arch_latency_csv(path, space)
    assert str(caught.value) == f"{path}:{line}: column 'arch': an arch of space '{found}', not '{expected}'; {tail}"

def test_read_arch_latency_csv(tmp_path, ofa_sample):
    archs = ofa_sample.items[:3]
    path = tmp_path / "m.csv"
    lines = ["arch,latency_ms,note"] + ['"' + a.to_json().replace('"', '""') + f'",{1.5 + i},x' for i, a in enumerate(archs)]
    path.write_text("\n".join(lines) + "\n")
    enc, items, lat = read_arch_latency_csv(path)
    assert enc.name == "ofa_mbv3_w1.2" and items == archs and list(lat) == [1.5, 2.5, 3.5]
    # `nasedge measure` output: median_ms and a device column
    lines = ["arch,device,median_ms"] + ['"' + a.to_json().replace('"', '""') + f'",{d},{2.0 + i}'
                                         for i, (a, d) in enumerate(zip(archs, ["x", "y", "x"]))]
    path.write_text("\n".join(lines) + "\n")
    _, items, lat = read_arch_latency_csv(path, device="x")
    assert items == [archs[0], archs[2]] and list(lat) == [2.0, 4.0]
    with pytest.raises(NasedgeError, match="rows of several devices"):
        read_arch_latency_csv(path)
    path.write_text(lines[0] + "\n" + lines[1].replace("2.0", "-2") + "\n")
    with pytest.raises(NasedgeError, match=r"m.csv:2: column 'median_ms': value '-2' is not valid"):
        read_arch_latency_csv(path)
    path.write_text("arch,median_ms\n{bad,1.0\n")
    with pytest.raises(NasedgeError, match=r"m.csv:2: column 'arch': invalid JSON"):
        read_arch_latency_csv(path)


def test_measurements_csv_of_users(tmp_path, ofa_sample):
    """What a user's own CSV may hold: a spreadsheet's byte-order mark is read; a latency outside the range a fit
    takes and a `noisy` that is neither true nor false name their line (the first was an error without a line
    after the fit began, the second was read as not noisy)."""
    from nasedge.predict.dataset import read_device_measurements

    rows = ['"' + a.to_json().replace('"', '""') + f'",{1.5 + i},false' for i, a in enumerate(ofa_sample.items[:3])]
    path = tmp_path / "m.csv"
    path.write_text("\ufeffarch,latency_ms,noisy\n" + "\n".join(rows) + "\n", encoding="utf-8")
    m = read_device_measurements(path, "b")
    assert list(m.latency_ms) == [1.5, 2.5, 3.5] and not m.noisy.any()
    for bad, needle in [(rows[1].replace(",2.5,", ",1e30,"), r"m.csv:3: column 'latency_ms': value '1e30' is not valid; "
                                                             r"expected a latency of 1e-06 to 1e\+07 ms"),
                        (rows[1].replace(",false", ",maybe"), r"m.csv:3: column 'noisy': value 'maybe' is not valid"),
                        (rows[1].replace(",2.5,", ",nan,"),
                         r"m.csv:3: column 'latency_ms': value 'nan' is not a number"),
                        (rows[1].replace(",2.5,", ",,"), r"m.csv:3: column 'latency_ms': empty; expected a positive")]:
        path.write_text("arch,latency_ms,noisy\n" + "\n".join([rows[0], bad]) + "\n")
        with pytest.raises(NasedgeError, match=needle):
            read_device_measurements(path, "b")
    last = [f'{1.5 + i},"' + a.to_json().replace('"', '""') + '"' for i, a in enumerate(ofa_sample.items[:2])]
    path.write_text("latency_ms,arch\n" + last[0] + "\n" + last[1][:40])  # arch last, as `measure` writes it: cut
    with pytest.raises(NasedgeError, match=r"m.csv:3: column 'arch': invalid JSON .*; a last line cut short by a kill "
                                           r"is repaired by rerunning `nasedge measure` with the same --out"):
        read_device_measurements(path, "b")
    # a row short of columns: the kill hint for a last line without its line end only, not for one in the middle
    path.write_text("arch,latency_ms,noisy\n" + "\n".join([rows[0], "x,1.5", rows[1]]) + "\n")
    with pytest.raises(NasedgeError) as err:
        read_device_measurements(path, "b")
    assert "m.csv:3: 2 columns; expected 3 as in the header" in str(err.value) and "kill" not in str(err.value)
    path.write_text("arch,latency_ms,noisy\n" + "\n".join([rows[0], "x,1.5"]))
    with pytest.raises(NasedgeError, match=r"m.csv:3: 2 columns; expected 3 as in the header; a last line cut short"):
        read_device_measurements(path, "b")


def test_a_binary_file_is_not_a_measurements_csv(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(NasedgeError, match=r"m.csv: not UTF-8 text \(byte 0xff at offset 0\); expected a measurements CSV"):
        read_arch_latency_csv(path)


def _copy(data_dir, tmp_path, name="help_nasbench201_sample"):
    d = tmp_path / "ds"
    shutil.copytree(data_dir / name, d)
    return d


def _edit(path, fn):
    path.write_text(fn(path.read_text()))


@pytest.mark.parametrize("edit, needle", [
    # an arch_id given twice: the later one took the other's row
    (lambda d: _edit(d / "archs.jsonl", lambda t: t.replace(t.splitlines()[3].split(",")[0],
                                                            t.splitlines()[2].split(",")[0], 1)),
     r"archs.jsonl:4: field 'arch_id': value \d+ is also the id of line 3"),
    # one arch under two ids
    (lambda d: _edit(d / "archs.jsonl", lambda t: t + t.splitlines()[0].replace('"arch_id": ', '"arch_id": 99999', 1)
                     + "\n"), r"archs.jsonl:309: the same arch as line 1 under another arch_id"),
    # a row given twice: the last silently won
    (lambda d: _edit(d / "latency_ms.csv", lambda t: t + t.splitlines()[1] + "\n"),
     r"latency_ms.csv:310: column 'arch_id': value \d+ is also the arch of line 2"),
    (lambda d: (d / "reference_archs.json").write_text("[[1], [2]]"), r"reference_archs.json: expected a list of "
                                                                        r"arch ids \(integers\)"),
    (lambda d: (d / "reference_archs.json").write_text('["1"]'), r"reference_archs.json: expected a list"),
    (lambda d: (d / "reference_archs.json").write_bytes(b'[1, "\xfc"]'), r"reference_archs.json: not UTF-8 text"),
    (lambda d: _edit(d / "latency_ms.csv", lambda t: t.splitlines()[0] + "\n"),
     r"latency_ms.csv: no measurement rows after the header"),
    (lambda d: (d / "latency_ms.csv").write_bytes((d / "latency_ms.csv").read_bytes().replace(b"pixel2", b"pix\xfcl2")),
     r"latency_ms.csv: not UTF-8 text \(byte 0xfc"),
    (lambda d: _edit(d / "latency_ms.csv", lambda t: "\n".join(ln + "," for ln in t.splitlines()) + "\n"),
     r"latency_ms.csv:1: column 29 has no device name \(a trailing comma\?\)"),
    (lambda d: _edit(d / "latency_ms.csv", lambda t: t.replace("pixel3", "pixel2", 1)),
     r"latency_ms.csv:1: device column 'pixel2' is there twice"),
    # --target-device and --sources could not name it
    (lambda d: _edit(d / "latency_ms.csv", lambda t: t.replace("pixel3", '"pixel3,b1"', 1)),
     r"latency_ms.csv:1: device column 'pixel3,b1': a device name may not hold a comma"),
    # the same device measured twice under two spellings: one would leak the other's answers as a source
    (lambda d: _edit(d / "latency_ms.csv", lambda t: t.replace("pixel3", "Pixel2", 1)),
     r"latency_ms.csv: device 'pixel2' differs from device 'Pixel2' only in case|"
     r"latency_ms.csv: device 'Pixel2' differs from device 'pixel2' only in case"),
    (lambda d: _edit(d / "latency_ms.csv", lambda t: "\n".join(
        ",".join([*ln.split(",")[:-1], ln.split(",")[-1] if i == 0 else ""]) for i, ln in enumerate(t.splitlines()))
        + "\n"), r"latency_ms.csv: column 'titanxp_32' holds no latency; remove it"),
    # a dataset's CSV cut short: `nasedge measure` does not write the format, rerunning it repairs nothing
    (lambda d: _edit(d / "latency_ms.csv", lambda t: t[:t.rstrip().rfind(",")]),
     r"latency_ms.csv:309: 27 columns; expected 28 as in the header; the file ends mid-line: cut short "
     r"\(an interrupted copy or edit\?\)$"),
    # ids are held as int64: a larger one crashed converting them, with a traceback
    (lambda d: _edit(d / "archs.jsonl", lambda t: t.replace('"arch_id": ', '"arch_id": 9223372036854775808', 1)),
     r"archs.jsonl:1: field 'arch_id': value 9223372036854775808\d* is out of range; expected an integer from "
     r"-2\*\*63"),
    (lambda d: _edit(d / "latency_ms.csv", lambda t: t.replace("\n", "\n-9223372036854775809", 1)),
     r"latency_ms.csv:2: column 'arch_id': value -9223372036854775809\d* is out of range"),
    (lambda d: (d / "reference_archs.json").write_text("[1, 99999999999999999999]"),
     r"reference_archs.json: arch id: value 99999999999999999999 is out of range"),
])
def test_a_dataset_that_would_be_read_wrong_is_refused_naming_file_and_line(tmp_path, data_dir, edit, needle):
    d = _copy(data_dir, tmp_path)
    edit(d)
    with pytest.raises(NasedgeError, match=needle):
        load_dataset(d)


def test_missing_value_markers_and_a_bom_read_as_missing_and_nothing(tmp_path, data_dir):
    d = _copy(data_dir, tmp_path)
    plain = load_dataset(d)
    lines = (d / "latency_ms.csv").read_text().splitlines()
    for i, marker in zip(range(1, 6), ("nan", "NA", "N/A", "null", "")):
        lines[i] = ",".join([*lines[i].split(",")[:-1], marker])
    (d / "latency_ms.csv").write_text("\n".join(lines) + "\n")
    for name in ("archs.jsonl", "reference_archs.json"):
        (d / name).write_bytes(b"\xef\xbb\xbf" + (d / name).read_bytes())
    ds = load_dataset(d)
    assert np.isnan(ds.column("titanxp_32")).sum() == 5
    np.testing.assert_array_equal(ds.latency[:, :-1], plain.latency[:, :-1])
