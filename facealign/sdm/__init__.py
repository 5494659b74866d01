"""DFF-SDM and SIFT-SDM: cascaded linear regression on local descriptors with a 3DMM fit.

Modules, one concept each:

* :mod:`~facealign.sdm.settings` - the ``sdm`` section of ``params.yaml``.
* :mod:`~facealign.sdm.landmark_set` - the 160 landmark vertices (iBUG-68 + farthest points).
* :mod:`~facealign.sdm.crops` - square face crops, the frame the SDM works in.
* :mod:`~facealign.sdm.descriptors` - descriptors sampled at projected points (DFF, SIFT).
* :mod:`~facealign.sdm.shape_fit` - cameras from boxes and the regularised shape fit.
* :mod:`~facealign.sdm.state` - the per-iteration state and its update, shared by
  training and inference.
* :mod:`~facealign.sdm.regression` - closed-form ridge regression (cross-validated) and
  the cascade of descent maps.
* :mod:`~training.sdm_data` - training faces with their ground truth.
* :mod:`~training.sdm` - ``train(cfg, descriptor)``, the fit entry point.
* :mod:`~training.sdm_validation` - held-out validation metrics and plots.
* :mod:`~facealign.aligners.sdm_timing` - inference timings for ``bench/infer.py``.

The aligner itself (``SDMAligner`` / ``DFFAligner``) is :mod:`facealign.aligners.sdm`.
"""
