"""Inference runtimes that measurements run on: an abstract base and a registry of plugins.

A runtime turns a :class:`~nasedge.measure.workload.Workload` into a *runner*: a function that runs
one inference and returns its latency in milliseconds (GPU runtimes time with device events, CPU
runtimes with the wall clock). Runtimes are registered by name with the import path of their class
(a :class:`~nasedge.registry.Registry`), so that a runtime whose dependencies are missing costs nothing
until it is asked for:

>>> runtime = get_runtime("onnxruntime")(threads=1, batch=1)
>>> with runtime.session():
...     run = runtime.load(Subnet(arch), Artifacts())
...     ms = run()
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from nasedge.errors import NasedgeError
from nasedge.measure.protocol import Runner
from nasedge.measure.workload import Artifacts, Workload
from nasedge.registry import Registry, class_problem

__all__ = ["Runtime", "register_runtime", "get_runtime", "list_runtimes"]


class Runtime(abc.ABC):
    """One inference engine with fixed settings (threads, batch, precision and engine options)."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()  # Python modules the runtime imports
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    options: ClassVar[dict[str, Any]] = {}  # engine-specific settings and their defaults
    install_hint: ClassVar[str] = ""  # appended to the missing-module message

    def __init__(self, threads: int, batch: int = 1, precision: str = "fp32", **options: Any):
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise NasedgeError(f"runtime {self.name}: field 'threads': value {threads!r} is not valid; expected >= 1")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise NasedgeError(f"runtime {self.name}: field 'batch': value {batch!r} is not valid; expected >= 1")
        if precision not in self.precisions:
            raise NasedgeError(f"runtime {self.name}: field 'precision': value {precision!r} is not valid; "
                               f"known: {', '.join(self.precisions)}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise NasedgeError(f"runtime {self.name}: unknown option '{unknown[0]}'; known options: {known}")
        self.threads, self.batch, self.precision = threads, batch, precision
        self.settings = {**self.options, **options}

    @classmethod
    def missing(cls) -> str | None:
        """Why this runtime cannot run here (a missing module), or ``None`` when it can."""
        for module in cls.requires:
            if importlib.util.find_spec(module) is None:
                return f"runtime {cls.name} needs the Python module {module!r}{cls.install_hint}"
        return None

    @classmethod
    def unavailable(cls, options: Mapping[str, Any]) -> str | None:
        """Why the runtime with engine ``options`` (``device: cuda``, ``providers``) cannot run on this machine: a
        missing module, or hardware it would need; ``None`` when it can. Cheap: nothing is loaded or built."""
        return cls.missing()

    @property
    def cpu_threads(self) -> int | None:
        """Cores the runtime computes on when it runs on the CPU (the protocol checks it got them)."""
        return self.threads

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Process-wide settings in force while measuring (restored afterwards)."""
        yield

    def prepare(self, workload: Workload, artifacts: Artifacts) -> None:
        """Build what :meth:`load` needs into ``artifacts`` (slow steps: export, conversion), outside timing."""
        artifacts.model(workload)

    @abc.abstractmethod
    def load(self, workload: Workload, artifacts: Artifacts) -> Runner:
        """Return the runner of a prepared ``workload`` (session creation, compilation). Call inside :meth:`session`."""

    def versions(self) -> dict[str, str]:
        """Versions of the libraries that do the work (for the record of how a dataset was measured)."""
        out = {}
        for module in self.requires:
            mod = importlib.import_module(module)
            out[module] = str(getattr(mod, "__version__", "unknown"))
        return out

    def describe(self) -> dict[str, Any]:
        return {"runtime": self.name, "threads": self.threads, "batch": self.batch, "precision": self.precision,
                **self.settings}


_RUNTIMES = Registry("runtime", {
    "onnxruntime": "nasedge.measure._onnxruntime:OnnxRuntime",
    "torch": "nasedge.measure._torch:TorchRuntime",
    "litert": "nasedge.measure._litert:LiteRTRuntime",
}, check=lambda obj: class_problem(obj, Runtime))  # a runtime without load() fails before any device is measured


def register_runtime(name: str, target: str | type[Runtime]) -> None:
    """Add a runtime: its class, or ``"package.module:Class"`` to import it only when used.

    Its requirements are the class's :attr:`Runtime.requires`, checked when it is used, so that
    ``nasedge devices`` can list a runtime that cannot run here and say why.
    """
    _RUNTIMES.register(name, target)


def list_runtimes() -> list[str]:
    return _RUNTIMES.names()


def get_runtime(name: str) -> type[Runtime]:
    """The runtime class registered as ``name``; its dependencies are checked when it is used."""
    return _RUNTIMES.load(name)
