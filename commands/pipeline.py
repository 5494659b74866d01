"""``facealign pipeline``: run ``dvc repro`` and print where the results are (``make run``).

The summary holds two NME tables (percent, by |yaw| bin): the synthetic test set
(``metrics/<model>.json``) and the real faces of ``paths.real_data``
(``metrics/real_<model>.json``), or why the real evaluation was skipped; then the champion
and which data decided it (``metrics/promotion.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HELP = "run the whole DVC pipeline (dvc repro) and print the results and next steps"
MODELS = ("mean_shape", "cascade", "dff_sdm", "sift_sdm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", help="dvc stages to reproduce (default: all)")


def promotion_line(promotion: dict) -> str:
    """One line for ``metrics/promotion.json``: which version holds ``champion``, why, and
    which data decided (real faces or the synthetic test set)."""
    champion = promotion.get("champion_version")
    by = promotion.get("decided_by", "synthetic")
    prefix = "real_" if by == "real" else ""
    measured = promotion.get("compared", {}).get(str(champion), {})
    family, nme = measured.get("family", "?"), measured.get(f"{prefix}nme_mean")
    held = f"v{champion} ({family}, {prefix}nme_mean {nme:.2f} %)" if nme is not None else f"v{champion}"
    return (f"champion:  {promotion.get('model', 'face-alignment')}@{promotion.get('alias', 'champion')}"
            f" = {held}, {promotion.get('decision')} by {by} data: {promotion.get('reason', '')}")


def _load(metrics_dir: Path, prefix: str = "") -> dict[str, dict]:
    """``<prefix><model>.json`` of every model that has one."""
    files = {m: metrics_dir / f"{prefix}{m}.json" for m in MODELS}
    return {m: json.loads(f.read_text()) for m, f in files.items() if f.is_file()}


def real_table(rows: dict[str, dict]) -> str:
    """The real-face NME table of ``metrics/real_*.json`` rows, or why it was skipped."""
    from faceeval.report import format_table

    measured = {m: r for m, r in rows.items() if "skipped" not in r and r.get("n_images")}
    if not measured:
        reasons = sorted({r["skipped"] for r in rows.values() if "skipped" in r}) or ["not run"]
        return f"real-face evaluation skipped: {'; '.join(reasons)}"
    first = next(iter(measured.values()))
    folders = ", ".join(first.get("real_data", [])) or "?"
    skipped = [f"{m} ({r['skipped']})" for m, r in rows.items() if "skipped" in r]
    note = f"\nskipped: {'; '.join(skipped)}" if skipped else ""
    return (f"NME (%) on real faces ({folders}, {first['n_images']} images), by |yaw| bin:\n"
            f"{format_table(measured)}{note}")


def summary(metrics_dir: Path) -> str:
    """What ``make run`` prints after ``dvc repro``: both tables and the champion line."""
    from faceeval.report import format_table

    parts = ["NME (%) on the synthetic test set, by |yaw| bin:", format_table(_load(metrics_dir)),
             "", real_table(_load(metrics_dir, "real_"))]
    promotion = metrics_dir / "promotion.json"
    if promotion.is_file():
        parts += ["", f"{promotion_line(json.loads(promotion.read_text()))}   (details: {promotion})"]
    return "\n".join(parts)


def drift_note(params: str) -> str | None:
    """A line when ``params`` is not ``conf/`` composed with its preset (edited by hand or by an
    override), naming the keys; None when it is."""
    from facealign.config import params_drift

    drift = params_drift(params)
    if not drift:
        return None
    shown = ", ".join(drift[:6]) + (f" and {len(drift) - 6} more" if len(drift) > 6 else "")
    return (f"note: {params} differs from conf/ composed with its preset at {shown}; dvc repro runs "
            f"it as it is (`facealign params` recomposes it, `dvc exp run` does too)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    if args.overrides or args.preset:
        raise ValueError("pipeline runs dvc repro on params.yaml as it is: use `dvc exp run -S preset=NAME "
                         "-S key=value`, or `facealign params --preset NAME --set key=value` first")
    note = drift_note(args.params)
    if note:
        print(note)
    # dvc runs under this interpreter, and bin/facealign (every stage's command) uses it too
    env = {**os.environ, "FACEALIGN_PYTHON": sys.executable}
    code = subprocess.call([sys.executable, "-m", "dvc", "repro", *args.targets], env=env)
    if code != 0:
        print(f"dvc repro failed with exit code {code}")
        return code
    metrics_dir = Path(cfg["paths"]["metrics"])
    print(f"\n{summary(metrics_dir)}")
    print(f"\nresults:   {metrics_dir}/ (metrics JSON, CED curves, overlays); `dvc metrics show`")
    print("tracking:  mlflow ui --backend-store-uri sqlite:///mlflow.db   (then http://127.0.0.1:5000)")
    print("serve:     facealign serve --model models:/face-alignment@champion --port 8000")
    print("commands:  source .venv/bin/activate   (puts facealign, dvc and mlflow on PATH)")
    print("dvc:       dvc exp run -S preset=fast_dev_run -S synthesize.n_train=100; make exp; "
          "dvc plots show (docs/dvc.md)")
    return 0
