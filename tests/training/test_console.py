"""Lightning's console chatter is quieted for command-line trainings."""

from __future__ import annotations

import logging
import warnings

from training.console import quiet_lightning


def test_banners_go_below_warning_and_known_chatter_is_filtered() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning()
        warnings.warn("Checkpoint directory /x/ckpt exists and is not empty.", UserWarning, stacklevel=1)
        warnings.warn("something else", UserWarning, stacklevel=1)
    assert logging.getLogger("pytorch_lightning").level == logging.WARNING
    assert [str(w.message) for w in caught] == ["something else"]
