"""Inference speed of DFF-SDM (and SIFT-SDM when fitted) on this machine, one face per call.

Times the saved aligners on the first ``--n`` synthetic test images with their benchmark
boxes (see :mod:`facealign.sdm.timing`): ``p50_ms`` / ``p99_ms`` per face, ``extract_ms``
(descriptor extraction per image) and ``iteration_ms`` (one SDM iteration), beside the DFF
paper's GTX 1070 figures (about 5 ms extraction, 8.8 ms per iteration).  Writes the
``dff_sdm`` (and ``sift_sdm``) sections of ``bench/results/infer.json``, keeping the other
sections of that file.

Usage: ``python bench/infer_dff_sdm.py [--model models/dff_sdm] [--data data/synthetic/test]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "dff_sdm"))
    parser.add_argument("--sift-model", default=str(REPO / "models" / "sift_sdm"))
    parser.add_argument("--data", default=str(REPO / "data" / "synthetic" / "test"))
    parser.add_argument("--n", type=int, default=60, help="faces timed per aligner")
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "infer.json"))
    args = parser.parse_args(argv)

    from facealign.sdm.timing import time_saved_aligner, write_section

    for section, model in (("dff_sdm", args.model), ("sift_sdm", args.sift_model)):
        if not (Path(model) / "aligner.json").is_file():
            print(f"{section}: no aligner at {model} (run `dvc repro fit_{section}`), skipped")
            continue
        result = time_saved_aligner(model, args.data, args.n)
        write_section(args.output, section, result)
        print(f"{section}: {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
