"""List the known devices: where each is measured, its runtime settings, whether a profile exists; add your own.

  nasedge devices [--json] [--ranges]          a table: shipped devices and the user's, available here or not
  nasedge devices add NAME --runtime onnxruntime|torch|litert [--threads N] [--batch B] [--precision fp32|fp16]
                  [--where local|ray] [--space S] [--description TEXT] [--force]
  nasedge devices show NAME [--json]           one device: its YAML, availability, profiles and latency ranges
  nasedge devices remove NAME                  a device added with `devices add` (shipped ones are read-only)

Devices shipped with nasedge are the YAMLs of ``conf/device/``; ``devices add`` writes the user's own to the
nasedge home (``<home>/conf/device/<name>.yaml``, :mod:`nasedge.home`), validated by the one device loader, and
every verb then takes the name. A device whose runtime or hardware is missing here (no CUDA, no LiteRT extra)
is listed as unavailable here, with what is missing.

A device's latency profiles (the predictor fitted to it, one per search space) are the user's
(``<home>/profiles/<device>@<space>.json``) and those shipped with nasedge; the ``profiles`` column lists their
spaces, ``--ranges`` the fastest and slowest subnet each profile predicts (a predict-only device's: what its
published data predicts in the configured search space).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Optional

RANGE_SAMPLES = 200  # seeded random subnets whose predicted latency spans the device's range


MAX_THREADS, MAX_BATCH = 1024, 4096
# what becomes of a profile measured under other settings than its device's YAML says now
STALE_USE = "specialize measures the device again rather than use it; `nasedge predictor fit` replaces it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument("--ranges", action="store_true",
                        help="the fastest and slowest predicted subnet per profile (smallest and largest arch of "
                             f"the space, and over {RANGE_SAMPLES} sampled subnets)")
    sub = parser.add_subparsers(dest="devices_command", metavar="ACTION", parser_class=type(parser))

    p = sub.add_parser("add", help="add a device of your own (a YAML in the nasedge home)")
    p.add_argument("name", metavar="NAME", help="the device's name (letters, digits and . _ -)")
    p.add_argument("--runtime", required=True, metavar="NAME", help="onnxruntime, torch or litert (or a plugin's)")
    p.add_argument("--threads", type=int, metavar="N", help="compute threads (default: every core)")
    p.add_argument("--batch", type=int, default=1, metavar="B", help="batch size (default 1)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16"), help="default fp32")
    p.add_argument("--where", default="local", choices=("local", "ray"),
                   help="local: measured in this process; ray: on the Ray node offering device:NAME")
    p.add_argument("--space", metavar="S", help="search space its archs are measured in by default")
    p.add_argument("--description", metavar="TEXT", help="a few words (default: made from the settings)")
    p.add_argument("--force", action="store_true", help="replace a device you added before")
    p.set_defaults(_run=run_add)

    p = sub.add_parser("show", help="one device: its YAML, availability, profiles and latency ranges")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(_run=run_show)

    p = sub.add_parser("remove", help="remove a device added with `devices add`")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(_run=run_remove)


def _row(name: str, ranges: bool, space: str) -> dict:
    """What ``nasedge devices`` says of one device; ``ranges``: with its predicted latency ranges (a predict-only
    device's from its published data, in ``space``)."""
    import sys

    from nasedge.errors import NasedgeError
    from nasedge.measure.device import device_file, device_source, get_device, hidden_device_files
    from nasedge.predict.profile import load_profile, stored_profiles

    from nasedge.registry import ignored_file

    for _, path in hidden_device_files(name):
        line = ignored_file(path, f"{device_source(name)} device", name, device_file(name),
                            ", which `nasedge devices add` refuses; rename the file and its 'name' field")
        print(f"nasedge: warning: {line}", file=sys.stderr)
    device = get_device(name)
    device.check_settings()  # a YAML that `measure` refuses is not listed as usable
    file, source = device_file(name), device_source(name) or "file"
    name = device.name  # a YAML given by path: its profiles are its name's
    missing = device.unavailable()
    where = device.location() if device.measurable else "predict-only"
    what = device.summary() if device.measurable else ", ".join(f"{d.dataset}:{d.column}" for d in device.data)
    stored = stored_profiles(name)
    profiles = {}
    for s in stored:
        try:
            profiles[s.space] = load_profile(name, space=s.space)
        except NasedgeError as exc:  # one broken profile, not the device nor the other rows
            print(f"nasedge: warning: {exc}", file=sys.stderr)
    stale = {space: why for space, p in profiles.items()
             if (why := p.other_settings(device.settings))}  # specialize measures anew rather than use it
    row = {"name": name, "where": "unavailable here" if missing else where, "runtime": what,
           "profiles": [s.space for s in stored], "description": device.description,
           "source": source, "file": str(file), "available": missing is None,
           "unavailable": missing, "profile_sources": {s.space: s.source for s in stored}, "stale_profiles": stale}
    if ranges:
        row["ranges"] = {}
        for space, p in profiles.items():
            try:
                row["ranges"][space] = {**p.latency_range(RANGE_SAMPLES), "source": row["profile_sources"][space]}
            except NasedgeError as exc:  # a state that does not load
                print(f"nasedge: warning: {exc}", file=sys.stderr)
        if not device.measurable and space not in row["ranges"]:
            row["ranges"].update(_published_range(device, space))
    return row


def _row_or_fault(name: str, ranges: bool, space: str) -> dict:
    """:func:`_row`, or for a user's device whose YAML does not load a row saying why (and a warning): one broken
    hand-edited file no longer hides every other device."""
    import sys

    from nasedge.errors import NasedgeError
    from nasedge.measure.device import SHIPPED, device_file, device_source

    try:
        return _row(name, ranges, space)
    except NasedgeError as exc:
        if device_source(name) == SHIPPED:  # a bug of nasedge; the user's or a plugin's YAML is theirs to mend
            raise
        print(f"nasedge: warning: {exc}", file=sys.stderr)
        return {"name": name, "where": "unreadable", "runtime": str(exc), "profiles": [], "description": "",
                "source": device_source(name), "file": str(device_file(name)), "available": False,
                "unavailable": str(exc), "profile_sources": {}, "stale_profiles": {}}


def _published_range(device, space_name: str) -> dict:
    """The range a predict-only device's published data predicts in ``space_name`` (none if no data covers it)."""
    from nasedge.errors import NasedgeError
    from nasedge.predict.profile import latency_range
    from nasedge.spaces import get_space
    from nasedge.specialize.latency import published_source

    space = get_space(space_name)
    try:
        source = published_source(device, space)
    except NasedgeError:
        return {}
    return {space.name: {**latency_range(source.predict, space, RANGE_SAMPLES), "source": "published"}}


def _configured_space(ranges: bool) -> str:
    """The configured search space (whose range predict-only devices show), composed only when ranges are asked."""
    if not ranges:
        return ""
    from nasedge.config import compose

    return str(compose().search_space.name)


def run(args: argparse.Namespace) -> int:
    from nasedge.measure import list_devices

    space = _configured_space(args.ranges)
    rows = [_row_or_fault(name, args.ranges, space) for name in list_devices()]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=160)
    table = Table("device", "from", "measured", "runtime / published data", "profiles (spaces)", box=None,
                  pad_edge=False)
    for row in rows:
        profiles = ", ".join(s + _profile_notes(src, s in row["stale_profiles"])
                             for s, src in row["profile_sources"].items())
        table.add_row(row["name"], row["source"], row["where"], escape(row["runtime"]), profiles or "-")
    console.print(table)
    reasons: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if row["unavailable"]:  # a YAML that does not load is no lack of this machine's
            label = "unreadable" if row["where"] == "unreadable" else "unavailable here"
            reasons.setdefault((label, row["unavailable"]), []).append(row["name"])
    for (label, why), names in reasons.items():
        console.print(f"{label}: {', '.join(names)}: {escape(why)}", highlight=False, soft_wrap=True)
    for row in rows:
        for space, why in row["stale_profiles"].items():
            console.print(f"stale profile: {row['name']} {space}: {escape(why)}; {STALE_USE}", highlight=False,
                          soft_wrap=True)
    if args.ranges:
        _print_ranges(console, rows)
    return 0


