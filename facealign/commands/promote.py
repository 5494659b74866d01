"""``facealign promote``: register the pipeline's aligners and move ``champion`` by NME.

Writes ``metrics/promotion.json``: ``decision`` (``promoted`` / ``kept`` / ``rolled_back``),
``reason``, ``previous_version``, ``champion_version``, ``nme_previous``,
``nme_best_candidate``, ``compared`` (per version: role, family, NMEs in percent, whether
measured now or taken from tags of the same test data), ``test_data_hash``, ``model``,
``alias`` and ``registered`` (what happened to each pipeline model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "register the trained aligners and move alias champion to the lowest NME (or --rollback)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollback", action="store_true",
                        help="move the alias back to its previous holder")
    parser.add_argument("--version", dest="versions", action="append", default=[], metavar="V",
                        help="compare these registry versions instead of the pipeline's models (repeatable)")
    parser.add_argument("--data", help="test folder (default: <paths.data>/test)")
    parser.add_argument("--reason", help="why, recorded with the alias move (besides the NME comparison)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="evaluate every compared version now, even if measured on this data before")
    parser.add_argument("--output", help="decision JSON (default: <paths.metrics>/promotion.json)")


def _write(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)


def run(args: argparse.Namespace, cfg: dict) -> int:
    from mlflow import MlflowClient

    from facealign import tracking
    from facealign.registry import promote as promotion
    from facealign.registry.candidates import register_candidates

    uri = tracking.tracking_uri(cfg)
    tracking.ensure_experiment(cfg)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name, alias = cfg["registry"]["name"], cfg["registry"]["alias"]
    output = Path(args.output or Path(cfg["paths"]["metrics"]) / "promotion.json")
    if args.rollback:
        record = promotion.rollback(client, name, alias, uri, args.reason or "manual rollback")
    else:
        test_dir = Path(args.data or Path(cfg["paths"]["data"]) / "test")
        if not test_dir.is_dir():
            raise FileNotFoundError(f"{test_dir}: test folder not found (run `dvc repro synthesize`)")
        test_hash = tracking.data_hash(test_dir)
        registered = [] if args.versions else register_candidates(client, cfg, test_hash)
        for c in registered:
            print(f"{c.name}: {'v' + c.version if c.version else '-'} ({c.status})")
        versions = args.versions or [c.version for c in registered if c.version]
        judge = promotion.Judge(client, name, test_dir, test_hash,
                                reevaluate=args.reevaluate or bool(cfg["registry"].get("reevaluate")))
        record = promotion.promote(judge, alias, versions, uri, note=args.reason)
        record["registered"] = {c.name: {"version": c.version, "status": c.status} for c in registered}
    _write(record, output)
    print(f"{record['decision']}: {name}@{alias} = v{record['champion_version']} "
          f"(was v{record['previous_version']}): {record['reason']}")
    if record["champion_version"] is not None:
        print(f"serve it:  facealign serve --model models:/{name}@{alias} --host 127.0.0.1 --port 8000")
    return 0
