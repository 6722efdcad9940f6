"""The bad-input table (experiments/new_board/bad_inputs.py): every verb answers bad input with one line, exit 2,
no traceback; in this process (fast), and as real processes within 2 s each (slow)."""

import importlib.util
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "bad_inputs", Path(__file__).resolve().parents[2] / "experiments" / "new_board" / "bad_inputs.py")
bad_inputs = sys.modules.setdefault("bad_inputs", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(bad_inputs)  # registered first: its dataclasses look their module up

CASES = bad_inputs.cases(Path("$D"))  # for the ids; each test builds its own with its folder
VERBS = {"accuracy", "arch", "devices", "eval", "export", "import", "measure", "predictor", "serve", "specialize",
         "train"}


def _case(i: int, d: Path):
    bad_inputs.write_files(d)
    case = bad_inputs.cases(d)[i]
    if case.after:
        pytest.skip(f"expected after merging {case.after}")
    return case


def test_the_table_covers_every_verb_with_at_least_30_cases():
    assert len(CASES) >= 30 and {c.argv[0] for c in CASES} == VERBS
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c.name for c in CASES])
def test_bad_input_in_process(i, tmp_path, nasedge_cli):
    case = _case(i, tmp_path)
    r = nasedge_cli(*case.argv, cwd=tmp_path)
    result = bad_inputs.Result(case, r.returncode, r.stderr, 0.0)
    assert result.problems() == [], r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(CASES)), ids=[c.name for c in CASES])
def test_bad_input_as_a_process_within_2_s(i, tmp_path):
    case = _case(i, tmp_path)
    result = bad_inputs.run_subprocess(case, tmp_path)
    assert result.problems() == [], result.stderr


def test_a_users_device_is_a_known_option_of_the_device_group(nasedge_cli):
    from nasedge.config import check_overrides, compose
    from nasedge.errors import NasedgeError

    assert nasedge_cli("devices", "add", "myboard", "--runtime", "onnxruntime").returncode == 0
    assert compose(["device=myboard"]).device.name == "myboard"
    with pytest.raises(NasedgeError, match=r"^unknown device 'myboard2'; did you mean 'myboard'\? known: .*myboard"):
        check_overrides(["device=myboard2"])


