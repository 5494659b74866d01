"""``facealign pipeline``: run ``dvc repro`` and print where the results are (``make run``)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

HELP = "run the whole DVC pipeline (dvc repro) and print the results and next steps"
MODELS = ("mean_shape", "cascade", "dff_sdm", "sift_sdm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", help="dvc stages to reproduce (default: all)")


def promotion_line(promotion: dict) -> str:
    """One line for ``metrics/promotion.json``: which version holds ``champion`` and why."""
    champion = promotion.get("champion_version")
    measured = promotion.get("compared", {}).get(str(champion), {})
    family, nme = measured.get("family", "?"), measured.get("nme_mean")
    held = f"v{champion} ({family}, nme_mean {nme:.2f} %)" if nme is not None else f"v{champion}"
    return (f"champion:  {promotion.get('model', 'face-alignment')}@{promotion.get('alias', 'champion')}"
            f" = {held}, {promotion.get('decision')}: {promotion.get('reason', '')}")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from faceeval.report import format_table

    if args.overrides or args.preset:
        raise ValueError("pipeline runs dvc repro on params.yaml as it is: edit it or use "
                         "`dvc exp run -S key=value` instead of --set/--preset")
    dvc = shutil.which("dvc")
    if dvc is None:
        raise FileNotFoundError("dvc not found on PATH (run `make run`, which sets up .venv)")
    code = subprocess.call([dvc, "repro", *args.targets])
    if code != 0:
        print(f"dvc repro failed with exit code {code}")
        return code
    metrics_dir = Path(cfg["paths"]["metrics"])
    rows = {m: json.loads((metrics_dir / f"{m}.json").read_text())
            for m in MODELS if (metrics_dir / f"{m}.json").is_file()}
    print("\nNME (%) on the synthetic test set, by |yaw| bin:")
    print(format_table(rows))
    promotion = metrics_dir / "promotion.json"
    if promotion.is_file():
        print(f"\n{promotion_line(json.loads(promotion.read_text()))}   (details: {promotion})")
    print(f"\nresults:   {metrics_dir}/ (metrics JSON, CED curves, overlays); `dvc metrics show`")
    print("tracking:  mlflow ui --backend-store-uri sqlite:///mlflow.db   (then http://127.0.0.1:5000)")
    print("serve:     facealign serve --model models:/face-alignment@champion --port 8000")
    return 0
