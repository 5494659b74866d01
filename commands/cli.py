"""The ``facealign`` console command: one subcommand per pipeline step.

Each subcommand is a module of this package exposing ``HELP``, ``add_arguments(parser)``
and ``run(args, cfg) -> int``; their heavy imports happen inside ``run`` so that
``facealign --help`` is instant.  Every subcommand accepts ``--params FILE``,
``--preset NAME`` (compose ``conf/`` with that preset) and repeated ``--set section.key=value``.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import TextIO

from commands import (
    build_model,
    evaluate,
    evaluate_cascade,
    evaluate_matching,
    evaluate_real,
    export,
    fit_sdm,
    params,
    pipeline,
    predict,
    prepare_real,
    promote,
    segment,
    serve,
    synthesize,
    train_cascade,
    train_dff,
)
from facealign.config import ConfigError, load_params

COMMANDS: dict[str, ModuleType] = {
    "pipeline": pipeline,
    "params": params,
    "build-model": build_model,
    "synthesize": synthesize,
    "prepare-real": prepare_real,
    "evaluate": evaluate,
    "train-cascade": train_cascade,
    "evaluate-cascade": evaluate_cascade,
    "segment": segment,
    "train-dff": train_dff,
    "fit-sdm": fit_sdm,
    "evaluate-matching": evaluate_matching,
    "evaluate-real": evaluate_real,
    "promote": promote,
    "predict": predict,
    "serve": serve,
    "export": export,
}


def installed_version() -> str:
    """The installed distribution's version (``pyproject.toml`` ``version``), or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("facealign")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", default="params.yaml", help="parameter file (default: %(default)s)")
    common.add_argument("--preset", help="compose conf/ with this preset (conf/preset/NAME.yaml) "
                        "instead of reading params.yaml")
    common.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter, e.g. --set cascade.max_epochs=2 (repeatable)")
    parser = argparse.ArgumentParser(prog="facealign", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"facealign {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        cmd = sub.add_parser(name, parents=[common], help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


ARTIFACT_BARS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def quiet_artifact_bars(stream: TextIO) -> None:
    """MLflow's "Downloading artifacts" / "Uploading artifacts" bars off when ``stream`` (stderr,
    where tqdm draws) is no terminal, as in pipeline logs; a value the user set is kept."""
    if not stream.isatty():
        os.environ.setdefault(ARTIFACT_BARS, "false")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    quiet_artifact_bars(sys.stderr)
    try:
        cfg = load_params(args.params, args.overrides, args.preset)
        return int(args.run(args, cfg) or 0)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"facealign {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"facealign {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
