"""Checks of command-line inputs that run before anything heavy loads: names (devices, spaces, strategies, config
keys and options, with the closest valid one), budgets, files (exist and parse), output folders, ports and URLs.

:func:`check` is called by :mod:`nasedge.cli` for every verb before the verb runs; :data:`CHECKS` says what each
verb's flags are checked for. Each failure is one :class:`~nasedge.errors.NasedgeError` line naming the flag and
the value; nothing here imports torch or Ray, so a bad input costs well under 2 s (the verb's own checks, after
its imports, stay as they are: this only answers sooner).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from nasedge.atomic import check_out_dir
from nasedge.errors import NasedgeError
from nasedge.home import check_home_dir

CONNECT_S = 1.5  # within the 2 s a bad input may take to be answered
# what torch.save writes: a zip archive (since torch 1.6) or, in the legacy format, a pickle
_CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")


def check_checkpoint_file(flag: str, path: str) -> None:
    """``path`` is a readable file that starts like a PyTorch checkpoint (the full check is loading it)."""
    p = Path(path)
    if not p.exists():
        raise NasedgeError(f"{flag} {path}: supernet checkpoint not found")
    if not p.is_file():
        raise NasedgeError(f"{flag} {path}: is a folder, expected a supernet checkpoint file")
    try:
        with p.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise NasedgeError(f"{flag} {path}: cannot be read ({exc.strerror})") from None
    if not head.startswith(_CHECKPOINT_MAGIC):
        raise NasedgeError(f"{path}: not a readable supernet checkpoint (neither a zip nor a pickle file)")


def check_measurements_csv(flag: str, path: str, device: Optional[str] = None) -> None:
    """``path`` is a CSV of archs and latencies (``nasedge measure`` output or ``arch,latency_ms``) that parses:
    every row, arch and value; with several devices in it, ``device`` must be one of them, and a file of one
    device's measurements must be of ``device`` (a device name or YAML)."""
    import csv

    from nasedge.measure.device import get_device, is_device_file
    from nasedge.predict.dataset import read_arch_latency_csv

    devices: set = set()
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = csv.DictReader(f)
            if "device" in (rows.fieldnames or []):
                devices = {r.get("device") for r in rows}
    except (OSError, UnicodeDecodeError, csv.Error):
        pass  # read_arch_latency_csv names the problem
    measured_on = next(iter(devices)) if len(devices) == 1 else None
    if device is not None and measured_on:
        name = get_device(device).name if is_device_file(device) else device
        if measured_on != name:  # another board's latencies would make this device's profile wrong
            raise NasedgeError(f"{flag} {path}: measured on {measured_on}, not {name}; use them with "
                               f"--device {measured_on}")
    keep = device if device in devices or len(devices) > 1 else None
    try:
        read_arch_latency_csv(path, device=keep)
    except NasedgeError as exc:
        raise NasedgeError(f"{flag}: {exc}") from None


def check_arch_file(flag: str, path: str, space: Optional[str] = None, option: bool = False) -> None:
    """``path`` holds an architecture (JSON) valid in its space (``space``, ``option``: the command's ``--space``, and
    whether it has one; see :func:`spaces_of`)."""
    from nasedge.arch import Arch

    if Path(path).is_dir():
        raise NasedgeError(f"{flag} {path}: is a directory, expected an arch's JSON file")
    if not Path(path).is_file():
        raise NasedgeError(f"{flag} {path}: no such arch file")
    where = f"{flag} {path}: field 'space'"
    arch = Arch.load(path, space_shapes(space, option, used=option, label=lambda _: where))
    found = spaces_of(where, [arch], space, option, used=option)[arch.space]
    found.validate(arch, source=path)


def check_out_file(flag: str, path: Optional[str], inputs: tuple[Optional[str], ...] = ()) -> None:
    """``path`` can be written as a file: not a folder, its folder exists or can be made and takes files
    (:func:`check_out_dir`), and it is none of the command's ``inputs``, which writing it would destroy."""
    if path is None:
        return
    if not str(path).strip():
        raise NasedgeError(f"{flag}: value {path!r} is not valid; expected a file name")
    if str(path).endswith(("/", os.sep)):  # a folder meant: writing a file of the folder's name surprises
        raise NasedgeError(f"{flag} {path}: ends in a path separator; expected a file name")
    p = Path(path)
    if p.is_dir():
        raise NasedgeError(f"{flag} {path}: is a folder, expected a file name")
    for given in inputs:
        if given and Path(given).exists() and p.exists() and p.resolve() == Path(given).resolve():
            raise NasedgeError(f"{flag} {path}: is also the input {given}; writing it would overwrite the input")
    check_out_dir(flag, str(p.parent), path)


