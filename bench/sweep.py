"""ASHA against FIFO on the same seeded search space: wall time, trials completed, best NME.

Runs the sweep of ``python tuning/sweep.py`` twice on one local Ray, with the same seed
(so the same trial configurations) and ``tune:`` defaults of ``params.yaml``, once with
ASHA and once with FIFO.  Sweep state, results and the MLflow record go to a temporary
folder (the project's store and registry are left alone).  Prints a table and writes
``bench/results/sweep.json``: ``asha`` and ``fifo`` each with ``wall_s``, ``trials``
(trials that ran all their epochs), ``trials_stopped_early``, ``epochs``
(epochs trained over all trials) and ``best_nme``; and ``wall_ratio`` (ASHA / FIFO).

Usage: ``python bench/sweep.py [--num-samples 8] [--max-epochs 6] [--seed 0] [--model cascade]``
from the project root (it needs the pipeline's data: ``dvc repro synthesize``).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEDULERS = ("asha", "fifo")


def summary(outcome: Any) -> dict[str, Any]:
    """The bench's numbers for one sweep outcome (:class:`tuning.runner.SweepOutcome`)."""
    done = [r for r in outcome.rows if r.outcome == "completed"]
    values = [r.value for r in done if not math.isnan(r.value)]
    return {"wall_s": round(outcome.wall_s, 1), "trials": len(done),
            "trials_stopped_early": sum(r.outcome == "stopped early" for r in outcome.rows),
            "epochs": sum(r.epochs for r in outcome.rows),
            "best_nme": round(min(values), 4) if values else None}


def table(results: dict[str, Any]) -> str:
    lines = [f"{'scheduler':<10} {'wall_s':>8} {'trials':>7} {'stopped':>8} {'epochs':>7} {'best_nme':>9}"]
    for name in SCHEDULERS:
        r = results[name]
        best = "-" if r["best_nme"] is None else f"{r['best_nme']:.4f}"
        lines.append(f"{name:<10} {r['wall_s']:>8.1f} {r['trials']:>7} {r['trials_stopped_early']:>8} "
                     f"{r['epochs']:>7} {best:>9}")
    lines.append(f"wall_ratio (asha / fifo): {results['wall_ratio']:.3f}")
    return "\n".join(lines)


def run_benchmark(cfg: dict, flags: dict[str, Any], workdir: Path, train_fn: Any = None) -> dict[str, Any]:
    """Both sweeps with the same flags; returns the ``sweep.json`` content."""
    from tuning.runner import run_sweep
    from tuning.settings import resolve

    cfg = copy.deepcopy(cfg)
    cfg["mlflow"]["tracking_uri"] = f"sqlite:///{workdir / 'mlflow.db'}"
    results: dict[str, Any] = {}
    for scheduler in SCHEDULERS:
        settings = resolve(cfg["tune"], {**flags, "scheduler": scheduler, "experiment": f"bench-{scheduler}",
                                         "storage_path": str(workdir / "storage"),
                                         "results_dir": str(workdir / "results"), "register": False})
        outcome = run_sweep(settings, cfg, train_fn=train_fn, verbose=0)
        if outcome.status != "finished":
            raise RuntimeError(f"the {scheduler} sweep did not finish ({outcome.status})")
        results[scheduler] = summary(outcome)
        print(f"{scheduler}: {json.dumps(results[scheduler])}", flush=True)
    results["wall_ratio"] = round(results["asha"]["wall_s"] / max(results["fifo"]["wall_s"], 1e-9), 3)
    results["settings"] = {k: getattr(settings, k) for k in ("model", "num_samples", "max_epochs", "seed",
                                                             "cpus_per_trial", "gpus_per_trial")}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("cascade", "dff"))
    parser.add_argument("--num-samples", type=int)
    parser.add_argument("--max-epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "sweep.json"))
    args = parser.parse_args(argv)

    from facealign.config import load_params
    from tuning.results import write_json

    cfg = load_params(args.params)
    flags = {"model": args.model, "num_samples": args.num_samples, "max_epochs": args.max_epochs,
             "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        results = run_benchmark(cfg, flags, Path(tmp))
    write_json(args.output, results)
    print(table(results))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
