"""``facealign promote``: register the pipeline's aligners and move ``champion`` by NME.

Ranks by the real-face ``nme_mean`` (percent) when real validation data was evaluated: every
registered candidate has a non-skipped ``<paths.metrics>/real_<name>.json`` with images
(``facealign evaluate-real``) and a folder of ``paths.real_data`` exists (with ``--version``:
the folders exist); otherwise by the synthetic test NME.  ``--decide-by`` forces either.

Writes ``metrics/promotion.json``: ``decision`` (``promoted`` / ``kept`` / ``rolled_back``),
``reason``, ``previous_version``, ``champion_version``, ``nme_previous``,
``nme_best_candidate`` (on the deciding data), ``compared`` (per version: role, family, NMEs
in percent, keyed ``real_nme_*`` when real decided, whether measured now or taken from tags
of the same data), ``decided_by`` (``real`` / ``synthetic``), ``test_data_hash``,
``real_data_hash`` and ``real_data`` (when real), ``model``, ``alias``, ``registered``
(what happened to each pipeline model) and ``refused`` (name -> why, for candidates whose
metrics file's ``aligner_hash`` is not their directory's: they are neither registered nor
compared).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from faceio import atomic

HELP = "register the trained aligners and move alias champion to the lowest NME (or --rollback)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollback", action="store_true",
                        help="move the alias back to its previous holder")
    parser.add_argument("--version", dest="versions", action="append", default=[], metavar="V",
                        help="compare these registry versions instead of the pipeline's models (repeatable)")
    parser.add_argument("--data", help="test folder (default: <paths.data>/test)")
    parser.add_argument("--decide-by", choices=("auto", "real", "synthetic"), default="auto",
                        help="rank by real-face NME, synthetic test NME, or real when it was evaluated "
                             "(default: %(default)s)")
    parser.add_argument("--reason", help="why, recorded with the alias move (besides the NME comparison)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="evaluate every compared version now, even if measured on this data before")
    parser.add_argument("--output", help="decision JSON (default: <paths.metrics>/promotion.json)")


def real_folders(cfg: dict) -> list[Path]:
    """The folders of ``paths.real_data`` that exist and hold annotations (may be none)."""
    from facealign.evaluation import annotated_folders

    return annotated_folders(cfg["paths"].get("real_data") or [])


def decides_by_real(args: argparse.Namespace, folders: list[Path], registered: list[Any]) -> bool:
    """Whether real faces decide: forced by ``--decide-by``, else real metrics of every
    registered candidate (or, for ``--version``, the real folders alone)."""
    if args.decide_by == "real" and not folders:
        raise FileNotFoundError("--decide-by real: no folder of paths.real_data exists")
    if args.decide_by != "auto" or not folders:
        return args.decide_by == "real"
    if args.versions:
        return True
    counted = [c for c in registered if c.version]
    return bool(counted) and all(c.real_data_hash for c in counted)


def _promote(args: argparse.Namespace, cfg: dict, client: Any, uri: str) -> dict:
    from facealign import tracking
    from facealign.evaluation import folders_hash
    from facealign.registry import promote as promotion
    from facealign.registry.candidates import register_candidates
    from facealign.registry.register import REAL_PREFIX

    test_dir = Path(args.data or Path(cfg["paths"]["data"]) / "test")
    if not test_dir.is_dir():
        raise FileNotFoundError(f"{test_dir}: test folder not found (run `dvc repro synthesize`)")
    test_hash = tracking.data_hash(test_dir)
    registered = [] if args.versions else register_candidates(client, cfg, test_hash)
    for c in registered:
        print(f"{c.name}: {'v' + c.version if c.version else '-'} ({c.status})")
    versions = args.versions or [c.version for c in registered if c.version]
    reevaluate = args.reevaluate or bool(cfg["registry"].get("reevaluate"))
    folders = real_folders(cfg)
    if decides_by_real(args, folders, registered):
        judge = promotion.Judge(client, cfg["registry"]["name"], folders, folders_hash(folders),
                                reevaluate=reevaluate, prefix=REAL_PREFIX)
    else:
        judge = promotion.Judge(client, cfg["registry"]["name"], test_dir, test_hash, reevaluate=reevaluate)
    record = promotion.promote(judge, cfg["registry"]["alias"], versions, uri, note=args.reason)
    record["test_data_hash"] = test_hash
    record["registered"] = {c.name: {"version": c.version, "status": c.status} for c in registered}
    refused = {c.name: c.status for c in registered if c.status.startswith("refused")}
    if refused:  # metrics that do not describe the directory they name (aligner_hash differs)
        record["refused"] = refused
    return record


def run(args: argparse.Namespace, cfg: dict) -> int:
    from mlflow import MlflowClient

    from facealign import tracking
    from facealign.registry import promote as promotion

    uri = tracking.tracking_uri(cfg)
    tracking.ensure_experiment(cfg)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name, alias = cfg["registry"]["name"], cfg["registry"]["alias"]
    output = Path(args.output or Path(cfg["paths"]["metrics"]) / "promotion.json")
    if args.rollback:
        record = promotion.rollback(client, name, alias, uri, args.reason or "manual rollback")
    else:
        record = _promote(args, cfg, client, uri)
    atomic.write_json(output, record)
    by = f", decided by {record['decided_by']} data" if "decided_by" in record else ""
    print(f"{record['decision']}: {name}@{alias} = v{record['champion_version']} "
          f"(was v{record['previous_version']}){by}: {record['reason']}")
    if record["champion_version"] is not None:
        print(f"serve it:  facealign serve --model models:/{name}@{alias} --host 127.0.0.1 --port 8000")
    return 0