def check_pick_out(path: Optional[str], flag: str = "--out") -> None:
    """``--out`` of a pick (``specialize``, ``export``): a folder (:func:`check_out_dir`) whose files the pick may
    replace (:func:`nasedge.specialize.report.check_pick_folder`)."""
    check_out_dir(flag, path)
    if path is not None and Path(path).is_dir():
        from nasedge.specialize.report import check_pick_folder

        check_pick_folder(Path(path), flag)


def check_input_file(flag: str, path: Optional[str], expected: str = "a file") -> None:
    """``path``, when given, is a file (a folder is named as one, not as missing); ``flag`` empty for a positional."""
    if path and not Path(path).is_file():
        where = f"{flag} {path}" if flag else path
        raise NasedgeError(f"{where}: " + (f"is a folder, expected {expected}" if Path(path).is_dir() else
                                           "no such file"))


def check_url(flag: str, url: Optional[str]) -> None:
    if not url:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises on a port that is not a number 0-65535)
    except ValueError:
        ok = False
    if not ok:
        raise NasedgeError(f"{flag} {url!r} is not valid; expected http://HOST:PORT or https://...")


def check_ray_address(flag: str, address: Optional[str], env: bool = True) -> None:
    """``HOST:PORT`` of a Ray cluster that answers: an address nothing listens on would only fail once the work is
    done and Ray is asked to join it (where Ray retries without end). Without ``address``, ``RAY_ADDRESS`` (which Ray
    joins then) is checked the same way, named as itself, where the run would join it (``env``: a stale one must
    not stop work that never uses Ray, a device measured in this process)."""
    if not address and env:
        flag, address = "RAY_ADDRESS", os.environ.get("RAY_ADDRESS", "").strip()
    if not address or address in ("auto", "local"):
        return
    if address.startswith("ray://"):
        raise NasedgeError(f"{flag} {address}: Ray Client addresses (ray://) are not supported; give the head's "
                           f"HOST:PORT (the GCS port of `ray start --head`, 6379 by default), e.g. HEAD:6379")
    if "://" in address:
        raise NasedgeError(f"{flag} {address!r} is not HOST:PORT; give the Ray head's HOST:PORT without "
                           f"{address.partition('://')[0]}://, e.g. HEAD:6379")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise NasedgeError(f"{flag} {address!r} is not valid; expected HOST:PORT of a Ray cluster's head (or auto)")
    host = host.strip("[]")
    from nasedge.ray_cluster import not_a_ray_head

    reason = _unreachable(host, int(port)) or not_a_ray_head(host, int(port), CONNECT_S)
    if reason:
        raise NasedgeError(f"{flag} {address}: no Ray cluster answers there ({reason})")


