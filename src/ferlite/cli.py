"""The ``ferlite`` command: one thin module per subcommand in ``ferlite.commands``, each with ``get_args_parser``
and ``main(args)``, which call the library.

A user's error (a missing file, a corrupt dataset, a bad option) is printed as one clear
line and exits with status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import import_module

# name -> module with get_args_parser() and main(args); imported lazily so that ``ferlite --help`` does not pay for
# torch. The runtime's commands come first, then those that make models.
SUBCOMMANDS = {
    "predict": ("ferlite.commands.predict", "faces and emotions in images, as JSON (and annotated copies)"),
    "analyze": (
        "ferlite.commands.analyze",
        "photos, folders and videos into one table of faces and emotions (CSV, JSONL, JSON, Parquet)",
    ),
    "watch": ("ferlite.commands.watch", "emotions in a video, webcam or stream: annotated video, JSONL/CSV"),
    "serve": ("ferlite.commands.serve", "the emotion-aware web app (webcam in the browser, WebSocket, localhost)"),
    "mood": ("ferlite.commands.mood", "mood monitoring: log emotions over time to SQLite, then plot and summarise"),
    "drive": ("ferlite.commands.drive", "driver monitoring: eye closure, PERCLOS, microsleeps, head-pose distraction"),
    "personalize": (
        "ferlite.commands.personalize",
        "on-device personalization: a personal head from a few labelled faces of one person or camera",
    ),
    "bench": ("ferlite.commands.bench", "measure classifier latency/throughput (fp32, int8) and end-to-end FPS"),
    "train": ("ferlite.commands.train", "train an emotion classifier (Adam, cross-entropy, resumable)"),
    "evaluate": ("ferlite.commands.evaluate", "evaluate a checkpoint: accuracy, P/R/F1, confusion matrix, JSON report"),
    "calibrate": (
        "ferlite.commands.calibrate",
        "fit a per-class logit bias and temperature on the validation domains, into the model file",
    ),
    "export": ("ferlite.commands.export", "export a checkpoint to ONNX (fp32 and int8), verified on real faces"),
    "prune": ("ferlite.commands.prune", "structured channel pruning of MobileNetV2, then fine-tuning"),
    "from-onnx": ("ferlite.commands.from_onnx", "rebuild a trainable checkpoint from an exported (e.g. bundled) ONNX model"),
    "study": ("ferlite.commands.study", "reproduce the reference MobileNetV2-vs-CNN study on FER2013 and write the table"),
    "federate": (
        "ferlite.commands.federate",
        "federated learning with Flower (FedAvg, FedProx, differential privacy, SecAgg+), simulated here",
    ),
}

# glibc returns freed memory to the OS eagerly; PyTorch's large, short-lived CPU tensors
# then pay for fresh page faults on every step. Keeping it (the project's developer guide) makes CPU
# training about 3x faster on the project's machines. It must be set before Python starts.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "2147483647", "MALLOC_TRIM_THRESHOLD_": "100000000000"}
_HEAVY = {"train", "study", "evaluate", "export", "prune", "from-onnx", "calibrate", "federate"}
# Modules of an optional extra other than the training one, and the extra that brings them.
_EXTRA_OF_MODULE = {"flwr": "federated", "opacus": "federated", "ray": "scale"}


def _ensure_malloc_env(argv: list[str]) -> None:
    if os.environ.get("FERLITE_NO_REEXEC") or all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()):
        return
    env = {**os.environ, **MALLOC_ENV}
    os.execve(sys.executable, [sys.executable, "-m", "ferlite", *argv], env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferlite",
        description="ferlite: lightweight, offline facial emotion recognition. Find faces and read their emotions in "
        "photos, videos, webcams and a web page; train, evaluate and export the models.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and the bundled models' terms")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


class _VersionAction(argparse.Action):
    """ferlite's version, and the terms each bundled model inherits from its training data."""

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__
        from .runtime.recognizer import BUNDLED_MODELS, MODEL_TERMS

        lines = [f"ferlite {__version__}"] + [f"  model {name}: {MODEL_TERMS[file]}" for name, file in BUNDLED_MODELS.items()]
        print("\n".join(lines))
        parser.exit()


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text names it already or there is none to name."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default in (None, False, argparse.SUPPRESS) or "default" in text.lower():
            return text
        return text + " (default: %(default)s)"


def _one_line_errors(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """A bad option value gets one line naming it and exit status 2 (argparse adds the whole usage text)."""

    def error(message: str):
        print(f"ferlite {command}: error: {message} (see ferlite {command} --help)", file=sys.stderr)
        sys.exit(2)

    parser.error = error  # type: ignore[method-assign]
    parser.formatter_class = DefaultsHelpFormatter
    for action in parser._actions:  # argparse shows no help line at all for an option without help text
        if action.help is None and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"
    return parser


def _needs_extra(command: str, e: ModuleNotFoundError) -> int:
    extra = _EXTRA_OF_MODULE.get((e.name or "").split(".")[0])
    how = f"pip install 'ferlite[{extra}]'" if extra else "pip install torch==2.13.0 'ferlite[train]'"
    print(
        f"ferlite {command}: needs {e.name!r}, which is not installed; install the {extra or 'training'} extra: {how}",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    head, rest = parser.parse_known_args(argv)
    if head.command is None:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    # Only a real command line is re-executed: main([...]) called from Python must return.
    if from_command_line and head.command in _HEAVY and not any(a in ("-h", "--help") for a in rest):
        _ensure_malloc_env(argv)
    logging.basicConfig(level=logging.INFO if head.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        module = import_module(SUBCOMMANDS[head.command][0])
    except ModuleNotFoundError as e:  # the runtime install has no torch; training-side commands need the extra
        return _needs_extra(head.command, e)
    from .core.errors import FerliteError

    try:
        # A module with a config file resolves it itself (train: the file gives defaults, the command line wins).
        parser = _one_line_errors(module.get_args_parser(), head.command)
        args = module.parse_args(rest, parser) if hasattr(module, "parse_args") else parser.parse_args(rest)
        rc = module.main(args)
    except ModuleNotFoundError as e:  # an extra the command needs only once it runs (ferlite train: torch)
        return _needs_extra(head.command, e)
    except (FerliteError, FileNotFoundError) as e:
        print(f"ferlite {head.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ferlite {head.command}: interrupted", file=sys.stderr)
        return 130
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
