"""``nasedge eval``: top-1 of subnets of a supernet, refused in one line on data of another class count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nasedge.spaces import get_space
from nasedge.supernet import build_supernet, save_supernet
from tests.synthetic_data import write_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 10-class packed dataset at 24 px."""
    return write_dataset(tmp_path_factory.mktemp("eval") / "data.npz", n_train=64, n_test=40)


def _eval(nasedge_cli, supernet, data, *extra):
    return nasedge_cli("eval", "--arch", "max", "--supernet", supernet, "--device", "cpu", "data=cifar10",
                       f"data.path={data}", "data.image_size=24", "data.recalibration_images=32", *extra)


def test_eval_refuses_data_of_another_class_count(nasedge_cli, data, tmp_path):
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny"), 3), tmp_path / "three.pt")
    r = _eval(nasedge_cli, tmp_path / "three.pt", data, "--out", tmp_path / "acc.jsonl")
    assert r.returncode == 2
    assert f"supernet {tmp_path / 'three.pt'} has 3 classes, the data {data} has 10" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and "top-1" not in r.stdout
    assert not (tmp_path / "acc.jsonl").exists()


def test_eval_of_the_data_s_class_count_runs(nasedge_cli, data, tmp_path):
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), tmp_path / "ten.pt")
    r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--json")
    assert r.returncode == 0, r.stderr
    assert 0 <= json.loads(r.stdout.splitlines()[-1])["top1"] <= 100


def _split_into_rank_files(results: Path, out: Path, ranks: int = 2) -> list[str]:
    """The records of ``results`` as a stopped ``ranks``-process run leaves them: ``OUT.rank<R>``, every
    ranks-th record each; their lines."""
    lines = results.read_text().splitlines()
    for r in range(ranks):
        Path(f"{out}.rank{r}").write_text("".join(line + "\n" for line in lines[r::ranks]))
    return lines


def _digests(path: Path) -> list[str]:
    return [json.loads(line)["digest"] for line in path.read_text().splitlines()]


def test_the_rank_files_of_a_stopped_distributed_run_end_up_in_out(nasedge_cli, data, tmp_path):
    """A rerun without torchrun skips their archs and merges their records into --out (it left them beside it)."""
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), tmp_path / "ten.pt")
    assert _eval(nasedge_cli, tmp_path / "ten.pt", data, "--arch", "random:3", "--out",
                 tmp_path / "first.jsonl").returncode == 0
    out = tmp_path / "acc[1] {x}.jsonl"   # glob characters in the name are matched as they are
    stopped = _split_into_rank_files(tmp_path / "first.jsonl", out)
    backup = Path(f"{out}.rank0.bak")   # a file of the user's, not a rank file
    backup.write_text("mine\n")
    r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--arch", "random:5", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "skipped 3 archs already in" in r.stdout
    digests = _digests(out)
    assert len(digests) == 5 == len(set(digests))
    assert set(stopped) <= set(out.read_text().splitlines())  # the stopped run's records, as they were
    assert not Path(f"{out}.rank0").exists() and not Path(f"{out}.rank1").exists()
    assert backup.read_text() == "mine\n"