def check_service_reachable(url: Optional[str]) -> None:
    """Something listens at the predictor service's address (a checked URL); the same words as the client's, said
    before the work instead of after the supernet and the search space are loaded."""
    if not url:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    reason = _unreachable(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    if reason:
        raise NasedgeError(f"cannot reach the predictor service at {url} ({reason})")


def _unreachable(host: str, port: int) -> Optional[str]:
    """Why nothing answers a TCP connection to ``host:port`` within :data:`CONNECT_S`, or ``None`` when it does."""
    import socket

    try:
        socket.create_connection((host, port), timeout=CONNECT_S).close()
    except OSError as exc:
        return exc.strerror or str(exc) or "no answer"
    return None


def check_space(flag: str, name: Optional[str], extra: tuple[str, ...] = (), kind: Optional[str] = None) -> None:
    """``name`` is a search space (or a space YAML's path, or one of ``extra``); ``kind`` names it in the error
    (default: as every unknown space is named)."""
    from nasedge.errors import unknown_name
    from nasedge.spaces import list_spaces, unknown_space

    known = sorted({*list_spaces(), *extra})
    if name and not name.endswith((".yaml", ".yml")) and name not in known:
        raise unknown_space(name, known) if kind is None else unknown_name(kind, name, known)


def spaces_of(source: str, archs: Any, space: Optional[str] = None, option: bool = False,
              used: bool = False) -> dict[str, Any]:
    """The search space of each of ``archs`` (read from ``source``) by name; an unknown one names ``source``.

    ``space`` (``--space``, see :func:`given_space`) serves the archs of its name, installed spaces the others;
    ``used``: it must serve one of them (a single arch of another space: the option was a mistake). ``option``: the
    command takes ``--space``, so the error of an unknown space says to pass it.
    """
    given = given_space(space) if space is not None else None
    names = sorted({a.space for a in archs})
    if given is not None and used and given.name not in names:
        raise NasedgeError(f"{source}: an arch of space {names[0]!r}; --space {space} is space {given.name!r}")
    return {name: _space_named(source, name, given, space, option) for name in names}


def _space_named(source: str, name: str, given: Any, space: Optional[str], option: bool) -> Any:
    """The space ``name`` for :func:`spaces_of` (``given``: the space of ``--space`` ``space``)."""
    from nasedge.spaces import get_space

    if given is not None and name == given.name:
        return given
    try:
        return get_space(name)
    except NasedgeError as exc:
        hint = (f" (--space {space} is space {given.name!r})" if given is not None else
                "; a space of your own: pass its YAML file with --space" if option else "")
        raise NasedgeError(f"{source}: {exc}{hint}") from None


def space_shapes(space: Optional[str] = None, option: bool = False, used: bool = False,
                 label: Callable[[Optional[str]], str] = str) -> Callable[[str, Optional[str]], Any]:
    """``shape_of`` of :meth:`nasedge.arch.Arch.from_dict` for archs of a command's files: the space an arch names
    is found as :func:`spaces_of` finds it (with its errors, before any field of the arch is checked), and the
    arch's lengths are checked against that space's. ``used``: for a file of one arch (see :func:`spaces_of`);
    ``label``: the arch's source as errors name it."""
    given = given_space(space) if space is not None else None

    def shape_of(name: str, source: Optional[str]) -> Any:
        where = label(source)
        if given is not None and used and name != given.name:
            raise NasedgeError(f"{where}: an arch of space {name!r}; --space {space} is space {given.name!r}")
        return _space_named(where, name, given, space, option).arch_shape

    return shape_of


def given_space(space: str) -> Any:
    """``--space``: a space YAML of the user's own, or an installed space's name. A YAML may not take an installed
    space's name: it would stand in for that space, and its archs be taken for the installed space's."""
    from nasedge.spaces import get_space, list_spaces

    try:
        given = get_space(space)
    except NasedgeError as exc:
        raise NasedgeError(f"--space: {exc}") from None
    if space != given.name and given.name in list_spaces():
        raise NasedgeError(f"--space {space}: its name {given.name!r} is an installed space's; give a space of your "
                           f"own another name (installed spaces are found by name)")
    return given


def check_archs_jsonl(flag: str, path: str) -> None:
    """``path`` is a JSON-lines file of archs, each valid in its space."""
    from nasedge.arch import read_archs_jsonl
    from nasedge.spaces import get_space

    rows = read_archs_jsonl(path, space_shapes(label=lambda where: f"{flag} {where}: field 'space'"))
    if not rows:
        raise NasedgeError(f"{flag} {path}: no archs")
    for arch_id, arch in rows:  # every space is known: read_archs_jsonl looked each up
        get_space(arch.space).validate(arch, source=f"{path} (arch {arch_id})")


def check_positive(flag: str, value: Optional[int]) -> None:
    """``value``, when given, is a positive integer (a count, a batch size)."""
    if value is not None and value < 1:
        raise NasedgeError(f"{flag}: value {value} is not valid; expected a positive integer")


def check_port(flag: str, port: Optional[int]) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise NasedgeError(f"{flag} {port} is not valid; expected a port number 0-65535")


# the config groups each verb reads (traced from its code); an override of another group would change nothing, so
# it is refused, not ignored (:func:`check_read`)
READS: dict[str, tuple[str, ...]] = {
    "specialize": ("specialize", "search", "predictor", "supernet", "data", "device"),
    "train": ("train", "data", "search_space"),
    "eval": ("supernet", "data"),
    "export": ("supernet", "data"),
    "measure": ("device", "search_space"),
    "predictor fit": ("predictor", "device", "search_space"),
    "serve": ("service", "predictor"),
    "arch sample": ("search_space",),
    "accuracy sample": ("supernet", "data"),
}
# why a verb does not read a group, where more is to say than that it does not
_UNREAD_WHY = {("specialize", "search_space"): "specialize searches the space of its supernet; choose the supernet "
                                               "(--supernet PATH) instead"}


def check_read(verb: str, overrides: list[str], unread: tuple[str, ...] = (), why: str = "") -> None:
    """Every override sets a config group ``verb`` reads (:data:`READS`, less ``unread``: the groups its flags
    make it skip, ``why`` saying so); one of another group is one line naming it and the verbs that read it."""
    groups = {g for read in READS.values() for g in read}
    for o in overrides:
        key = o.lstrip("+~").partition("=")[0]
        group = key.split(".")[0]
        if group not in groups or (group in READS[verb] and group not in unread):
            continue
        if (verb, group) in _UNREAD_WHY:
            raise NasedgeError(f"{group}=...: {_UNREAD_WHY[verb, group]}")
        if group in unread:
            raise NasedgeError(f"override {o!r}: nasedge {verb} does not read {group} {why}; drop it")
        readers = [v for v, read in READS.items() if group in read]
        names = ", ".join(readers[:-1]) + f" and {readers[-1]}" if len(readers) > 1 else readers[0]
        raise NasedgeError(f"override {o!r}: nasedge {verb} does not read {group} (nasedge {names} "
                           f"read{'s' * (len(readers) == 1)} it); drop it")


def _overrides(args: argparse.Namespace, verb: str, device: Optional[str] = None, extra: tuple[str, ...] = (),
               unread: tuple[str, ...] = (), why: str = "") -> None:
    """The overrides of ``verb`` (with ``device=NAME`` for a named ``--device``: its keys are checked), each of a
    group it reads (:func:`check_read`, ``unread`` and ``why`` too)."""
    from nasedge.config import check_overrides, device_override
    from nasedge.measure.device import is_device_file

    # a deletion (``~group.key``) is one too, without a value
    given = [o for o in getattr(args, "overrides", None) or [] if "=" in o or o.startswith("~")]
    if device:  # the override would replace --device's device, and so its profile, silently
        chosen = [o for o in given if not o.startswith("~") and o.lstrip("+").split("=", 1)[0] == "device"]
        if chosen:
            raise NasedgeError(f"--device {device} and {chosen[-1].lstrip('+')} name two devices; give one "
                               f"(--device), and change its settings with device.* overrides")
    named = [device_override(device)] if device and not is_device_file(device) else []
    # a deletion of a group the verb does not read first: check_overrides' refusal of deleting a group's field
    # would say every verb reads it
    check_read(verb, [o for o in given if o.startswith("~")], unread, why)
    check_overrides([*named, *extra, *given])
    check_read(verb, given, unread, why)
    if any("${" in o.partition("=")[2] for o in given):  # an interpolation resolves when composed (half a second)
        from nasedge.config import compose

        compose([*named, *extra, *given])


def _device(args: argparse.Namespace) -> None:
    from nasedge.config import check_device_name

    check_device_name(args.device)


def _named_device(args: argparse.Namespace) -> Any:
    """The device ``--device`` names, read from its YAML (no torch): ``None`` when ``device.*`` overrides change
    it (the verb checks the composed device)."""
    from nasedge.measure.device import get_device, split_device_overrides

    if split_device_overrides(getattr(args, "overrides", None) or [])[0]:
        return None
    return get_device(args.device)


def predictor_choices(overrides: Optional[list[str]]) -> list[str]:
    """The overrides that choose the latency predictor or its options (where profiles are kept and how a new one is
    cross-validated choose nothing)."""
    keys = [o.lstrip("+~") for o in overrides or []]
    return [k for k in keys if k.startswith(("predictor=", "predictor."))
            and not k.startswith(("predictor.profiles_dir=", "predictor.cv_folds="))]


def check_predictor_use(overrides: Optional[list[str]], predictor_url: Optional[str], device: Any = None) -> None:
    """A predictor chosen by override predicts nothing with ``--predictor-url`` (the service's profile does) or for a
    predict-only ``device`` (``specialize.published_predictor`` is fitted to its published data): an error, not
    ignored."""
    chosen = predictor_choices(overrides)
    if not chosen:
        return
    if predictor_url:
        raise NasedgeError(f"{chosen[-1]}: with --predictor-url the service's profile of the device predicts "
                           f"latency, not this predictor; drop one")
    if device is not None and not device.measurable:
        raise NasedgeError(f"{chosen[-1]}: device {device.name} is predict-only; its latency is predicted by "
                           f"specialize.published_predictor fitted to its published measurements; set that instead")


def check_measurements_use(measurements: Optional[str], predictor_url: Optional[str], device: Any = None) -> None:
    """``--measurements`` fits a profile of a measurable device here; with ``--predictor-url`` (the service's
    profile predicts) or for a predict-only ``device`` it would be ignored, so it is an error instead."""
    if not measurements:
        return
    if predictor_url:
        raise NasedgeError(f"--measurements {measurements}: with --predictor-url the service's profile predicts "
                           f"latency; register the measurements there (POST /v1/devices) or drop one")
    if device is not None and not device.measurable:
        raise NasedgeError(f"--measurements {measurements}: device {device.name} is predict-only (published "
                           f"measurements only), so no profile is fitted from measurements; drop --measurements, "
                           f"or add the measured board as a device (nasedge devices add NAME --runtime ...)")


def _specialize_values(args: argparse.Namespace) -> Any:
    """Values of ``specialize.*`` and the search (out of range, an export format that does not exist) are checked
    here, where they would otherwise fail after the search and the device's measurements; only when given (checking
    the formats loads torch, a second or two). Returns the configuration composed to check them (``None``: none
    was)."""
    given = [o for o in getattr(args, "overrides", None) or [] if "=" in o]
    keys = [o.lstrip("+~").split("=", 1)[0] for o in given]
    chosen = [o.split("=", 1)[1] for o, k in zip(given, keys) if k == "search"]
    if args.strategy and chosen and chosen[-1] != args.strategy:  # one of them would be ignored
        raise NasedgeError(f"--strategy {args.strategy} and search={chosen[-1]} name two strategies; give one")
    # settings specialize does not read: they were accepted, and changed nothing (whole groups: check_read)
    if "data.recalibration_images" in keys and "specialize.recalibration_images" not in keys:
        raise NasedgeError("data.recalibration_images: specialize's final evaluation takes "
                           "specialize.recalibration_images (null: the data's); set that too")
    checked = ("search.", "specialize.", "data.", "supernet.", "predictor.")
    ours = [o for o, k in zip(given, keys) if k in ("search", "data", "supernet", "predictor") or k.startswith(checked)]
    if not any(k in ("data", "supernet", "predictor") or k.startswith(checked) for k in keys):  # the shipped values
        return None  # need no check
    from omegaconf import OmegaConf

    from nasedge.config import compose
    from nasedge.predict import predictor_config
    from nasedge.search import strategy_from_config

    cfg = compose([*([f"search={args.strategy}"] if args.strategy else []), *ours])
    if cfg.supernet.init != "checkpoint":
        raise NasedgeError(f"supernet.init: value {cfg.supernet.init!r} is not valid here; specialize searches the "
                           f"subnets of a trained supernet ('checkpoint'; `nasedge export --init random` exports "
                           f"freshly initialised weights)")
    if any(k == "data" or k.startswith("data.") for k in keys):
        data = OmegaConf.to_object(cfg.data)
        if not isinstance(data, dict):  # an ImageFolder's settings are checked with its images
            data.check()
    if any(k.startswith("specialize.") for k in keys):
        spec = OmegaConf.to_object(cfg.specialize)
        spec.check()
        if "specialize.published_predictor" in keys:  # fitted to published measurements alone, after the search
            from nasedge.errors import unknown_name
            from nasedge.predict import create_predictor, list_predictors

            if spec.published_predictor not in list_predictors():
                raise NasedgeError(f"specialize.published_predictor: "
                                   f"{unknown_name('predictor', spec.published_predictor, list_predictors())}")
            def fits_alone(name: str) -> bool:
                try:
                    create_predictor(name, "ofa_mbv3_cifar")
                except NasedgeError:
                    return False
                return True

            if not fits_alone(spec.published_predictor):  # lut: its table is of the board, not of published data
                raise NasedgeError(f"specialize.published_predictor: {spec.published_predictor!r} cannot be fitted "
                                   f"to published measurements alone; use one of "
                                   f"{', '.join(n for n in list_predictors() if fits_alone(n))}")
        if set(spec.formats) == {"tflite"}:  # skipped without the extra, as in the defaults, it would leave no model
            from nasedge.export.tflite import require_tflite

            require_tflite()
    strategy_from_config(OmegaConf.to_container(cfg.search, resolve=True))
    predictor_config(OmegaConf.to_container(cfg.predictor, resolve=True))  # it is used after the search's inputs
    return cfg


def _specialize(args: argparse.Namespace) -> None:
    from nasedge.specialize.budget import parse_budgets

    parse_budgets(args.latency)
    if args.strategy:
        from nasedge.search import list_strategies, strategy_class, unknown_strategy

        if args.strategy not in list_strategies():
            raise unknown_strategy(args.strategy)
        strategy_class(args.strategy)  # a plugin's that cannot load (a requirement missing) says why, not "no YAML"
    from nasedge.measure.device import device_source, is_device_file

    # a device only a predictor service knows is asked of that service (nasedge specialize --predictor-url)
    service_only = bool(args.predictor_url) and not is_device_file(args.device) and device_source(args.device) is None
    check_measurements_use(args.measurements, args.predictor_url)
    check_predictor_use(args.overrides, args.predictor_url)
    if not service_only:
        _device(args)
        device = _named_device(args)
        if device is not None:
            check_measurements_use(args.measurements, None, device)
            check_predictor_use(args.overrides, None, device)
            device.check_available()
    _overrides(args, "specialize", None if service_only else args.device,
               tuple([f"search={args.strategy}"] if args.strategy else []))
    composed = _specialize_values(args)
    if args.supernet:
        check_checkpoint_file("--supernet", args.supernet)
    if getattr(args, "data", None):
        from nasedge.config import data_overrides

        if "data.kind=packed_npz" in data_overrides(args.data):  # a file that is no packed dataset: before the work
            from nasedge.data import DataConfig
            from nasedge.data.packed_npz import packed_npz_classes

            packed_npz_classes(DataConfig(path=args.data))
    check_input_file("--accuracy-predictor", getattr(args, "accuracy_predictor", None))
    if getattr(args, "accuracy_predictor", None):
        from nasedge.predict.accuracy import check_accuracy_predictor_file

        check_accuracy_predictor_file(args.accuracy_predictor)
    _specialize_supernet(args, composed)
    if args.measurements:
        check_measurements_csv("--measurements", args.measurements, args.device)
    check_pick_out(args.out)
    if args.out is None:  # --out wins over the override; without it the override is where the pick goes
        for out_dir in _override_values(args, "specialize.out_dir"):
            check_pick_out(out_dir, "specialize.out_dir")
    check_url("--predictor-url", args.predictor_url)
    check_service_reachable(args.predictor_url)
    check_ray_address("--ray-address", args.ray_address)


def _specialize_supernet(args: argparse.Namespace, composed: Any = None) -> None:
    """The accuracy predictor specialize would use is there and of its supernet's space, as far as the files say
    (:func:`nasedge.specialize.flow.supernet_and_predictor`): said after the supernet loaded, it cost 8-15 s.
    ``composed``: the configuration of the verb's overrides where one was composed already (half a second each)."""
    from nasedge.specialize.flow import supernet_and_predictor

    given = [o for o in args.overrides or [] if o.lstrip("+~").startswith(("supernet=", "supernet."))]
    cfg = None  # read only without --supernet
    if not args.supernet:
        if not (args.accuracy_predictor or given):
            return  # the shipped supernet and its accuracy predictor
        if composed is None:
            from nasedge.config import compose

            composed = compose(given)
        cfg = composed.supernet
        if cfg.checkpoint:
            check_checkpoint_file("supernet.checkpoint", cfg.checkpoint)
    supernet_and_predictor(args.supernet, args.accuracy_predictor, cfg)


def parse_resolutions(flag: str, text: str, space: Optional[str] = None) -> list[int]:
    """``160,224`` as input sizes, each one of ``space``'s resolutions when the space is given."""
    try:
        sizes = [int(r) for r in text.split(",")]
    except ValueError:
        raise NasedgeError(f"{flag}: {text!r} is not valid; expected input sizes such as 160,224") from None
    if space:
        from nasedge.measure.workload import check_resolutions

        try:
            check_resolutions(space, sizes)
        except NasedgeError as exc:
            raise NasedgeError(f"{flag}: {exc}") from None
    return sizes


def _measure(args: argparse.Namespace) -> None:
    if args.resolutions is not None and not args.resolutions.strip():  # an unset variable: every size, silently
        raise NasedgeError("--resolutions: value '' is not valid; expected input sizes such as 160,224")
    if args.resolutions and not args.table:
        raise NasedgeError("--resolutions: only with --table (archs carry their own resolution)")
    _device(args)
    device = _named_device(args)
    if device is not None:
        device.check_measurable()
    check_space("--space", args.space)
    if args.resolutions and args.space and not args.space.endswith((".yaml", ".yml")):
        parse_resolutions("--resolutions", args.resolutions, args.space)
    _overrides(args, "measure", args.device, unread=("search_space",) if args.space else (),
               why=f"with --space (--space {args.space} names the space)")
    if args.archs:
        check_archs_jsonl("--archs", args.archs)
    elif args.num_archs is not None and args.num_archs < 1:
        raise NasedgeError(f"--num-archs: value {args.num_archs} is not valid; expected a positive count")
    check_out_file("--out", args.out)
    check_ray_address("--ray-address", args.ray_address, env=_through_ray(device))


def _through_ray(device: Any) -> bool:
    """Whether ``device`` (:func:`_named_device`'s) is measured through Ray: unknown (``None``, its settings
    overridden) counts as yes."""
    return device is None or device.where == "ray"


def _eval(args: argparse.Namespace) -> None:
    _overrides(args, "eval")
    spec = args.arch
    if spec not in ("min", "max") and not spec.startswith("random:"):
        if spec.endswith(".jsonl"):
            check_archs_jsonl("--arch", spec)
        else:
            check_arch_file("--arch", spec)
    if args.supernet:
        check_checkpoint_file("--supernet", args.supernet)
    check_positive("--batch-size", args.batch_size)
    check_torch_device("--device", args.device)
    check_out_file("--out", args.out)


def _export(args: argparse.Namespace) -> None:
    _overrides(args, "export")
    check_arch_file("--arch", args.arch, args.space, option=True)
    if args.supernet:
        check_checkpoint_file("--supernet", args.supernet)
    check_pick_out(args.out)


def _arch(args: argparse.Namespace) -> None:
    if args.arch_command == "sample":
        check_space("--space", args.space)
        _overrides(args, "arch sample", unread=("search_space",) if args.space else (),
                   why=f"with --space (--space {args.space} names the space)")


def _import(args: argparse.Namespace) -> None:
    if getattr(args, "import_source", None) == "ofa":
        p = Path(args.checkpoint)
        if p.is_dir():
            raise NasedgeError(f"{args.checkpoint}: is a folder, expected an OFA checkpoint file")
        if not p.is_file():
            raise NasedgeError(f"{args.checkpoint}: OFA checkpoint not found (a file downloaded from the "
                               "Once-for-All release; nasedge never downloads)")
        check_space("--space", args.space)
        check_out_file("--out", args.out, (args.checkpoint,))
        check_input_file("--accuracy-predictor", args.accuracy_predictor)


def _predictor(args: argparse.Namespace) -> None:
    from nasedge.errors import unknown_name

    action = args.predictor_command
    if action in ("archs", "eval", "fit", "show") and getattr(args, "space", None):
        from nasedge.predict.encodings import list_encodings

        # the latency benchmarks' spaces too; worded as the verb words it
        check_space("--space", args.space, tuple(list_encodings()), kind="space")
    if action == "fit":
        from nasedge.measure.device import is_device_file
        from nasedge.predict.profile import check_device_name

        if not is_device_file(args.device):
            check_device_name(args.device)  # it names the profile file
        # the predictor's own options (predictor.table) are checked against --predictor's, as the fit composes them
        unread, why = ((("device", "search_space"), f"with --measurements (nothing is measured: {args.measurements} "
                                                    f"gives the latencies and their archs' space)")
                       if args.measurements else (("search_space",), f"with --space (--space {args.space} names the "
                                                                     f"space)") if args.space else ((), ""))
        # with --measurements the device need not be nasedge's (it names the profile), and its settings are not read
        _overrides(args, "predictor fit", None if args.measurements else args.device,
                   tuple([f"predictor={args.predictor}"] if getattr(args, "predictor", None) else []), unread, why)
        if args.measurements:
            check_measurements_csv("--measurements", args.measurements, args.device)
        check_out_file("--save-measurements", args.save_measurements, (args.measurements,))
        measured = not args.measurements and _through_ray(None if is_device_file(args.device) else _named_device(args))
        check_ray_address("--ray-address", args.ray_address, env=measured)
    if action == "fit" or (action == "show" and getattr(args, "profiles_dir", None)):
        from nasedge import home

        # --profiles-dir, else the override, is where the profile goes, else the home; measuring, its CSV goes there
        flag, folders = (("--profiles-dir", [args.profiles_dir]) if getattr(args, "profiles_dir", None)
                         else ("predictor.profiles_dir", _override_values(args, "predictor.profiles_dir")))
        home.check_profile_folders(flag, list(folders), measuring=action == "fit" and not args.measurements
                                   and not args.save_measurements)
    if action == "push":
        check_url("--url", args.url)
        check_service_reachable(args.url)
    if action == "fit" and getattr(args, "predictor", None):
        from nasedge.predict import list_predictors

        if args.predictor not in list_predictors():
            raise unknown_name("predictor", args.predictor, list_predictors())
    if action == "eval":  # several, comma-separated, and the benchmark's baselines (nearest, oracle) too
        from nasedge.predict import list_predictors
        from nasedge.predict.benchmark import BASELINES

        known = (*list_predictors(), *BASELINES)
        for name in args.predictor.split(","):
            if name.strip() not in known:
                raise unknown_name("predictor", name.strip(), known)


def _serve(args: argparse.Namespace) -> None:
    if args.overrides[:1] == ["token"]:
        check_out_file("--file", args.file)
        return
    _overrides(args, "serve")
    check_port("--port", args.port)
    for port in _override_values(args, "service.port"):  # the composed config's is checked again at the bind
        if not port.isdigit():
            raise NasedgeError(f"service.port {port} is not valid; expected a port number 0-65535")
        check_port("service.port", int(port))
    if args.workers is not None and args.workers < 1:
        raise NasedgeError(f"--workers {args.workers} is not valid; expected at least 1")


def _devices(args: argparse.Namespace) -> None:
    if args.devices_command == "add":
        from nasedge import home

        check_home_dir(home.devices_dir())


def _train(args: argparse.Namespace) -> None:
    _overrides(args, "train")
    for out_dir in _override_values(args, "train.out_dir"):
        check_out_dir("train.out_dir", out_dir)


def _override_values(args: argparse.Namespace, key: str) -> list[str]:
    """The values the verb's ``KEY=VALUE`` overrides give ``key``."""
    return [o.partition("=")[2] for o in getattr(args, "overrides", None) or [] if o.startswith(f"{key}=")]


def check_torch_device(flag: str, device: Optional[str]) -> None:
    """``device`` names a device as torch spells it (cpu, cuda, cuda:N, mps) or is ``auto``; whether this machine
    has it is the verb's check, once torch is loaded."""
    import re

    if device is not None and not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device):
        raise NasedgeError(f"{flag} {device!r} is not valid; expected auto, cpu, cuda, cuda:N or mps")


