"""The ``facealign`` console command: one subcommand per pipeline step.

Each subcommand lives in ``facealign/commands/<name>.py`` exposing ``HELP``,
``add_arguments(parser)`` and ``run(args, cfg) -> int``; heavy imports happen inside
``run`` so that ``facealign --help`` is instant.  Every subcommand accepts
``--params FILE``, ``--preset NAME`` and repeated ``--set section.key=value``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from facealign.config import ConfigError, load_params

COMMANDS: dict[str, str] = {
    "pipeline": "facealign.commands.pipeline",
    "build-model": "facealign.commands.build_model",
    "synthesize": "facealign.commands.synthesize",
    "evaluate": "facealign.commands.evaluate",
    "train-cascade": "facealign.commands.train_cascade",
    "evaluate-cascade": "facealign.commands.evaluate_cascade",
    "segment": "facealign.commands.segment",
    "train-dff": "facealign.commands.train_dff",
    "fit-sdm": "facealign.commands.fit_sdm",
    "evaluate-matching": "facealign.commands.evaluate_matching",
    "promote": "facealign.commands.promote",
    "predict": "facealign.commands.predict",
    "serve": "facealign.commands.serve",
}


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", default="params.yaml", help="parameter file (default: %(default)s)")
    common.add_argument("--preset", help="preset from params.yaml's presets section")
    common.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter, e.g. --set cascade.max_epochs=2 (repeatable)")
    parser = argparse.ArgumentParser(prog="facealign", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a step not built yet
        cmd = sub.add_parser(name, parents=[common], help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        cfg = load_params(args.params, args.overrides, args.preset)
        return int(args.run(args, cfg) or 0)
    except (ConfigError, UserError, FileNotFoundError, ValueError) as exc:
        print(f"facealign {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"facealign {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
