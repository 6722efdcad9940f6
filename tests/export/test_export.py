import warnings

import pytest
import torch

from nasedge.errors import NasedgeError
from nasedge.export import export_subnet, parse_formats
from nasedge.export.onnx import check_onnx, export_onnx
from nasedge.export.program import check_program, program_bytes
from nasedge.export.tflite import check_tflite, tflite_available
from nasedge.spaces import get_space


def test_formats_write_loadable_files(tmp_path, scrambled_supernet):
    space = get_space("ofa_mbv3_cifar")
    arch = space.sample(1)
    model = scrambled_supernet(space.name).extract(arch)
    paths = export_subnet(model, arch, ["torch", "onnx", "pt2"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subnet.onnx", "subnet.pt", "subnet.pt2"]  # no temporaries
    script_files, program_files = {"arch.json": ""}, {"arch.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated upstream: see the pt2 format
        script = torch.jit.load(str(paths["torch"]), _extra_files=script_files)
    program = torch.export.load(str(paths["pt2"]), extra_files=program_files).module()
    for batch in (1, 5):  # TorchScript is traced at batch 1; the program's batch is dynamic
        x = torch.randn(batch, 3, arch.resolution, arch.resolution)
        with torch.no_grad():
            assert torch.allclose(program(x), model(x), atol=1e-5)
            assert torch.allclose(script(x), model(x), atol=1e-5)
    for files in (script_files, program_files):
        assert files["arch.json"] in (arch.to_json(), arch.to_json().encode())


def test_export_leaves_the_callers_random_numbers_alone(tmp_path, scrambled_supernet):
    space = get_space("ofa_mbv3_tiny")
    arch = space.sample(0)
    model = scrambled_supernet(space.name).extract(arch)
    state = torch.get_rng_state()
    export_subnet(model, arch, ["torch", "onnx", "pt2"], tmp_path)
    assert torch.equal(torch.get_rng_state(), state)


def test_export_refuses_a_model_not_of_the_arch_and_bad_formats_before_writing(tmp_path, scrambled_supernet):
    space = get_space("ofa_mbv3_tiny")
    arch, other = space.sample(0), space.sample(5)
    supernet = scrambled_supernet(space.name)
    with pytest.raises(NasedgeError, match="the model was built for .*, not for the arch given"):
        export_subnet(supernet.extract(arch), other, ["onnx"], tmp_path / "a")  # an ONNX of 16 px said to be 24
    with pytest.raises(NasedgeError, match="takes a static subnet; extract it first"):
        export_subnet(supernet, arch, ["onnx"], tmp_path / "b")
    for formats in ("onnx,pdf", ["onnxx"], []):
        with pytest.raises(NasedgeError, match="unknown export format"):
            export_subnet(supernet.extract(arch), arch, formats, tmp_path / "c")
    assert not list(tmp_path.iterdir())
    assert export_subnet(supernet.extract(arch), arch, "onnx", tmp_path / "d")["onnx"].is_file()  # a str names them


def test_pt2_check_refuses_a_program_of_another_model_or_arch(tmp_path, scrambled_supernet):
    space = get_space("ofa_mbv3_cifar")
    arch = space.sample(4)
    model = scrambled_supernet(space.name).extract(arch)
    data = program_bytes(model, arch)
    assert check_program(data, model, arch) <= 1e-5
    with torch.no_grad():
        model.head.classifier.bias.add_(0.01)
    with pytest.raises(NasedgeError, match="program output differs from PyTorch"):
        check_program(data, model, arch)
    other = space.sample(5)
    with pytest.raises(NasedgeError, match="stores arch"):
        check_program(data, scrambled_supernet(space.name).extract(other), other)


def test_onnx_check_rejects_a_mismatching_model(tmp_path, scrambled_supernet):
    space = get_space("ofa_mbv3_cifar")
    arch = space.sample(2)
    model = scrambled_supernet(space.name).extract(arch)
    path = export_onnx(model, arch, tmp_path / "m.onnx")
    with torch.no_grad():
        model.head.classifier.bias.add_(1.0)
    with pytest.raises(NasedgeError, match="differs from PyTorch"):
        check_onnx(path, model, arch)
    assert not path.exists()


def test_parse_formats():
    assert parse_formats("onnx, torch") == ["onnx", "torch"]
    assert parse_formats("pt2,torch") == ["pt2", "torch"]
    with pytest.raises(NasedgeError, match="unknown export format pdf"):
        parse_formats("onnx,pdf")
    assert parse_formats(["onnx", "torch"]) == ["onnx", "torch"]


@pytest.mark.slow  # conversion: 20-60 s on the shared 2-core machine
@pytest.mark.skipif(not tflite_available(), reason="needs the tflite extra")
def test_tflite_is_converted_and_checked_against_the_interpreter(tmp_path, scrambled_supernet):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    space = get_space("ofa_mbv3_cifar")
    arch = space.min_arch()
    model = scrambled_supernet(space.name).extract(arch)
    path = export_subnet(model, arch, ["tflite"], tmp_path)["tflite"]
    flat = path.read_bytes()
    x = torch.randn(1, 3, arch.resolution, arch.resolution)
    interpreter = Interpreter(model_content=flat)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.numpy())
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-3)
    with torch.no_grad():
        model.head.classifier.bias.add_(1.0)
    with pytest.raises(NasedgeError, match="TFLite output differs from PyTorch"):
        check_tflite(flat, model, arch)


def test_onnx_check_tolerance_follows_the_output_scale(tmp_path, scrambled_supernet):
    # the same model with logits 1e5 times larger: float32 differences grow with them and are accepted; a change of
    # one logit by 1 % of the largest is still refused
    space = get_space("ofa_mbv3_cifar")
    arch = space.sample(2)
    model = scrambled_supernet(space.name).extract(arch)
    with torch.no_grad():
        model.head.classifier.weight.mul_(1e5)
        model.head.classifier.bias.mul_(1e5)
    path = export_onnx(model, arch, tmp_path / "m.onnx")
    assert 1e-4 < check_onnx(path, model, arch)  # refused by an absolute 1e-4
    with torch.no_grad():
        x = torch.randn(2, 3, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(0))
        model.head.classifier.bias[0] += 0.01 * model(x).abs().max()
    with pytest.raises(NasedgeError, match="x the largest output"):
        check_onnx(path, model, arch)
