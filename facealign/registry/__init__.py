"""The MLflow model registry side of facealign.

* :mod:`~facealign.registry.pyfunc`: the pyfunc wrapping any aligner directory, and
  :func:`~facealign.registry.pyfunc.load_aligner_from_uri` for ``models:/`` / ``runs:/`` URIs.
* :mod:`~facealign.registry.register`: :func:`log_and_register` (log + register + tag).
* :mod:`~facealign.registry.candidates`: the pipeline's aligners as versions.
* :mod:`~facealign.registry.promote` / :mod:`~facealign.registry.alias`: NME-based alias
  moves with a recorded history, rollback, and the lock that serialises them.
* :mod:`~facealign.registry.info`: resolving a model URI to name / version / tags.

Nothing is imported here beyond this docstring: MLflow loads only when used.
"""

from __future__ import annotations

from typing import Any


def log_and_register(*args: Any, **kwargs: Any) -> str:
    """See :func:`facealign.registry.register.log_and_register`."""
    from facealign.registry.register import log_and_register as impl

    return impl(*args, **kwargs)