def _profile_notes(source: str, stale: bool) -> str:
    notes = [n for n, on in (("user", source == "user"), ("stale", stale)) if on]
    return f" ({', '.join(notes)})" if notes else ""


def _ms(value: float) -> str:
    """Milliseconds to three significant digits, without an exponent for a slow board (1380, not 1.38e+03)."""
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def _print_ranges(console, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table("device", "space", "profile", "smallest arch", "largest arch", f"{RANGE_SAMPLES} sampled",
                  title="predicted latency (ms)", box=None, pad_edge=False)
    for row in rows:
        for space, r in row.get("ranges", {}).items():
            table.add_row(row["name"], space, r["source"], _ms(r["min_arch_ms"]), _ms(r["max_arch_ms"]),
                          f"{_ms(r['sampled_min_ms'])}-{_ms(r['sampled_max_ms'])}")
    if table.row_count:
        console.print(table)
    else:
        console.print("no device has a latency predictor yet (nasedge predictor fit)")


def run_show(args: argparse.Namespace) -> int:
    from nasedge.measure.device import device_file

    device_file(args.name)  # an unknown name fails here, with the known ones
    row = _row(args.name, True, _configured_space(True))
    if args.json:
        print(json.dumps(row))
        return 0
    print(f"{row['name']} ({row['source']}, {row['file']}): {row['description']}")
    print(f"  measured: {row['where']}" + (f" ({row['unavailable']})" if row["unavailable"] else ""))
    print(f"  runtime: {row['runtime']}")
    if not row["profiles"]:
        print(f"  profiles: none (nasedge predictor fit --device {row['name']})")
    for space in (s for s in row["profiles"] if s not in row["ranges"]):
        print(f"  profile {space} ({row['profile_sources'][space]}): unreadable (the warning above says why)")
        if space in row["stale_profiles"]:
            print(f"    stale: {row['stale_profiles'][space]}; {STALE_USE}")
    for space, r in row["ranges"].items():
        what = "published data" if r["source"] == "published" else "profile"
        print(f"  {what} {space} ({r['source']}): predicted {_ms(r['min_arch_ms'])} ms (smallest "
              f"arch) to {_ms(r['max_arch_ms'])} ms (largest); {r['samples']} sampled subnets "
              f"{_ms(r['sampled_min_ms'])}-{_ms(r['sampled_max_ms'])} ms")
        if space in row["stale_profiles"]:
            print(f"    stale: {row['stale_profiles'][space]}; {STALE_USE}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    import datetime as dt

    import yaml

    from nasedge import home
    from nasedge.atomic import atomic_write_text
    from nasedge.errors import NasedgeError
    from nasedge.measure.device import (PLUGIN, SHIPPED, Device, device_source, is_device_file, list_devices,
                                        load_device)
    from nasedge.measure.runtime import list_runtimes
    from nasedge.predict.profile import check_device_name, check_no_case_twin

    if "+" in args.name:  # <device>+<digest> names a device changed by device.* overrides; it would share their profile
        raise NasedgeError(f"device name {args.name!r}: '+' is kept for devices changed by device.* overrides "
                           f"(<device>+<settings digest>); choose a name without it")
    name = check_device_name(args.name, plus=False)
    if name.endswith("_schema"):  # conf/device/device_schema is the schema every device YAML extends
        raise NasedgeError(f"device name {name!r}: names ending in '_schema' are kept for configuration schemas; "
                           f"choose another name")
    if is_device_file(name):
        raise NasedgeError(f"device name {name!r} ends as a device YAML file does (.yaml, .yml), so commands would "
                           f"read it as a file; choose a name without that ending")
    source = device_source(name)
    if source in (SHIPPED, PLUGIN):
        raise NasedgeError(f"device {name!r} is shipped with {'nasedge' if source == SHIPPED else 'a plugin'}; "
                           f"choose another name")
    check_no_case_twin(name, list_devices())
    path = home.devices_dir() / f"{name}.yaml"
    if source is not None and not args.force:
        raise NasedgeError(f"device {name!r} exists ({path}); pass --force to replace it")
    before = None  # the settings digest of the board it replaces: None where not known
    if source is not None:
        try:
            before = load_device(path).settings
        except NasedgeError:  # a broken file is what --force is for: its files say their settings, or go aside
            pass
    if args.runtime not in list_runtimes():
        from nasedge.errors import unknown_name

        raise NasedgeError(f"--runtime: {unknown_name('runtime', args.runtime, list_runtimes())}")
    # the bounds keep a typo from reaching the runtime: 10^8 images a batch failed there as a 1.2 TB allocation
    for flag, value, most in (("--threads", args.threads, MAX_THREADS), ("--batch", args.batch, MAX_BATCH)):
        if value is not None and not 1 <= value <= most:
            raise NasedgeError(f"{flag}: value {value} is not valid; expected 1-{most}")
    if args.space is not None:
        from nasedge.spaces import get_space

        get_space(args.space)  # an unknown space fails now, with the known ones
    threads = "every core" if args.threads is None else f"{args.threads} thread{'s' * (args.threads > 1)}"
    measure = {"_target_": "nasedge.measure.RuntimeMeasurer", "runtime": args.runtime, "threads": args.threads,
               "batch": args.batch, "precision": args.precision,
               # one thread: a profile's 20 archs interleaved as one group, as the shipped one-thread CPU devices
               # (a drift of the board is shared by them); more threads: one arch at a time, as a
               # multi-threaded session would slow the next one of a group
               "protocol": {"group_size": 20} if args.threads == 1 else {"group_size": 1}}
    if args.description is not None and (not args.description.strip() or not args.description.isprintable()):
        raise NasedgeError(f"--description: value {args.description!r} is not valid; expected a few words on one line")
    config = {"name": name, "description": args.description or f"{args.runtime}, {threads}, batch {args.batch}, "
                                                              f"{args.precision}",
              "where": args.where, **({"space": args.space} if args.space else {}), "measure": measure}
    device = Device.from_config(config, str(path))  # the one validation of a device, as for the shipped ones
    _check_runtime_settings(device)
    text = (f"# Added by `nasedge devices add` on {dt.date.today().isoformat()}; edit freely "
            f"(schema: nasedge.measure.DeviceConfig, as nasedge's conf/device/*.yaml).\n"
            + yaml.safe_dump({"defaults": ["device_schema", "_self_"], **config}, sort_keys=False))
    retired = _retire_leftovers(name, before, device.settings)
    atomic_write_text(path, text)
    cores = os.cpu_count() or 1
    if args.where == "local" and args.threads is not None and args.threads > cores:
        print(f"note: --threads {args.threads} is more than this machine's {cores} cores; fine for a board measured "
              f"elsewhere, slower than fewer threads here")
    if retired is not None:
        print(f"moved the profiles and measurements of an earlier board named {name} to {retired}: they were "
              f"measured with other settings, or settings no longer known")
    device = load_device(path)
    missing = device.unavailable()
    print(f"{path}: device {name} ({device.summary()}, {device.location()})"
          + (f"; unavailable here: {missing}" if missing else ""))
    return 0


def _retire_leftovers(name: str, before: Optional[str], now: str) -> Optional[Path]:
    """Move the profiles and measurements of device ``name`` in the nasedge home aside (to ``retired/``) unless
    they were measured under the settings it is added with now (``now``, a settings digest): as each file records
    them, else as the YAML it replaces says (``before``: None where not known, the device having been removed or
    its YAML broken); where they went, or None when nothing moved."""
    import datetime as dt

    from nasedge import home

    leftovers = [p for d in (home.profiles_dir(), home.measurements_dir()) if d.is_dir()
                 for p in sorted(d.glob(f"{name}@*")) if _measured_under(p, name, before) != {now}]
    if not leftovers:
        return None
    stamp = dt.datetime.now().strftime('%Y%m%d-%H%M%S')
    retired = home.retired_dir() / f"{name}-{stamp}"
    n = 1
    while retired.exists():  # never onto files moved aside before
        n += 1
        retired = home.retired_dir() / f"{name}-{stamp}-{n}"
    for p in leftovers:
        (retired / p.parent.name).mkdir(parents=True, exist_ok=True)
        p.replace(retired / p.parent.name / p.name)
    return retired


def _measured_under(path: Path, device: str, before: Optional[str]) -> set:
    """The settings digests a profile or measurements file of ``device`` records, a round journal's those of its CSV;
    ``before`` (None: not known) for what a file does not record (files of versions before digests), any other file
    and one that does not read."""
    from nasedge.errors import NasedgeError
    from nasedge.measure import read_measurements_csv
    from nasedge.measure.round_journal import journal_path
    from nasedge.predict.profile import DeviceProfile

    suffix = journal_path("c", device).name[1:]  # '.<device>.rounds.jsonl': a name may hold '.csv.' itself
    if path.name.endswith(suffix):  # the round journal of a CSV goes where its CSV goes
        return _measured_under(path.with_name(path.name[:-len(suffix)]), device, before)
    try:
        if path.suffix == ".json":
            recorded = {DeviceProfile.from_json(path.read_text(encoding="utf-8"), str(path)).settings}
        elif path.suffix == ".csv":
            recorded = {m.settings for m in read_measurements_csv(path, warn=lambda _: None)}
        else:
            return {before}
    except (NasedgeError, OSError, UnicodeDecodeError):
        return {before}
    return {s or before for s in recorded}


def _check_runtime_settings(device) -> None:
    """Threads, batch and precision as the runtime itself checks them (where its modules are installed)."""
    from nasedge.measure.runtime import get_runtime

    m = device.config.measure or {}
    cls = get_runtime(m["runtime"])
    if cls.missing() is None:
        cls(threads=m["threads"] or 1, batch=m["batch"], precision=m["precision"])


def run_remove(args: argparse.Namespace) -> int:
    from nasedge.errors import NasedgeError
    from nasedge import home
    from nasedge.measure.device import PLUGIN, SHIPPED, device_file, device_source, is_device_file

    if is_device_file(args.name):
        raise NasedgeError(f"`devices remove` takes a device's name, not a file ({args.name!r}); a YAML of your own "
                           f"is yours to delete")
    path = device_file(args.name)  # an unknown name fails here, with the known ones
    if device_source(args.name) in (SHIPPED, PLUGIN):
        raise NasedgeError(f"device {args.name!r} is shipped with "
                           f"{'nasedge' if device_source(args.name) == SHIPPED else 'a plugin'} (read-only); only "
                           f"devices added with `nasedge devices add` can be removed")
    path.unlink()
    print(f"removed {path} (its profiles and measurements in the nasedge home are kept; adding a board of this name "
          f"again moves them aside to {home.retired_dir()} unless it has the same settings)")
    return 0