S = ("specialize", "--device", "titan_rtx_64", "--latency", "7ms")
# a group the verb never reads: refused, not ignored (specialize ran with train.max_minutes=5 and said nothing).
# Checked by the early checks alone: a verb that let one through would run (train, serve: for good)
REFUSED = [
    bad_inputs.Case("specialize given a training setting", (*S, "train.max_minutes=5"),
                    r"^override 'train.max_minutes=5': nasedge specialize does not read train "
                    r"\(nasedge train reads it\); drop it$"),
    bad_inputs.Case("specialize given a training recipe", (*S, "train=tiny"),
                    r"override 'train=tiny': nasedge specialize does not read train"),
    bad_inputs.Case("specialize given a service setting", (*S, "service.port=9"),
                    r"override 'service.port=9': nasedge specialize does not read service \(nasedge serve reads it\)"),
    bad_inputs.Case("train given a search setting", ("train", "search.max_evaluations=3"),
                    r"override 'search.max_evaluations=3': nasedge train does not read search \(nasedge specialize"),
    bad_inputs.Case("serve given a training setting", ("serve", "train.max_minutes=3"),
                    r"override 'train.max_minutes=3': nasedge serve does not read train"),
    bad_inputs.Case("eval given a predictor", ("eval", "--arch", "max", "predictor=lut"),
                    r"override 'predictor=lut': nasedge eval does not read predictor \(nasedge specialize, predictor "
                    r"fit and serve read it\)"),
    bad_inputs.Case("export given a device setting", ("export", "--arch", "a.json", "--out", "o", "device.name=x"),
                    r"override 'device.name=x': nasedge export does not read device"),
    bad_inputs.Case("measure given data", ("measure", "--device", "cpu", "--num-archs", "1", "--out", "m.csv",
                                           "data.cutout=8"), r"override 'data.cutout=8': nasedge measure does not read"),
    bad_inputs.Case("arch sample given a space twice", ("arch", "sample", "--space", "ofa_mbv3_tiny",
                                                        "search_space=ofa_mbv3_cifar"),
                    r"override 'search_space=ofa_mbv3_cifar': nasedge arch sample does not read search_space with "
                    r"--space"),
    bad_inputs.Case("predictor fit of measurements given a device setting",
                    ("predictor", "fit", "--device", "cpu-ort-t1", "--measurements", "m.csv",
                     "device.measure.threads=2"),
                    r"override 'device.measure.threads=2': nasedge predictor fit does not read device with "
                    r"--measurements"),
    # a deletion too (serve composed it, and served without a word)
    bad_inputs.Case("serve given a deletion of a device setting", ("serve", "~device.measure.batch"),
                    r"^override '~device.measure.batch': nasedge serve does not read device \(nasedge specialize, "
                    r"measure and predictor fit read it\); drop it$"),
    bad_inputs.Case("eval given a deletion of a group", ("eval", "--arch", "max", "~predictor"),
                    r"^override '~predictor': nasedge eval does not read predictor"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_an_override_of_a_group_the_verb_does_not_read_is_refused(case, tmp_path, monkeypatch):
    from nasedge.cli import build_parser
    from nasedge.commands.inputs import check
    from nasedge.errors import NasedgeError

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(list(case.argv))
    with pytest.raises(NasedgeError, match=case.expect):
        check(args.command, args)


@pytest.mark.parametrize("verb, overrides", [
    # what each verb does read passes (data.cutout: specialize's final evaluation recalibrates on augmented images)
    ("specialize", ["data.cutout=0", "supernet.checkpoint=null", "search.max_evaluations=5", "specialize.top_k=2",
                    "predictor.cv_folds=3", "seed=1", "experiment=specialize_fast"]),
    ("train", ["train=tiny", "data.cutout=8", "search_space=ofa_mbv3_tiny", "seed=2"]),
    ("eval", ["supernet.checkpoint=x.pt", "data.limit_test=5"]),
    ("export", ["supernet.init=random", "data=cifar10"]),
    ("measure", ["device.measure.threads=2", "search_space=ofa_mbv3_tiny"]),
    ("predictor fit", ["predictor=lut", "device.measure.threads=2", "search_space=ofa_mbv3_tiny"]),
    ("serve", ["service.port=9", "predictor.cv_folds=3"]),
    ("arch sample", ["search_space=ofa_mbv3_tiny"]),
    ("accuracy sample", ["data.limit_test=5", "supernet.checkpoint=x.pt"]),
])
def test_overrides_of_the_groups_a_verb_reads_pass(verb, overrides):
    from nasedge.commands.inputs import check_read

    check_read(verb, overrides)


@pytest.mark.parametrize("argv", [
    ("measure", "--device", "cpu", "--num-archs", "1", "--out", "m.csv", "~device.measure.protocol.probe_s"),
    ("specialize", "--device", "cpu", "--latency", "2ms", "--out", "pick", "~device.measure.protocol"),
    ("predictor", "fit", "--device", "cpu-ort-t1", "~device.measure.protocol.group_size"),
])
def test_a_deletion_in_a_group_the_verb_reads_passes(argv, tmp_path, monkeypatch):
    from nasedge.cli import build_parser
    from nasedge.commands.inputs import check
    from nasedge.config import compose_with_device

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(list(argv))
    check(args.command, args)
    _, device = compose_with_device(args.device, args.overrides)
    assert device.name == args.device  # the protocol is no part of what names the device


def test_an_interpolation_that_resolves_is_taken(monkeypatch):
    from nasedge.config import compose

    monkeypatch.setenv("NASEDGE_TOP_K", "5")
    assert compose(["specialize.top_k=${oc.env:NASEDGE_TOP_K}"]).specialize.top_k == 5


def test_device_checks_answer_without_importing_torch():
    # the GPU and predict-only checks are what made three cases take 3.5 s: torch's import
    import subprocess

    code = ("import sys, argparse\n"
            "from nasedge.commands.inputs import check\n"
            "from nasedge.errors import NasedgeError\n"
            "for device, measurements in (('h200-torch-fp16-b1', None), ('titan_rtx_64', 'x.csv')):\n"
            "    args = argparse.Namespace(device=device, latency='2ms', strategy=None, predictor_url=None,\n"
            "        overrides=[], supernet=None, data=None, accuracy_predictor=None, measurements=measurements,\n"
            "        out=None)\n"
            "    try:\n"
            "        check('specialize', args)\n"
            "    except NasedgeError as exc:\n"
            "        print(exc)\n"
            "print('torch' in sys.modules)\n")
    from nasedge.measure._torch import nvidia_driver_may_be_present

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "predict-only" in out[-2]
    if not nvidia_driver_may_be_present():  # with a driver, only CUDA itself can tell
        assert "cannot be measured here" in out[0] and out[-1] == "False"


def test_an_accuracy_predictor_of_another_space_is_refused_without_importing_torch(tmp_path):
    """The supernet's space is read off its checkpoint's pickle, not by loading it (torch, 8-15 s for ImageNet)."""
    import subprocess

    predictor = tmp_path / "accuracy_predictor.json"
    predictor.write_text('{"format": "nasedge-accuracy-predictor/2", "space": "ofa_mbv3_w1.2"}')
    code = ("import sys, argparse\n"
            "from nasedge.commands.inputs import check\n"
            "from nasedge.errors import NasedgeError\n"
            "args = argparse.Namespace(device='titan_rtx_64', latency='8ms', strategy=None, predictor_url=None,\n"
            f"    overrides=[], supernet=None, data=None, accuracy_predictor={str(predictor)!r}, measurements=None,\n"
            "    out=None, ray_address=None)\n"
            "try:\n"
            "    check('specialize', args)\n"
            "except NasedgeError as exc:\n"
            "    print(exc)\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [f"{predictor}: accuracy predictor is for space 'ofa_mbv3_w1.2', the supernet for 'ofa_mbv3_cifar'",
                   "False"]


def test_a_pick_folder_given_by_override_is_named_as_given(tmp_path):
    """check_pick_out named the override, but the manifest check inside it said --out."""
    from nasedge.commands.inputs import check_pick_out
    from nasedge.errors import NasedgeError

    (tmp_path / "manifest.json").write_text('{"files": {"a": "b"}}')  # another tool's
    with pytest.raises(NasedgeError, match=r"^specialize.out_dir .*: holds a manifest.json that nasedge did not write"):
        check_pick_out(str(tmp_path), "specialize.out_dir")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here")
@pytest.mark.parametrize("out", ["/proc/nasedge-none", "/proc/nasedge-none/deeper", "/proc"])
def test_an_out_folder_where_nothing_can_be_created_is_not_said_to_be_missing(out):
    """--out /proc/foo said 'cannot write in /proc (No such file or directory)', as if a folder were missing."""
    from nasedge.commands.inputs import check_out_dir
    from nasedge.errors import NasedgeError

    with pytest.raises(NasedgeError) as caught:
        check_out_dir("--out", out)
    message = str(caught.value)
    assert message.startswith(f"--out {out}: cannot write in /proc (") and "No such file" not in message
    assert message.endswith(("(its file system takes no new files or folders)", "(Permission denied)"))


def test_a_litert_device_override_is_checked_without_importing_torch():
    # the runtime's module imported the TFLite exporter (torch) to list its options: 1.6 s where 0.3 s did
    import subprocess

    code = ("import sys\n"
            "from nasedge.config import check_overrides\n"
            "from nasedge.errors import NasedgeError\n"
            "check_overrides(['device=cpu-litert-t1', 'device.measure.threads=2'])\n"
            "try:\n"
            "    check_overrides(['device=cpu-litert-t1', 'device.measure.threds=2'])\n"
            "except NasedgeError as exc:\n"
            "    print(exc)\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "device.measure.threds" in out[0] and "device.measure.threads" in out[0] and out[-1] == "False", out


def _serving(handler_kind: str):
    """A server on a free local port: "http" (as a dashboard) or "silent" (accepts, never answers); its port."""
    import http.server
    import socket
    import threading

    if handler_kind == "http":
        server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_address[1], server.shutdown
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock.getsockname()[1], sock.close


@pytest.mark.parametrize("kind, why", [("http", r"does not speak gRPC as a Ray head does: a dashboard's or "
                                                r"another HTTP port\?"),
                                       ("silent", r"no answer within 1.5 s")])
def test_a_ray_address_where_something_else_listens_is_one_line_in_seconds(kind, why, monkeypatch):
    # it passed the TCP check, and Ray then retried it for minutes with its C++ warnings
    import time

    from nasedge.commands.inputs import check_ray_address
    from nasedge.errors import NasedgeError

    port, stop = _serving(kind)
    try:
        start = time.monotonic()
        with pytest.raises(NasedgeError, match=rf"^--ray-address 127.0.0.1:{port}: no Ray cluster answers there "
                                               rf"\(.*{why}\)$"):
            check_ray_address("--ray-address", f"127.0.0.1:{port}")
        assert time.monotonic() - start < 4  # a 1.5 s deadline, on a loaded 2-core machine
        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")  # Ray's own variable, read where no flag is given
        with pytest.raises(NasedgeError, match=rf"^RAY_ADDRESS 127.0.0.1:{port}: no Ray cluster answers there"):
            check_ray_address("--ray-address", None)
        monkeypatch.setenv("RAY_USE_TLS", "1")  # a TLS head drops the plaintext probe: Ray's own join is left to say
        check_ray_address("--ray-address", f"127.0.0.1:{port}")
    finally:
        stop()


def test_ray_address_is_checked_as_the_flag_is(monkeypatch, nasedge_cli):
    from nasedge.commands.inputs import check_ray_address
    from nasedge.errors import NasedgeError

    for value in ("auto", "local", ""):
        monkeypatch.setenv("RAY_ADDRESS", value)
        check_ray_address("--ray-address", None)
    monkeypatch.setenv("RAY_ADDRESS", "ray://127.0.0.1:10001")
    with pytest.raises(NasedgeError, match=r"^RAY_ADDRESS ray://127.0.0.1:10001: Ray Client addresses"):
        check_ray_address("--ray-address", None)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # a specialize would hang on it for minutes
    r = nasedge_cli("specialize", "--device", "titan_rtx_64", "--latency", "7ms")
    assert r.returncode == 2 and r.stderr.strip() == "nasedge: error: RAY_ADDRESS 127.0.0.1:1: no Ray cluster " \
                                                     "answers there (Connection refused)", r.stderr


def test_a_stale_ray_address_stops_only_what_would_join_it(monkeypatch, tmp_path, nasedge_cli):
    # RAY_ADDRESS is what the README has users export: a head that went down refused every measure of cpu too
    from nasedge.cli import build_parser
    from nasedge.commands.inputs import check
    from nasedge.errors import NasedgeError

    monkeypatch.chdir(tmp_path)
    arch = '{""space"": ""ofa_mbv3_cifar"", ""kernel"": [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, ' \
           '3], ""expand"": [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], ""depth"": [2, 2, 2, 2, 2], ' \
           '""resolution"": 32}'
    (tmp_path / "lat.csv").write_text(f'arch,latency_ms\n"{arch}",1.5\n')
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    for argv in (("measure", "--device", "cpu", "--num-archs", "1", "--out", "m.csv"),  # measured here
                 ("predictor", "fit", "--device", "my-board", "--measurements", "lat.csv")):  # nothing measured
        args = build_parser().parse_args(list(argv))
        check(args.command, args)
    assert nasedge_cli("devices", "add", "lab-board", "--runtime", "onnxruntime", "--where", "ray").returncode == 0
    for argv in (("measure", "--device", "lab-board", "--num-archs", "1", "--out", "m.csv"),
                 ("predictor", "fit", "--device", "lab-board")):  # measured through Ray: it would join it
        args = build_parser().parse_args(list(argv))
        with pytest.raises(NasedgeError, match=r"^RAY_ADDRESS 127.0.0.1:1: no Ray cluster answers there"):
            check(args.command, args)


def test_a_ray_head_answers_the_ray_address_check(ray_cluster):
    from nasedge.commands.inputs import check_ray_address

    check_ray_address("--ray-address", ray_cluster[0].address)  # a real GCS: no error
