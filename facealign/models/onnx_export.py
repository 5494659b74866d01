"""Write a torch network as an ONNX model with a dynamic batch axis.

The network is traced (TorchScript-based exporter, opset :data:`OPSET`) in eval mode at
one example shape; axis 0 of the input and of the output is named ``batch`` and left free,
the other axes are fixed at the example's sizes.  The written model is checked with
``onnx.checker`` and then run once on ONNX Runtime against the torch output: a model that
does not reproduce the network is never left behind.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceio.atomic import atomic_path

OPSET = 17
INPUT, OUTPUT = "input", "output"


def export_onnx(module: nn.Module, example: torch.Tensor, path: str | Path, atol: float = 1e-4) -> Path:
    """Export ``module`` (traced on ``example`` (B, ...) float32) to ``path``, atomically.

    Args:
        module: the network (put in eval mode; not modified otherwise).
        example: an input of the shape to trace; only its batch axis stays dynamic.
        path: the ``.onnx`` file to write.
        atol: the largest difference allowed between ONNX Runtime's and torch's output on
            ``example`` and on a batch of two (checks the dynamic batch axis).
    Returns:
        ``path``.
    """
    import onnx

    from facealign.models.runners import OnnxRunner

    module = module.eval()
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter-deprecation warnings: checked below
        torch.onnx.export(module, (example,), str(tmp), input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
        onnx.checker.check_model(onnx.load(str(tmp)))
        runner = OnnxRunner(tmp, threads=1, providers=["CPUExecutionProvider"])
        batch = torch.cat([example[:1], example[:1].flip(-1)])
        for x in (example, batch):
            with torch.inference_mode():
                want = module(x).float().numpy()
            got = runner(x.numpy())
            if got.shape != want.shape or not np.allclose(got, want, atol=atol, rtol=0):
                err = float(np.abs(got - want).max()) if got.shape == want.shape else got.shape
                raise ValueError(f"{path}: ONNX Runtime output differs from torch's (max {err})")
    return path
