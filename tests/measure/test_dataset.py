"""Latency datasets: measured on several devices, resumed, merged into latency_ms.csv."""

from __future__ import annotations

import csv
import json

import pytest

from nasedge.arch import read_archs_jsonl, write_archs_jsonl
from nasedge.errors import NasedgeError
from nasedge.measure import Device, read_measurements_csv
from nasedge.measure.dataset import assemble_latency_csv, measure_dataset, reference_first_order
from nasedge.spaces import get_space


@pytest.fixture
def dataset(tmp_path):
    archs = get_space("ofa_mbv3_cifar").sample_many(5, 0)
    write_archs_jsonl(tmp_path / "archs.jsonl", [(10 + i, a) for i, a in enumerate(archs)])
    (tmp_path / "reference_archs.json").write_text("[13, 11]")
    return tmp_path, archs


def test_measure_resume_and_assemble(dataset, device_config, tmp_path_factory):
    directory, archs = dataset
    devices = [Device.from_config(device_config("dev-a")), Device.from_config(device_config("dev-b"))]
    order = reference_first_order(directory)
    assert order == ["13", "11", "10", "12", "14"]
    groups = []
    progress = measure_dataset(directory, devices, order=order, limit=3, group_size=2, meta={"why": "test"},
                               on_group=lambda p, remaining: groups.append(remaining))
    assert groups == [1, 0] and progress["dev-a"].measured == 3 and progress["dev-b"].done_before == 0
    first = read_measurements_csv(directory / "measurements" / "dev-a.csv")
    assert [m.arch_id for m in first] == ["10", "11", "13"]  # the first 3 of the order, stored in dataset order
    # a second call (another machine writing elsewhere) continues; nothing is measured twice
    out = tmp_path_factory.mktemp("elsewhere")
    progress = measure_dataset(directory, devices[1:], out=out, order=order, group_size=2)
    assert progress["dev-b"].done_before == 3 and progress["dev-b"].measured == 2
    (directory / "measurements" / "dev-b.csv").write_bytes((out / "measurements" / "dev-b.csv").read_bytes())
    with open(assemble_latency_csv(directory)) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["arch_id", "dev-a", "dev-b"] and [r[0] for r in rows[1:]] == ["10", "11", "12", "13", "14"]
    assert [r[1] != "" for r in rows[1:]] == [True, True, False, True, False]
    assert all(float(r[2]) > 0 for r in rows[1:])
    meta = json.loads((directory / "measurements" / "dev-a.json").read_text())
    assert meta["device"]["measure"]["runtime"] == "torch" and meta["runs"][0]["why"] == "test"
    assert meta["runs"][0]["measured"] == 3 and "load_average_end" in meta["runs"][0]


def test_mismatched_measurements_are_refused(dataset, device_config):
    directory, archs = dataset
    measure_dataset(directory, [Device.from_config(device_config("dev-a"))], limit=1)
    rows = read_archs_jsonl(directory / "archs.jsonl")
    write_archs_jsonl(directory / "archs.jsonl", [(i, rows[(k + 1) % len(rows)][1]) for k, (i, _) in enumerate(rows)])
    with pytest.raises(NasedgeError, match="dev-a.csv: arch_id '10' was measured for a different arch"):
        assemble_latency_csv(directory)


def test_rows_of_other_settings_of_a_device_are_not_mixed_into_its_column(dataset, device_config):
    """The campaign wrote no settings, and took rows measured by onnxruntime for a device now measured by torch."""
    directory, archs = dataset
    before = Device.from_config(device_config("dev-a", runtime="onnxruntime"))
    measure_dataset(directory, [before], limit=1)
    assert [m.settings for m in read_measurements_csv(directory / "measurements" / "dev-a.csv")] == [before.settings]
    now = Device.from_config(device_config("dev-a", runtime="torch"))
    with pytest.raises(NasedgeError, match=f"dev-a.csv: 1 of its measurements were taken under other settings of "
                                           f"device 'dev-a' .{before.settings}, now {now.settings}"):
        measure_dataset(directory, [now])
    assert measure_dataset(directory, [before], limit=2)["dev-a"].done_before == 1  # its own: resumed
    elsewhere = directory / "elsewhere"  # the rows are in the dataset read, not in the folder written
    with pytest.raises(NasedgeError, match=f"^{directory / 'measurements' / 'dev-a.csv'}: 2 of its measurements"):
        measure_dataset(directory, [now], out=elsewhere)


def test_a_group_refused_as_noisy_is_timed_afresh_by_the_next_call(dataset, device_config, kill_after_rounds):
    from nasedge.measure.protocol import NoisyRefused

    directory, archs = dataset
    config = device_config("dev-n", runtime="onnxruntime")
    config["measure"]["protocol"].update(group_size=3, min_rounds=2, max_rounds=2, max_spread=1e-9,
                                         on_noisy="raise")
    timed = kill_after_rounds(100)  # counts the rounds; never kills
    for _ in range(2):
        timed.clear()
        with pytest.raises(NoisyRefused, match="its rounds are dropped"):
            measure_dataset(directory, [Device.from_config(config)], limit=3)
        assert timed == [3, 3]  # the second call times its group again


def test_redo_measures_again_and_keeps_the_old_until_replaced(dataset, device_config):
    directory, _ = dataset
    device = Device.from_config(device_config("dev-a"))
    measure_dataset(directory, [device], group_size=2)
    path = directory / "measurements" / "dev-a.csv"
    before = {m.arch_id: m for m in read_measurements_csv(path)}
    again = {"11", "14"}
    seen = []

    def stop_after_first_group(progress, remaining):
        seen.append({m.arch_id: m for m in read_measurements_csv(path)})

    progress = measure_dataset(directory, [device], group_size=1, time_limit=0.001,
                               redo=lambda m: m.arch_id in again, on_group=stop_after_first_group)
    assert progress["dev-a"].done_before == 3 and progress["dev-a"].measured == 1  # stopped after one group
    (mid,) = seen
    assert set(mid) == set(before)  # the other arch to redo is still in the file
    assert mid["11"].stats != before["11"].stats and mid["14"].stats == before["14"].stats
    progress = measure_dataset(directory, [device], group_size=1, redo=lambda m: m.arch_id in again and
                               m.stats == before[m.arch_id].stats)
    assert progress["dev-a"].measured == 1 and read_measurements_csv(path)[-1].stats != before["14"].stats


class Interrupted(Device):
    """A real local device interrupted (as by Ctrl-C or a kill) after ``after`` archs were returned."""

    after = 2

    def measure(self, archs, *, on_chunk=None, **kwargs):
        def chunk(got):
            if self.after <= 0:
                raise KeyboardInterrupt
            self.after -= len(got)
            on_chunk(got)

        return super().measure(archs, on_chunk=chunk, **kwargs)


def test_an_interrupted_group_keeps_the_archs_measured_before_it_stopped(dataset, device_config):
    directory, _ = dataset
    device = Interrupted.from_config(device_config("dev-a"))
    with pytest.raises(KeyboardInterrupt):  # one group of 5 archs, interrupted after 2
        measure_dataset(directory, [device], group_size=5)
    kept = read_measurements_csv(directory / "measurements" / "dev-a.csv")
    assert [m.arch_id for m in kept] == ["10", "11"]
    progress = measure_dataset(directory, [Device.from_config(device_config("dev-a"))], group_size=5)
    assert progress["dev-a"].done_before == 2 and progress["dev-a"].measured == 3
    final = read_measurements_csv(directory / "measurements" / "dev-a.csv")
    assert [m.arch_id for m in final] == ["10", "11", "12", "13", "14"] and final[:2] == kept