def test_the_distributed_merge_keeps_a_stopped_run_s_records(nasedge_cli, data, tmp_path, capsys):
    """Rank 0's merge after a resumed run writes the stopped run's records too (it dropped them with the rank
    files), in arch order; it prints this run's; a merge repeated after a kill adds nothing twice."""
    from argparse import Namespace

    from nasedge.commands.eval import _merge_parts, _merge_ranks, parse_arch_spec
    from nasedge.train.distributed import World

    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), tmp_path / "ten.pt")
    assert _eval(nasedge_cli, tmp_path / "ten.pt", data, "--arch", "random:4", "--out",
                 tmp_path / "all.jsonl").returncode == 0
    records = (tmp_path / "all.jsonl").read_text().splitlines()
    out = tmp_path / "acc.jsonl"
    Path(f"{out}.rank0").write_text(records[0] + "\n" + records[2] + "\n")   # the stopped run's
    Path(f"{out}.rank1").write_text(records[1] + "\n" + records[3] + "\n")   # ... and this run's arch 3
    archs = parse_arch_spec("random:4", get_space("ofa_mbv3_tiny"), 0)
    capsys.readouterr()
    _merge_ranks(World(launched=True), archs, Namespace(out=str(out), json=True), [json.loads(records[3])])
    assert out.read_text().splitlines() == records
    assert capsys.readouterr().out.splitlines() == [records[3]]
    assert not list(tmp_path.glob("acc.jsonl.rank*"))
    Path(f"{out}.rank0").write_text(records[0] + "\n")   # killed after the append, before the rank files went
    _merge_parts(str(out), archs)
    assert out.read_text().splitlines() == records


def test_an_arch_listed_twice_is_evaluated_once_and_a_second_run_on_out_is_refused(nasedge_cli, data, tmp_path):
    """A file of an arch twice gave two lines (a fit refuses such a file); two runs on one --out appended every arch
    twice; asking for more distinct archs than the space holds is one line."""
    from nasedge.writer_lock import locked_file

    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), tmp_path / "ten.pt")
    archs = get_space("ofa_mbv3_tiny").sample_many(2, 0)
    (tmp_path / "a.jsonl").write_text("".join(a.to_json() + "\n" for a in [*archs, archs[0]]))
    out = tmp_path / "acc.jsonl"
    r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--arch", tmp_path / "a.jsonl", "--out", out)
    assert r.returncode == 0 and f"{tmp_path / 'a.jsonl'}: 1 repeated archs are evaluated once" in r.stderr
    assert sorted(_digests(out)) == sorted(a.digest() for a in archs)
    with locked_file(out, "results file"):   # as another run appending to it holds it
        r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--arch", "random:3", "--out", out)
    assert r.returncode == 2 and f"{out}: another run is appending to this results file" in r.stderr
    assert len(_digests(out)) == 2
    r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--arch", "random:100000")
    assert r.returncode == 2 and "100000 distinct archs of space ofa_mbv3_tiny asked for; it holds only" in r.stderr


def test_one_arch_shows_its_recalibration_and_test_batches(nasedge_cli, data, tmp_path, line_per_update):
    """One arch showed no progress (the reporter was made for several): minutes of silence after the first line on a
    CPU (2,000 + 10,000 images). Its images now count per batch, recalibration then test, in plain lines on stderr
    (not a terminal)."""
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), tmp_path / "ten.pt")
    r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--batch-size", "16", "data.recalibration_batch_size=16")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("evaluate: ")]
    # 32 recalibration images in 2 batches, then 40 test images in 3
    assert [line.split(",")[0] for line in lines] == [f"evaluate: {n}/72 images" for n in (0, 16, 32, 48, 64, 72)]
    assert "ETA" in lines[1] and "\x1b" not in r.stderr
    assert "top-1" in r.stdout


def test_several_archs_count_the_one_in_flight_as_its_share(nasedge_cli, data, tmp_path, line_per_update):
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), tmp_path / "ten.pt")
    r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--arch", "random:2", "data.recalibration_batch_size=16")
    assert r.returncode == 0, r.stderr
    done = [line.split(",")[0] for line in r.stderr.splitlines() if line.startswith("evaluate: ")]
    # per arch: 0, 16 and 32 of 32 recalibration images, then the 40 test images in one batch (of 72 in all)
    assert done == ["evaluate: 0/2 archs", "evaluate: 0.2/2 archs", "evaluate: 0.4/2 archs", "evaluate: 1/2 archs",
                    "evaluate: 1/2 archs", "evaluate: 1.2/2 archs", "evaluate: 1.4/2 archs", "evaluate: 2/2 archs"]
