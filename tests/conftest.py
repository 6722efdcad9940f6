"""Shared fixtures: supernets with non-trivial weights so that parity checks can fail."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

# Tests run beside other work on small machines: one intra-op thread avoids OpenMP spin-waiting
# under oversubscription (it made tiny training steps 30x slower). Subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

from nasedge.spaces import get_space  # noqa: E402
from nasedge.supernet import build_supernet  # noqa: E402


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The shared datasets (CIFAR-10, HELP): ``$NASEDGE_DATASETS``, else ``../shared/datasets`` beside the repository."""
    return Path(os.environ.get("NASEDGE_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(autouse=True)
def nasedge_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh, empty nasedge home for every test (``NASEDGE_HOME``): nothing a test writes for the user lands in
    the real home, and no test sees what another left there."""
    path = tmp_path_factory.mktemp("nasedge_home")
    monkeypatch.setenv("NASEDGE_HOME", str(path))
    return path


@dataclass
class CliRun:
    """What ``nasedge ARGS`` did: its exit status and what it printed (as :class:`subprocess.CompletedProcess`)."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def nasedge_cli(capsys, monkeypatch):
    """``nasedge_cli(*args, cwd=None)``: ``nasedge ARGS`` run in this process (:func:`nasedge.cli.main`).

    The same code path as the console script without a Python start-up per call; tests of what only a
    process shows (the real console script's exit status, signals, kill -9) start one instead."""
    from nasedge.cli import main

    def run(*args, cwd=None) -> CliRun:
        capsys.readouterr()  # what the test printed before is not this command's output
        with monkeypatch.context() as m:
            if cwd is not None:
                m.chdir(cwd)
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse: --help, --version, usage errors
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        out, err = capsys.readouterr()
        return CliRun(code, out, err)

    return run


@pytest.fixture(scope="session")
def _ray_cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    small = {"object_store_memory": 80 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False, **small})
    node = cluster.add_node(num_cpus=1, resources={"device:test-dev": 1, "device:test-board": 1}, **small)
    try:
        yield cluster, node.node_id
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


@pytest.fixture
def ray_cluster(_ray_cluster):
    """``(cluster, device node id)``: a local two-node Ray cluster started once per session, this process
    connected to it. Head: 2 CPUs and no device; second node: 1 CPU and the resources device:test-dev and
    device:test-board. Tests that need a Ray of their own (started by the code under test) start it in a
    process of their own: a driver that disconnects from this cluster cannot join it again (OwnerDiedError)."""
    import ray

    cluster, node_id = _ray_cluster
    if not ray.is_initialized():
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
    return cluster, node_id


@functools.lru_cache(maxsize=None)
def _scrambled(space_name: str):
    torch.manual_seed(0)
    supernet = build_supernet(get_space(space_name))
    with torch.no_grad():
        for m in supernet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
        for name, p in supernet.named_parameters():
            if "transforms" in name:  # identity at init would make small kernels plain centre crops
                p.add_(0.1 * torch.randn_like(p))
    return supernet.eval()


@pytest.fixture
def read_only_folder(monkeypatch):
    """``read_only_folder(path)``: the write probe (``tempfile.TemporaryFile``) finds ``path`` on a read-only file
    system, and a device that measures fails the test: for checks that must come before any measuring."""
    import errno
    import tempfile

    from nasedge.measure.device import Device

    real = tempfile.TemporaryFile

    def make(read_only: Path) -> None:
        def probe(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == read_only:
                raise OSError(errno.EROFS, "Read-only file system")
            return real(*args, dir=dir, **kwargs)

        def measured(*args, **kwargs):
            raise AssertionError("measured before the home was checked")

        monkeypatch.setattr(tempfile, "TemporaryFile", probe)
        monkeypatch.setattr(Device, "measure", measured)
    return make


@pytest.fixture
def scrambled_supernet():
    """``scrambled_supernet(space_name)``: a supernet with random BN statistics and kernel transforms (eval mode)."""
    return _scrambled


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
