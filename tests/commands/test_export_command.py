"""`nasedge export`: an extracted subnet is exported with its own BatchNorm statistics, and a manifest."""

from __future__ import annotations

import json

import torch

from nasedge.cli import main
from nasedge.spaces import get_space


def _bn_means(state: dict) -> dict:
    return {k: v.clone() for k, v in state.items() if k.endswith("running_mean")}


def test_an_extracted_subnet_is_recalibrated_before_export(tmp_path, capsys):
    # it was exported with the supernet's statistics: 13 % where `nasedge eval` said 25.5 % (a supernet of one's own)
    from omegaconf import OmegaConf

    from nasedge.config import compose
    from nasedge.data import load_dataset, recalibration_subset
    from nasedge.supernet import load_supernet
    from nasedge.supernet.accuracy import recalibrate_subnet

    space = get_space("ofa_mbv3_cifar")
    arch = space.sample_many(1, 3)[0]
    (tmp_path / "a.json").write_text(arch.to_json())
    out = tmp_path / "exp"
    few = ["data.recalibration_images=200"]  # the protocol's 2,000 take seconds on a CPU
    assert main(["export", "--arch", str(tmp_path / "a.json"), "--format", "torch", "--out", str(out), *few]) == 0
    cfg = compose(few)
    data = OmegaConf.to_object(cfg.data)
    subnet = load_supernet(cfg.supernet.checkpoint).extract(arch)
    extracted = _bn_means(subnet.state_dict())
    recalibrate_subnet(subnet.train(), arch, recalibration_subset(load_dataset(data)[0], data), data)
    exported = _bn_means(torch.jit.load(str(out / "subnet.pt")).state_dict())
    assert exported.keys() == extracted.keys() and len(exported) > 10
    assert all(torch.allclose(exported[k], v, atol=1e-5) for k, v in _bn_means(subnet.state_dict()).items())
    assert not all(torch.allclose(exported[k], v, atol=1e-3) for k, v in extracted.items())
    m = json.loads((out / "manifest.json").read_text())
    assert m["arch"] == arch.to_dict() and m["batchnorm"]["recalibrated"] is True and m["batchnorm"]["images"] == 200
    assert m["input"]["shape"] == [1, 3, arch.resolution, arch.resolution] and len(m["supernet"]["sha256"]) == 64
    assert m["input"]["mean"] == [0.4914, 0.4822, 0.4465] and "antialias=True" in m["input"]["preprocess"]
    assert m["files"]["torch"]["name"] == "subnet.pt" and len(m["files"]["torch"]["sha256"]) == 64

    # data given that cannot recalibrate it is an error (the configured default that does not fit, a warning)
    bad = [f"data.path={tmp_path / 'none.npz'}"]
    assert main(["export", "--arch", str(tmp_path / "a.json"), "--format", "torch", "--out", str(out), *bad]) == 2
    assert "none.npz" in capsys.readouterr().err
    assert main(["export", "--arch", str(tmp_path / "a.json"), "--format", "torch", "--out", str(tmp_path / "r"),
                 "--no-recalibrate"]) == 0
    kept = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert kept["batchnorm"] == {"recalibrated": False, "why": "--no-recalibrate"}
    assert "mean" not in kept["input"] and kept["input"]["preprocess"].startswith("that of the data the supernet")
    assert torch.equal(torch.jit.load(str(tmp_path / "r" / "subnet.pt")).state_dict()[next(iter(extracted))],
                       next(iter(extracted.values())))
    # not recalibrated, the data given still says how to feed it (it said "export with data=..." to no effect)
    assert main(["export", "--arch", str(tmp_path / "a.json"), "--format", "torch", "--out", str(tmp_path / "r"),
                 "--no-recalibrate", "data.mean=[0.5,0.5,0.5]"]) == 0
    given = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert given["batchnorm"] == {"recalibrated": False, "why": "--no-recalibrate"}
    assert given["input"]["mean"] == [0.5, 0.5, 0.5] and given["input"]["std"] == list(data.std)
    assert main(["export", "--arch", str(tmp_path / "a.json"), "--format", "torch", "--out", str(tmp_path / "r"),
                 "--no-recalibrate", *bad]) == 2
    assert "none.npz" in capsys.readouterr().err
    assert main(["export", "--arch", str(tmp_path / "a.json"), "--format", "torch", "--out", str(tmp_path / "r"),
                 "--no-recalibrate", "data.num_classes=100"]) == 2  # as recalibrating would have said
    assert "data.num_classes: value 100 does not match the 10 classes" in capsys.readouterr().err


