"""``facealign serve``: the HTTP service (FastAPI on uvicorn) for a registry model.

With an alias URI (``models:/face-alignment@champion``) the service follows the alias:
every ``serve.poll_interval_s`` (and on ``POST /v1/reload``) it re-resolves it and swaps a
newly promoted version in without failing a request.  Binds to 127.0.0.1 unless told
otherwise.  See serving/README.md for the endpoints.
"""

from __future__ import annotations

import argparse

HELP = "serve a model over HTTP: POST /v1/align, GET /healthz, GET /v1/model, GET / (upload page)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="models:/face-alignment@champion",
                        help="registry URI, aligner directory or mean-shape (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument("--poll-interval", type=float,
                        help="seconds between alias checks, <= 0 for never (default: serve.poll_interval_s)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace, cfg: dict) -> int:
    import logging

    import mlflow
    import uvicorn

    from facealign import tracking
    from serving.app import create_app
    from serving.holder import ModelHolder, load_ref
    from serving.limits import ServeSettings

    section = dict(cfg.get("serve") or {})
    settings = ServeSettings.from_section(section)
    if args.poll_interval is not None:
        settings = ServeSettings(**{**settings.__dict__, "poll_interval_s": args.poll_interval})
    threads = int(section.get("threads_per_request", 1))
    if threads > 0:
        # Requests run in parallel threads.  Multi-threaded BLAS / OpenMP / torch pools under
        # many caller threads oversubscribe the cores and OpenBLAS serialises its callers:
        # with 16 clients on 2 cores one thread each is ~20x faster (cascade).
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
    mlflow.set_tracking_uri(tracking.tracking_uri(cfg))
    face_model = cfg["paths"]["face_model"]
    holder = ModelHolder(args.model, settings.poll_interval_s,
                         loader=lambda ref: load_ref(ref, face_model))
    loaded = holder.load_initial()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    info = loaded.ref.describe()
    print(f"serving {args.model} (version {info['version']}, family {info['family']}, "
          f"NME {info['nme_mean']}) on http://{args.host}:{args.port}/  (docs: /docs)", flush=True)
    app = create_app(holder, settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0
