"""faceeval: the evaluation protocol (NME, yaw bins, metrics JSON, CED, overlay grids).

Depends only on numpy (and matplotlib, imported lazily when a PNG is drawn), so that every
other facealign package can import it. Units: per-image NME as fractions, reports in percent,
yaw in degrees, landmarks in pixels.
"""

from faceeval.nme import (
    AFLW21_FROM_68,
    BIN_NAMES,
    INNER_68,
    YAW_BINS,
    NMEReport,
    box_size,
    map_68_to_21,
    nme_aflw21,
    nme_inner_visible,
    nme_per_image,
    summarize,
    yaw_bin_index,
)
from faceeval.report import (
    CED_CSV_HEADER,
    ced_auc,
    ced_curve,
    format_table,
    write_ced,
    write_metrics,
    write_overlay_grid,
)

__all__ = [
    "AFLW21_FROM_68",
    "BIN_NAMES",
    "CED_CSV_HEADER",
    "INNER_68",
    "YAW_BINS",
    "NMEReport",
    "box_size",
    "ced_auc",
    "ced_curve",
    "format_table",
    "map_68_to_21",
    "nme_aflw21",
    "nme_inner_visible",
    "nme_per_image",
    "summarize",
    "write_ced",
    "write_metrics",
    "write_overlay_grid",
    "yaw_bin_index",
]