def _accuracy(args: argparse.Namespace) -> None:
    if args.accuracy_action == "sample":
        _overrides(args, "accuracy sample")
        if args.n <= 0:
            raise NasedgeError(f"-n: value {args.n} is not valid; expected N > 0")
        check_positive("--batch-size", args.batch_size)
        check_torch_device("--device", args.device)
        if args.supernet:
            check_checkpoint_file("--supernet", args.supernet)
        check_out_file("--out", args.out)
        check_ray_address("--ray-address", args.ray_address)
    else:
        check_input_file("", args.samples, "a JSON-lines file of samples")
        check_out_file("--out", args.out, (args.samples,))


CHECKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "specialize": _specialize, "measure": _measure, "eval": _eval, "export": _export, "arch": _arch,
    "import": _import, "predictor": _predictor, "serve": _serve, "train": _train, "accuracy": _accuracy,
    "devices": _devices}


def check(verb: str, args: Any) -> None:
    """Check the inputs of ``nasedge VERB`` (see :data:`CHECKS`); the first bad one raises :class:`NasedgeError`."""
    if isinstance(getattr(args, "seed", None), int):
        from nasedge.errors import check_seed

        check_seed("--seed", args.seed)
    fn = CHECKS.get(verb)
    if fn is not None:
        fn(args)
