"""The ``nasedge`` command line: one module per verb in :mod:`nasedge.commands`.

Verb modules import only the standard library at import time (``nasedge --help`` must stay fast);
torch, ray and the rest load inside their ``run`` functions. User-facing problems are raised as
:class:`~nasedge.errors.NasedgeError` and printed here as one line with exit status 2; a closed stdout pipe
(``nasedge arch sample ... | head -1``) ends the command quietly with status 141. Any other exception raised in a
plugin's own code is one line naming the plugin and the place, status 2 (:func:`nasedge.registry.plugin_failure`);
one raised by nasedge's code keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import select
import signal
import sys

# verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "arch": ("nasedge.commands.arch", "sample, validate and count architectures"),
    "export": ("nasedge.commands.export", "export a subnet for deployment (ONNX, PyTorch, TFLite)"),
    "train": ("nasedge.commands.train", "train a supernet with progressive shrinking (resumes)"),
    "eval": ("nasedge.commands.eval", "top-1 accuracy of subnets (BN recalibrated)"),
    "measure": ("nasedge.commands.measure", "measure the latency of archs on a device"),
    "devices": ("nasedge.commands.devices", "list devices, where each is measured, and their profiles"),
    "predictor": ("nasedge.commands.predictor", "fit, evaluate and inspect latency predictors"),
    "serve": ("nasedge.commands.serve", "serve latency predictions over HTTP (device registry, Ray Serve)"),
    "specialize": ("nasedge.commands.specialize", "the best subnet for a device under a latency budget, exported"),
    "accuracy": ("nasedge.commands.accuracy", "sample subnets' true accuracy on your data; fit an accuracy predictor"),
    "import": ("nasedge.commands.import_", "import published weights (Once-for-All supernets, accuracy predictor)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints the whole usage otherwise)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasedge", description="Hardware-aware neural architecture search for edge devices.")
    from nasedge import __version__

    parser.add_argument("--version", action="version", version=f"nasedge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_) in COMMANDS.items():
        verb = importlib.import_module(module)
        # the verbs' docstrings are laid out as usage examples: keep their lines as written
        p = sub.add_parser(name, help=help_, description=getattr(verb, "__doc__", None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        verb.add_arguments(p)
        p.set_defaults(_run=verb.run)
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--latency -5ms`` -> ``--latency=-5ms``: argparse takes a value that starts with ``-`` and a digit (but is
    not a plain number) for an option and answers with its usage; joined, the verb reports the bad value itself."""
    out: list[str] = []
    for tok in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and re.match(r"^-\.?\d", tok):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (polling its end reports an error or hang-up then)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured (tests, a program calling main): no pipe of ours
        return False
    if not hasattr(select, "poll"):  # Windows: no way to ask; stdout is the likely pipe
        return True
    poll = select.poll()
    poll.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))


