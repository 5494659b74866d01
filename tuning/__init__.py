"""Ray Tune sweeps over learning-rate schedules for the cascade and DFF families.

``python tuning/sweep.py`` (see :mod:`tuning.cli`) runs a sweep on a laptop or on a Ray
cluster.  One concept per module:

- :mod:`tuning.settings`: the sweep's settings (``tune:`` in ``params.yaml`` + flags).
- :mod:`tuning.search_space`: the search space, declared in one readable place.
- :mod:`tuning.families`: one object per model family (its ``train``, trial config, inputs).
- :mod:`tuning.reporting`: Lightning callbacks that report each epoch to Tune / Train.
- :mod:`tuning.trainable`: the trial function (one process, or DDP over Ray Train).
- :mod:`tuning.schedulers`: ASHA / PBT / FIFO and the seeded search algorithm.
- :mod:`tuning.cluster`: joining Ray and fitting trials to the cluster's resources.
- :mod:`tuning.mlflow_logging`: the driver-side MLflow writer (parent + child runs).
- :mod:`tuning.progress`: one console line per trial event.
- :mod:`tuning.results`: the results table, the best trial and ``best.json``.
- :mod:`tuning.registration`: logging and registering the best trial's model.
- :mod:`tuning.runner`: one sweep from start (or resume) to finish.
- :mod:`tuning.cli`: the command line of ``tuning/sweep.py``.
"""