def test_an_export_replaces_the_earlier_one_as_a_whole_or_not_at_all(tmp_path, monkeypatch, nasedge_cli):
    """Into a folder that holds an earlier export: a failure (or Ctrl-C) after some formats leaves the earlier
    export as it was; a finished one replaces it, formats it did not write too; a second export into the folder
    while one runs is refused."""
    import nasedge.export as export
    from nasedge.writer_lock import locked_folder

    space = get_space("ofa_mbv3_tiny")
    small, large = space.min_arch(), space.max_arch()
    for name, arch in (("small.json", small), ("large.json", large)):
        (tmp_path / name).write_text(arch.to_json())
    out = tmp_path / "exp"

    def export_of(arch_file, formats):
        return nasedge_cli("export", "--arch", tmp_path / arch_file, "--init", "random", "--format", formats,
                           "--out", out)

    out.mkdir()
    for name in ("report.md", "notes.txt", "subnet.tflite"):   # the user's own files: export never removes them
        (out / name).write_text("mine\n")
    assert export_of("large.json", "onnx,torch").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert {"subnet.onnx", "subnet.pt", "manifest.json"} <= set(before)

    writer = export.FORMATS["torch"]

    def interrupted(*args):
        raise KeyboardInterrupt   # after onnx was written
    monkeypatch.setitem(export.FORMATS, "torch", (writer[0], interrupted))
    assert export_of("small.json", "onnx,torch").returncode == 130
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before   # the earlier export, whole
    monkeypatch.setitem(export.FORMATS, "torch", writer)

    r = export_of("small.json", "onnx")
    assert r.returncode == 0 and f"onnx: {out / 'subnet.onnx'}" in r.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["arch"] == small.to_dict() and list(manifest["files"]) == ["onnx"]
    assert not (out / "subnet.pt").exists()   # the earlier arch's TorchScript file is not left beside it
    assert all((out / name).read_text() == "mine\n" for name in ("report.md", "notes.txt", "subnet.tflite"))
    with locked_folder(out, "--out"):   # as another export running into the folder would hold it
        r = export_of("large.json", "onnx")
    assert r.returncode == 2 and "another run is writing this folder" in r.stderr
    assert json.loads((out / "manifest.json").read_text())["arch"] == small.to_dict()


def test_an_export_never_replaces_or_deletes_what_is_not_a_pick(tmp_path, nasedge_cli):
    """A folder with another tool's manifest.json (its "files" are not ours to delete), a folder where an output
    file goes, an empty --out (an unset shell variable) and an arch file that cannot be read: each is one line,
    exit 2, before the work, and nothing of the user's changes."""
    arch = tmp_path / "a.json"
    arch.write_text(get_space("ofa_mbv3_tiny").min_arch().to_json())

    def export_to(out, arch_file=arch):
        return nasedge_cli("export", "--arch", arch_file, "--init", "random", "--format", "onnx", "--out", out)

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "notes.txt").write_text("mine\n")
    (proj / "manifest.json").write_text('{"files": {"notes": "notes.txt"}}')
    r = export_to(proj)
    assert r.returncode == 2 and "holds a manifest.json that nasedge did not write" in r.stderr
    assert sorted(p.name for p in proj.iterdir()) == ["manifest.json", "notes.txt"]
    (tmp_path / "o7" / "subnet.onnx").mkdir(parents=True)
    r = export_to(tmp_path / "o7")
    assert r.returncode == 2 and "subnet.onnx is a folder where the pick's file of that name goes" in r.stderr
    assert [p.name for p in (tmp_path / "o7").iterdir()] == ["subnet.onnx"]
    r = export_to("")
    assert r.returncode == 2 and "--out: value '' is not valid" in r.stderr
    for verb in (("export", "--arch"), ("arch", "validate"), ("arch", "stats")):
        r = nasedge_cli(*verb, "/proc/self/mem", *(("--init", "random", "--out", tmp_path / "x") if verb[0] == "export"
                                                   else ()))
        assert r.returncode == 2 and "/proc/self/mem: cannot be read" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_the_manifest_says_how_the_input_is_cropped_and_which_seed_recalibration_drew_from(tmp_path):
    """It said "the central 1 of each side kept" for no crop at all, and ``seed: null`` for an export as
    deterministic as any (the first images in stored order, augmented from seed 0)."""
    arch = get_space("ofa_mbv3_cifar").sample_many(1, 3)[0]
    (tmp_path / "a.json").write_text(arch.to_json())
    export = ["export", "--arch", str(tmp_path / "a.json"), "--format", "torch", "data.recalibration_images=20"]
    assert main([*export, "--out", str(tmp_path / "shipped")]) == 0
    m = json.loads((tmp_path / "shipped" / "manifest.json").read_text())
    assert "; no crop (the whole image); " in m["input"]["preprocess"] and "central" not in m["input"]["preprocess"]
    assert m["batchnorm"] | {"data": None} == {"recalibrated": True, "data": None, "images": 20, "augment": True,
                                               "subset": "the first, in stored order", "seed": 0}
    assert main([*export, "--out", str(tmp_path / "seeded"), "data.recalibration_seed=7", "data.eval_crop=0.875"]) == 0
    m = json.loads((tmp_path / "seeded" / "manifest.json").read_text())
    assert "; the central 87.5 % of each side kept; " in m["input"]["preprocess"]
    assert m["batchnorm"]["subset"] == "random, seeded" and m["batchnorm"]["seed"] == 7
