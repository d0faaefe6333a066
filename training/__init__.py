"""Thin Ray Train / Ray Tune entrypoints: a config in, `c360.models.train.train_model` (or `tune_model`
with `--tune`; `c360.recs.train.train_recs` / `c360.recs.tune.tune_recs` for recs), the result registered in
the workspace's model registry.

Each `training/<model>.py` runs as a module, locally or as a Ray job:

    python -m training.churn --config training/configs/churn.yaml -w path/to/workspace
    ray job submit --working-dir . -- python -m training.churn --config training/configs/churn.yaml

Under `ray job submit` the job's driver joins the cluster it was submitted to (RAY_ADDRESS); run plainly it
starts a local Ray the way every c360 stage does (`c360.runtime.ensure_ray`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(model: str, argv: list[str] | None = None) -> int:
    """Parse the entrypoint's arguments, train (or tune) `model`, print the result; returns an exit code
    (c360's: 2 for a bad config, 3 for something missing, ...)."""
    parser = argparse.ArgumentParser(prog=f"python -m training.{model}", description=f"Train {model}.")
    parser.add_argument("--config", "-c", type=Path, help="training config YAML (training/configs/*.yaml)")
    parser.add_argument("--workspace", "-w", type=Path, default=Path("."), help="workspace with c360.yaml")
    parser.add_argument("--tune", action="store_true", help="run the config's Ray Tune search instead")
    parser.add_argument("--promote", action="store_true", help="with --tune: make the best trial champion")
    args = parser.parse_args(argv)

    from rich.console import Console

    from c360.errors import C360Error
    from c360.workspace import Workspace

    console = Console()
    try:
        ws = Workspace.load(args.workspace)
        if model == "recs":  # trained on purchases before a held-out window, not on feature-service cutoffs
            if args.tune:
                from c360.recs.tune import print_result, tune_recs

                print_result(tune_recs(ws, args.config, promote=args.promote), console)
            else:
                from c360.recs.train import print_result, train_recs

                print_result(train_recs(ws, args.config), console)
        elif args.tune:
            from c360.models.tune import print_result, tune_model

            print_result(tune_model(ws, model, args.config, promote=args.promote), console)
        else:
            from c360.models.train import print_result, train_model

            print_result(train_model(ws, model, args.config), console)
    except C360Error as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    return 0
