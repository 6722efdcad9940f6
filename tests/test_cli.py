"""The CLI as users run it: exit codes and what it prints (in this process, and the real console script)."""

import json
import os
import statistics
import subprocess
import sys
import time

import pytest

from nasedge.arch import Arch


def process(*args, cwd=None):
    """``nasedge ARGS`` in a Python process of its own (start-up time, the real exit status)."""
    return subprocess.run([sys.executable, "-m", "nasedge.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.fixture
def nasedge(nasedge_cli):
    return nasedge_cli


def test_help_is_fast():
    times = []
    for _ in range(3):
        t = time.perf_counter()
        r = process("--help")
        times.append(time.perf_counter() - t)
        assert r.returncode == 0 and "arch" in r.stdout
    assert statistics.median(times) < 1.5  # generous under a loaded CI machine; measured ~0.1 s idle


def test_sample_validate_stats(tmp_path, nasedge):
    r = nasedge("arch", "sample", "--space", "ofa_mbv3_w1.2", "-n", "3", "--seed", "4")
    assert r.returncode == 0, r.stderr
    archs = [Arch.from_json(line) for line in r.stdout.splitlines()]
    assert len(set(archs)) == 3
    assert nasedge("arch", "sample", "--space", "ofa_mbv3_w1.2", "-n", "3", "--seed", "4").stdout == r.stdout
    (tmp_path / "a.json").write_text(archs[0].to_json())
    r = nasedge("arch", "validate", str(tmp_path / "a.json"))
    assert r.returncode == 0 and archs[0].digest() in r.stdout
    # every file is checked, each bad one named, then one line of how many
    (tmp_path / "bad.json").write_text('{"space": "ofa_mbv3_w1.2"}')
    r = nasedge("arch", "validate", str(tmp_path / "bad.json"), str(tmp_path / "a.json"), str(tmp_path / "none.json"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and archs[0].digest() in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3 and "bad.json" in lines[0] and "none.json" in lines[1]
    assert lines[2] == f"nasedge: error: 2 of 3 files are not valid (first: {tmp_path / 'bad.json'})"
    r = nasedge("arch", "stats", "--json", str(tmp_path / "a.json"))
    assert json.loads(r.stdout)["macs"] > 0
    r = nasedge("arch", "sample", "--space", "ofa_mbv3_cifar", "--which", "max")
    assert Arch.from_json(r.stdout).depth == (4,) * 5


def test_archs_of_a_space_of_ones_own(tmp_path, nasedge):
    """`arch sample --space my.yaml` wrote archs that every other verb refused as of an unknown space."""
    from nasedge.resources import shipped_path

    own = tmp_path / "my_space.yaml"
    tiny = (shipped_path("search_spaces") / "ofa_mbv3_tiny.yaml").read_text()
    own.write_text(tiny.replace("name: ofa_mbv3_tiny", "name: my_space"))
    r = nasedge("arch", "sample", "--space", str(own), "-n", "2", "--seed", "1")
    assert r.returncode == 0, r.stderr
    (tmp_path / "a.jsonl").write_text(r.stdout)
    (tmp_path / "a.json").write_text(r.stdout.splitlines()[0])
    r = nasedge("arch", "validate", str(tmp_path / "a.jsonl"))
    assert r.returncode == 2 and "unknown search space 'my_space'" in r.stderr and "with --space" in r.stderr
    r = nasedge("arch", "validate", "--space", str(own), str(tmp_path / "a.jsonl"))
    assert r.returncode == 0 and r.stdout.count("(my_space, resolution") == 2, r.stderr
    r = nasedge("arch", "stats", "--json", "--space", str(own), str(tmp_path / "a.json"))
    assert r.returncode == 0 and json.loads(r.stdout)["space"] == "my_space", r.stderr
    r = nasedge("arch", "validate", "--space", "ofa_mbv3_cifar", str(tmp_path / "a.jsonl"))
    assert r.returncode == 2 and "(--space ofa_mbv3_cifar is space 'ofa_mbv3_cifar')" in r.stderr
    # a single arch of another space: the --space given was a mistake
    r = nasedge("arch", "stats", "--space", "ofa_mbv3_cifar", str(tmp_path / "a.json"))
    assert r.returncode == 2 and "an arch of space 'my_space'; --space ofa_mbv3_cifar is space" in r.stderr
    r = nasedge("export", "--arch", str(tmp_path / "a.json"), "--space", str(own), "--init", "random",
                "--format", "torch", "--out", str(tmp_path / "out"), "data.mean=[0.5,0.5,0.5]")
    assert r.returncode == 0, r.stderr
    assert "warning: the data overrides are not used: random weights" in r.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["arch"]["space"] == "my_space" and "mean" not in manifest["input"]
    assert manifest["input"]["preprocess"].startswith("random weights, trained on no data")
    # a YAML that takes an installed space's name would stand in for it, its archs taken for that space's
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(tiny.replace("name: ofa_mbv3_tiny", "name: ofa_mbv3_cifar"))
    r = nasedge("arch", "validate", "--space", str(shadow), str(tmp_path / "a.jsonl"), str(tmp_path / "a.json"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr  # once, not as the fault of each file
    assert "its name 'ofa_mbv3_cifar' is an installed space's" in r.stderr
    # a verb without --space does not tell to pass one
    r = nasedge("eval", "--arch", str(tmp_path / "a.json"))
    assert r.returncode == 2 and "unknown search space 'my_space'" in r.stderr and "--space" not in r.stderr


@pytest.mark.parametrize(
    "content, needle",
    [
        ('{"space": "ofa_mbv3_cifar", "kernel": [3]', "invalid JSON"),
        ('{"space": "ofa_mbv3_cifar", "kernel": [9, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0], '
         '"expand": [3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0], "depth": [2, 2, 2, 2, 2], '
         '"resolution": 32}', "field 'kernel[0]': value 9"),
        ('{"space": "ofa_mbv3_cifar", "kernel": [3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0], '
         '"expand": [3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0, 3, 3, 0, 0], "depth": [2, 2, 2, 2, 2], '
         '"resolution": 64}', "field 'resolution': value 64"),
        ('{"space": "imagenet_resnet", "kernel": [3], "expand": [3], "depth": [1], "resolution": 32}',
         "unknown search space 'imagenet_resnet'"),
        ('[1, 2]', "value [1, 2] is not an arch"),
    ],
)
@pytest.mark.parametrize("verb", ["validate", "stats"])
def test_bad_arch_is_one_line_exit_2(tmp_path, content, needle, verb, nasedge):
    (tmp_path / "bad.json").write_text(content)
    r = nasedge("arch", verb, str(tmp_path / "bad.json"))
    assert r.returncode == 2
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_wrong_lengths_name_the_field_with_the_space_lengths(tmp_path, nasedge):
    """Lengths were checked against len(depth) before the space was known: a depth of 6 entries blamed kernel ("a
    multiple of 6"), a kernel of 19 asked for "a multiple of 5", depth [] was said before an unknown space."""
    from nasedge.resources import shipped_path

    good = json.loads(nasedge("arch", "sample", "--space", "ofa_mbv3_w1.0", "--which", "max").stdout)
    files = {"d6.json": {**good, "depth": good["depth"] + [4]}, "k19.json": {**good, "kernel": good["kernel"][:19]},
             "nope.json": {**good, "space": "nope", "depth": []}}
    for name, arch in files.items():
        (tmp_path / name).write_text(json.dumps(arch))
    (tmp_path / "a.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(files["d6.json"]) + "\n")
    depth = "field 'depth': value [4, 4, 4, 4, 4, 4] is not allowed; expected 5 entries (one per stage)"
    for args, needle in [
        (("arch", "validate", "d6.json"), f"d6.json: {depth}"),
        (("arch", "stats", "k19.json"), "k19.json: field 'kernel': value [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, "
                                        "7, 7, 7, 7] is not allowed; expected 20 entries (5 stages x 4 slots)"),
        (("arch", "validate", "nope.json"), "nope.json: unknown search space 'nope'; known: "),
        (("arch", "validate", "a.jsonl"), f"a.jsonl:2: {depth}"),
        (("eval", "--arch", "d6.json"), f"d6.json: {depth}"),
        (("eval", "--arch", "nope.json"), "--arch nope.json: field 'space': unknown search space 'nope'"),
        (("measure", "--device", "cpu", "--archs", "a.jsonl", "--out", "m.csv"), f"a.jsonl:2: {depth}"),
    ]:
        r = nasedge(*args, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and needle in r.stderr, (args, r.stderr)
    # a space of one's own (--space) has its own lengths: 3 stages of 2 slots
    own = tmp_path / "my_space.yaml"
    tiny = (shipped_path("search_spaces") / "ofa_mbv3_tiny.yaml").read_text()
    own.write_text(tiny.replace("name: ofa_mbv3_tiny", "name: my_space"))
    (tmp_path / "mine.json").write_text(json.dumps({**good, "space": "my_space", "depth": [2, 2, 2]}))
    r = nasedge("arch", "validate", "--space", str(own), "mine.json", cwd=tmp_path)
    assert r.returncode == 2 and "mine.json: field 'kernel': value [7, 7," in r.stderr, r.stderr
    assert "expected 6 entries (3 stages x 2 slots)" in r.stderr


def test_export_random_init(tmp_path, nasedge):
    r = nasedge("arch", "sample", "--space", "ofa_mbv3_cifar", "--seed", "2")
    (tmp_path / "a.json").write_text(r.stdout)
    r = nasedge("export", "--arch", str(tmp_path / "a.json"), "--init", "random", "--format", "onnx,torch",
                "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "subnet.onnx").stat().st_size > 0 and (tmp_path / "out" / "subnet.pt").exists()
    r = nasedge("export", "--arch", str(tmp_path / "a.json"), "--supernet", str(tmp_path / "none.pt"),
                "--out", str(tmp_path / "out2"))
    assert r.returncode == 2 and "none.pt: supernet checkpoint not found" in r.stderr
    r = nasedge("export", "--arch", str(tmp_path / "a.json"), f"supernet.checkpoint={tmp_path / 'none.pt'}",
                "--out", str(tmp_path / "out2"))  # the override is named, as --supernet is
    assert r.returncode == 2 and "error: supernet.checkpoint: " in r.stderr and "none.pt: supernet checkpoint" in r.stderr
    (tmp_path / "d.json").mkdir()  # it said "no such arch file" of a folder that is there
    r = nasedge("export", "--arch", str(tmp_path / "d.json"), "--init", "random", "--out", str(tmp_path / "out2"))
    assert r.returncode == 2 and "d.json: is a directory, expected an arch's JSON file" in r.stderr
    from nasedge.export.tflite import tflite_available

    if not tflite_available():  # the missing extra is said before any format is written
        r = nasedge("export", "--arch", str(tmp_path / "a.json"), "--init", "random", "--format", "onnx,tflite",
                    "--out", str(tmp_path / "out3"))
        assert r.returncode == 2 and "pip install 'nasedge[tflite]'" in r.stderr and not (tmp_path / "out3").exists()


def test_every_verb_help_keeps_its_example_lines(capsys):
    """The usage examples of each verb's docstring appear in its --help line for line (not reflowed into
    one paragraph, where the commands run together)."""
    import importlib

    from nasedge.cli import COMMANDS, build_parser

    parser = build_parser()
    for verb, (module, _) in COMMANDS.items():
        examples = [line.strip() for line in importlib.import_module(module).__doc__.splitlines()
                    if line.strip().startswith("nasedge ")]
        assert examples, f"{verb}: its docstring shows no example"
        with pytest.raises(SystemExit):
            parser.parse_args([verb, "--help"])
        shown = [line.strip() for line in capsys.readouterr().out.splitlines()]
        missing = [e for e in examples if e not in shown]
        assert not missing, f"nasedge {verb} --help reflows {missing[0]!r}"


def test_overrides_after_options_are_kept_and_unknown_options_refused():
    from nasedge.cli import build_parser, main

    args, extra = build_parser().parse_known_args(["eval", "--arch", "max", "data.limit_test=5", "--json", "seed=3"])
    assert extra == ["seed=3"] and args.overrides == ["data.limit_test=5"]
    # main() merges the trailing override: composing it must then fail on the bad key, not on argparse
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--arch", "max", "--json", "--bogus"])
    assert exc.value.code == 2
    assert main(["eval", "--arch", "max", "data.limit_test=5", "--json", "data.no_such_key=1"]) == 2


@pytest.mark.slow
def test_console_script_exit_status_and_output(tmp_path):
    """The in-process checks above, once through a real process: exit 0 with the output, exit 2 with one line."""
    r = process("arch", "sample", "--space", "ofa_mbv3_cifar", "--which", "max")
    assert r.returncode == 0 and Arch.from_json(r.stdout).depth == (4,) * 5
    (tmp_path / "bad.json").write_text("[1, 2]")
    r = process("arch", "validate", str(tmp_path / "bad.json"))
    assert r.returncode == 2 and "value [1, 2] is not an arch" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("verb, lines", [("sample", 2000), ("validate", 2000), ("sample", 3)])
def test_a_closed_stdout_pipe_ends_quietly(tmp_path, verb, lines):
    """``nasedge arch sample -n 200000 | head -1``: the reader goes away; exit 141 (as if killed by SIGPIPE), no
    traceback. 2000 lines overflow the pipe's buffer (the write fails); 3 fit in it (Python's flush at exit fails)."""
    from nasedge.spaces import get_space

    if verb == "sample":
        args = ["sample", "--space", "ofa_mbv3_cifar", "-n", str(lines)]
    else:
        archs = tmp_path / "archs.jsonl"
        archs.write_text("".join(a.to_json() + "\n" for a in get_space("ofa_mbv3_cifar").sample_many(lines, 0)))
        args = ["validate", str(archs)]
    # stdout block-buffered, as users have it: the short output stays in the buffer until the flush at exit
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONWARNINGS": "ignore"}
    p = subprocess.Popen([sys.executable, "-m", "nasedge.cli", "arch", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    if lines > 3:
        assert p.stdout.readline().startswith(("{", str(tmp_path)))
    p.stdout.close()  # as `head -1` does once it has its line (or before any, for the short output)
    err = p.stderr.read()
    assert p.wait(timeout=60) == 141 and err == "", err


@pytest.mark.parametrize("ends_with", [
    "raise ImportError('initialization failed') from stopped",  # pybind11's module init: the signal its cause
    "raise ImportError('import numpy failed')",  # numpy's C init: the signal's exception lost
    "from nasedge.errors import NasedgeError\nraise NasedgeError('cannot import it (import numpy failed)') from None",
])
def test_ctrl_c_while_a_compiled_module_is_imported_is_interrupted(monkeypatch, capsys, tmp_path, ends_with):
    """SIGINT while `import onnxruntime` ran ended in a traceback of `ImportError: initialization failed` (or of
    `import numpy failed`), not in "nasedge: interrupted" and 130: the module's initialisation turns the signal's
    KeyboardInterrupt into an error of its own. A real SIGINT, through the CLI's handler."""
    import signal

    # what the CLI's handler stands in for; a run started in the background (`cmd &`, CI) inherits SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupted_while_importing(monkeypatch, capsys, tmp_path, ends_with)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted_while_importing(monkeypatch, capsys, tmp_path, ends_with):
    import importlib
    import signal

    import nasedge.commands.inputs as inputs
    from nasedge.cli import main

    name = f"slow_init_{abs(hash(ends_with))}"
    (tmp_path / f"{name}.py").write_text(
        "import os, signal, time\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while the module initialises\n"
        "    time.sleep(5)\n"
        "except KeyboardInterrupt as exc:\n"
        "    stopped = exc\n"
        f"{ends_with}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(inputs, "check", lambda *_: importlib.import_module(name))
    assert main(["arch", "sample", "-n", "1"]) == 130
    assert capsys.readouterr().err == "nasedge: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's handler again after main
    # the same errors with no signal to them are what they are: a traceback, one line
    monkeypatch.setattr(inputs, "check", lambda *_: exec(ends_with.replace(" from stopped", "")))
    if "NasedgeError" in ends_with:
        assert main(["arch", "sample", "-n", "1"]) == 2 and "error: cannot import it" in capsys.readouterr().err
    else:
        with pytest.raises(ImportError):
            main(["arch", "sample", "-n", "1"])


def test_sigterm_inside_compiled_code_is_the_one_line_too(monkeypatch, capsys):
    """A SIGTERM that lands in Ray's compiled wait comes out as a SystemError whose context is the signal's exception;
    Ray's own handler during ray.init exits with 15. Both end as SIGTERM does elsewhere."""
    import nasedge.commands.inputs as inputs
    from nasedge.cli import main
    from nasedge.errors import Terminated

    def interrupted(*_):
        try:
            raise Terminated
        except Terminated:
            raise SystemError("<cyfunction CoreWorker.wait> returned a result with an exception set")

    def answered_with_its_own(*_):  # Ray's wait: the signal's exception seen, a KeyboardInterrupt of its own raised
        import os
        import signal

        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Terminated:
            raise KeyboardInterrupt from None

    for failure in (interrupted, lambda *_: sys.exit(15), answered_with_its_own):
        monkeypatch.setattr(inputs, "check", failure)
        assert main(["arch", "sample", "-n", "1"]) == 143
        assert capsys.readouterr().err == "nasedge: terminated (SIGTERM)\n"
    monkeypatch.setattr(inputs, "check", lambda *_: sys.exit(3))  # any other exit is not a SIGTERM
    with pytest.raises(SystemExit):
        main(["arch", "sample", "-n", "1"])

    def ctrl_c(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(inputs, "check", ctrl_c)
    assert main(["arch", "sample", "-n", "1"]) == 130 and capsys.readouterr().err == "nasedge: interrupted\n"
