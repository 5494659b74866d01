"""``facealign params``: compose ``params.yaml`` from ``conf/`` and a preset, show it or check it.

``params.yaml`` is what the DVC stages read and track.  ``dvc exp run -S preset=NAME -S key=value``
composes it with Hydra before it runs; this command writes the same composition for a plain
``dvc repro``:

    facealign params --preset fast_dev_run --set synthesize.n_train=100 && dvc repro

``--get KEY ...`` prints the values the commands read (``params.yaml`` with any ``--set``),
``--check`` lists the keys where ``params.yaml`` differs from ``conf/`` composed with its preset.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "compose params.yaml from conf/ and a preset (as dvc exp run does), or show / check it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--get", nargs="+", metavar="KEY",
                        help="print these dotted keys' values (JSON), one 'key: value' per line; "
                             "writes nothing")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 naming the keys where params.yaml differs from conf/ composed "
                             "with its preset; writes nothing")


def _get(cfg: dict, dotted: str) -> object:
    node: object = cfg
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"unknown parameter {dotted!r}")
        node = node[key]
    return node


def run(args: argparse.Namespace, cfg: dict) -> int:
    from facealign.config import load_params, params_drift, params_text
    from faceio.atomic import write_text

    if args.get:
        for key in args.get:
            print(f"{key}: {json.dumps(_get(cfg, key))}")
        return 0
    if args.check:
        drift = params_drift(args.params)
        if drift:
            print(f"{args.params} differs from conf/ composed with preset {cfg.get('preset')!r} at: "
                  f"{', '.join(drift)} (`facealign params` recomposes it)", file=sys.stderr)
            return 1
        print(f"{args.params}: conf/ composed with preset {cfg.get('preset')!r}")
        return 0
    preset = args.preset or str(cfg.get("preset", "default"))
    composed = load_params(args.params, args.overrides, preset)
    write_text(args.params, params_text(composed))
    extra = f" and {len(args.overrides)} override(s)" if args.overrides else ""
    print(f"{args.params}: conf/config.yaml with preset {preset!r}{extra}; `dvc repro` runs it")
    return 0