def _on_signal(signum: int, handler: object) -> object:
    """Install ``handler`` for ``signum`` and return the one it replaces (None where none can be installed: a thread
    other than the main one, e.g. a program that calls :func:`main` from one)."""
    try:
        return signal.signal(signum, handler)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    """``nasedge ARGS`` (``argv``; None: the process's own arguments, as the console script runs it).

    Ctrl-C ends a verb with "nasedge: interrupted" and 130, SIGTERM with "nasedge: terminated (SIGTERM)" and 143,
    both after its cleanup has run (:class:`~nasedge.errors.Terminated`). So does whatever error the verb ends with
    once either signal came: compiled code that the signal's exception interrupts raises one of its own (Ray's wait
    a SystemError or a KeyboardInterrupt, a module being imported ``ImportError: initialization failed``), or
    loses it (``ImportError: import numpy failed``)."""
    from nasedge.errors import Terminated, interrupted_inside, terminated_inside

    received: list[int] = []  # the signals that came: what compiled code raised instead may not carry them

    def on_sigterm(signum: int, frame: object) -> None:
        received.append(signum)
        raise Terminated

    def on_sigint(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt  # what Python's own handler raises

    previous = _on_signal(signal.SIGTERM, on_sigterm)
    # only where Python's handler is installed: an ignored SIGINT (a background job) stays ignored, and a handler
    # of the program that calls main stays its own
    previous_int = (_on_signal(signal.SIGINT, on_sigint) if signal.getsignal(signal.SIGINT) is
                    signal.default_int_handler else None)
    try:
        return _main(argv, received)
    except SystemExit as exc:  # Ray's handler while ray.init runs: sys.exit(15)
        if exc.code != signal.SIGTERM:
            raise
    except (KeyboardInterrupt, Exception) as exc:
        if not (signal.SIGTERM in received or terminated_inside(exc)):
            if not (signal.SIGINT in received or interrupted_inside(exc)):
                raise  # an error with no signal to it: a bug's traceback
            print("nasedge: interrupted", file=sys.stderr)
            return 130
    finally:
        if argv is None:  # the verb ran the process; a SIGTERM while Python exits would turn its status into -15
            _on_signal(signal.SIGTERM, signal.SIG_IGN)
        elif previous is not None:
            _on_signal(signal.SIGTERM, previous)
        if previous_int is not None:
            _on_signal(signal.SIGINT, previous_int)
    print("nasedge: terminated (SIGTERM)", file=sys.stderr)
    return 143  # 128 + SIGTERM, as the shell reports a process the signal ended


def _main(argv: list[str] | None, received: list[int] | None = None) -> int:
    """The verb ``argv`` names, run; its errors are one line (exit 2) unless a signal of ``received`` came first
    (raised then: :func:`main` says the verb was interrupted)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        parser.error(f"unrecognized arguments: {argv[0]} (options go after the command: nasedge COMMAND ...)")
    args, extra = parser.parse_known_args(_join_negative_values(argv))
    # argparse fills a `nargs="*"` positional once, so KEY=VALUE overrides given after an option
    # (`eval data=x --json seed=1`) come back unparsed: they still belong to the overrides.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*(args.overrides or []), *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from nasedge.errors import NasedgeError, interrupted_inside

    try:
        from nasedge.commands.inputs import check

        check(args.command, args)  # every input, before the verb imports anything heavy (one line within 2 s)
        status = int(args._run(args) or 0)
        _warn_broken_plugins()
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return status
    except BrokenPipeError:
        if not _stdout_closed():  # another pipe (a subprocess's stdin): a failure to show, not to hide
            raise
        # The reader of stdout went away (`nasedge arch sample -n 200000 | head -1`): nobody is left to tell.
        # stdout points at devnull from here, or Python's flush at exit would fail on the pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        # 141 = 128 + SIGPIPE, what the shell reports for a tool the closed pipe ended (`yes | head -1`): under
        # `set -o pipefail` output cut short is not success, and it is not a nasedge error (2) either
        return 141
    except NasedgeError as exc:
        if received or interrupted_inside(exc):  # a verb a signal stopped: main says so, not what it ended with
            raise
        _warn_broken_plugins(str(exc))
        print(f"nasedge: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from nasedge.registry import plugin_failure

        # raised in a plugin's own code: its name and place, not nasedge's traceback (unless a signal stopped it)
        failure = None if received or interrupted_inside(exc) else plugin_failure(exc)
        if failure is None:
            raise  # a bug of nasedge: its traceback is what a report needs
        print(f"nasedge: error: {failure}", file=sys.stderr)
        return 2


def _warn_broken_plugins(error: str = "") -> None:
    """A plugin that failed to load, or a name or file of one that is left out, is said (where plugins were loaded at
    all), except what the command's ``error`` says already."""
    registry = sys.modules.get("nasedge.registry")
    if registry is None:
        return
    errors = registry.plugin_errors()
    if "failed to load" in error:  # the error lists the plugins that failed to load itself
        errors = []
    for line in [*errors, *registry.plugin_warnings()]:
        if line not in error:
            print(f"nasedge: warning: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
