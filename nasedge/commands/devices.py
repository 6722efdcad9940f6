"""List the known devices: where each is measured, its runtime settings, whether a profile exists.

  nasedge devices            a table
  nasedge devices --json     one JSON object per device

A device's latency profiles (the predictor fitted to it, one per search space) are stored as
``latency_predictors/profiles/<device>@<space>.json``; the ``profile`` column lists their spaces.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")


def run(args: argparse.Namespace) -> int:
    from nasedge.measure import get_device, list_devices
    from nasedge.predict.profile import profile_spaces

    rows = []
    for name in list_devices():
        device = get_device(name)
        where = device.location() if device.measurable else "predict-only"
        what = device.summary() if device.measurable else ", ".join(f"{d.dataset}:{d.column}" for d in device.data)
        rows.append({"name": name, "where": where, "runtime": what,
                     "profiles": profile_spaces(name), "description": device.description})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("device", "measured", "runtime / published data", "profiles (spaces)", box=None, pad_edge=False)
    for row in rows:
        table.add_row(row["name"], row["where"], escape(row["runtime"]), ", ".join(row["profiles"]) or "-")
    Console(width=160).print(table)
    return 0
