"""Ray Tune sweeps over learning-rate schedules: the command line of ``python tuning/sweep.py``.

Defaults come from the ``tune:`` section of ``params.yaml``; flags override them.  Run it
from the project root (where ``params.yaml``, the data and ``mlflow.db`` are).
"""

from __future__ import annotations

import argparse
import sys

from facealign.config import ConfigError, load_params
from tuning.cluster import ClusterError
from tuning.settings import MODELS, SCHEDULERS, SettingsError, resolve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tuning/sweep.py", description=__doc__.splitlines()[0],
        epilog="Cluster: `ray start --head` on one node, `ray start --address HEAD:6379` on the others, "
               "then `ray job submit --address http://HEAD:8265 -- python tuning/sweep.py ...` "
               "(see docs/tuning.md).")
    add = parser.add_argument
    add("--model", choices=MODELS, help="model family to tune (tune.model)")
    add("--num-samples", type=int, help="trials to sample from the search space (tune.num_samples)")
    add("--max-epochs", type=int, help="epochs per trial, per cascade stage (tune.max_epochs)")
    add("--cpus-per-trial", type=float, help="CPUs per trial (tune.cpus_per_trial)")
    add("--gpus-per-trial", type=float, help="GPUs per trial, fractions share a GPU (tune.gpus_per_trial)")
    add("--workers-per-trial", type=int,
        help="data-parallel (DDP) workers per trial via Ray Train; the trial's CPUs/GPUs are split "
             "among them (tune.workers_per_trial)")
    add("--scheduler", choices=SCHEDULERS, help="trial scheduler (tune.scheduler)")
    add("--address", help="join this Ray cluster instead of starting a local one (RAY_ADDRESS)")
    add("--experiment", help="sweep name: results in tuning/results/NAME, MLflow experiment NAME "
                             "(default: sweep-MODEL)")
    add("--resume", action="store_true", help="continue the interrupted sweep named by --experiment")
    add("--seed", type=int, help="seed of the search and of the trials (tune.seed)")
    add("--storage-path", help="where Tune keeps trial state: a folder, or s3://... / NFS on a cluster "
                               "(tune.storage_path)")
    add("--space", dest="space_file", help="YAML file laid over the default search space (tune.space_file)")
    add("--max-concurrent-trials", type=int, help="cap on trials at once (default: what the cluster fits)")
    add("--no-register", dest="register", action="store_false", default=None,
        help="do not register the best model in the MLflow registry")
    add("--params", default="params.yaml", help="parameter file (default: %(default)s)")
    add("--preset", help="preset of params.yaml to start from")
    add("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a pipeline parameter, e.g. --set tune.asha.grace_period=2 (repeatable)")
    add("-v", "--verbose", type=int, default=1, choices=(0, 1, 2, 3),
        help="0 quiet, 1 a line per trial event, 2 Tune's status tables, 3 every result (default: 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 done, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        cfg = load_params(args.params, args.overrides, args.preset)
        flags = {k: v for k, v in vars(args).items()
                 if k not in ("params", "preset", "overrides", "verbose", "resume")}
        settings = resolve(cfg.get("tune") or {}, flags)
        from tuning.runner import run_sweep

        outcome = run_sweep(settings, cfg, resume=args.resume, verbose=args.verbose)
    except (ConfigError, SettingsError, ClusterError, FileNotFoundError, ValueError) as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweep: interrupted; continue it with --resume", file=sys.stderr)
        return 130
    print(f"\n{outcome.table}\n")
    name = settings.experiment
    if outcome.status == "interrupted":
        print(f"sweep {name!r} interrupted after {outcome.wall_s:.0f} s; its state is saved in "
              f"{outcome.experiment_path}.")
        print(f"continue it with: python tuning/sweep.py --experiment {name} --resume")
        return 130
    print(f"sweep {name!r} finished in {outcome.wall_s:.0f} s")
    if outcome.best:
        best = outcome.best
        print(f"best trial {best['trial_id']}: {best['metric']} {best[best['metric']]:.4f} "
              f"(MLflow run {best.get('mlflow_run_id')})")
        if best.get("version"):
            print(f"registered {best['model_uri']} as a candidate; promote with `facealign promote`")
        print(f"details: {settings.experiment_dir / 'best.json'}")
    else:
        print("no trial completed, so there is no best model")
    print("compare the trials: mlflow ui --backend-store-uri "
          f"{outcome.state.get('tracking_uri', 'sqlite:///mlflow.db')}")
    return 0
