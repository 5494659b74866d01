"""A network as a numpy function: PyTorch module or ONNX Runtime session behind one call.

The aligners' inference loops hand a float32 array with a leading batch axis to a runner
and get float32 arrays back; which runtime computes it is the runner's business:

* :class:`TorchRunner`: a module (an inference copy with batch norms folded, see
  :mod:`facealign.models.fused_net`) under ``torch.inference_mode`` on a torch device;
* :class:`OnnxRunner`: an ``.onnx`` file on ONNX Runtime, CUDA provider first where the
  installed ``onnxruntime`` has it, else CPU (``onnxruntime`` is imported when one is made).

Both are safe to call from several threads at once (torch modules in eval mode and ORT
sessions are; neither keeps per-call state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


class Runner(Protocol):
    """``runner(x)``: (B, ...) float32 -> (B, ...) float32; ``device`` says where it runs."""

    device: str

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class TorchRunner:
    """A torch module in inference mode on ``device``, numpy in and out."""

    def __init__(self, module: nn.Module, device: str | torch.device = "cpu") -> None:
        self.torch_device = torch.device(device)
        self.module = module.to(self.torch_device).eval()
        self.device = str(self.torch_device)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.torch_device))
        return out.float().cpu().numpy()


def onnx_providers(available: list[str] | None = None) -> list[str]:
    """The ONNX Runtime providers to use, best first: CUDA where present, always CPU."""
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    return [p for p in PREFERRED_PROVIDERS if p in available] or ["CPUExecutionProvider"]


class OnnxRunner:
    """An ONNX model with one input and one output on ONNX Runtime.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (default: torch's current setting, so that one knob,
            ``torch.set_num_threads``, sets both runtimes).
        providers: execution providers (default: :func:`onnx_providers`).
    """

    def __init__(self, path: str | Path, threads: int | None = None,
                 providers: list[str] | None = None) -> None:
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX model missing")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads if threads is not None else torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = onnxruntime.InferenceSession(str(path), options,
                                                        providers=providers or onnx_providers())
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ValueError(f"{path}: not a loadable ONNX model ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.device = f"onnxruntime:{self.session.get_providers()[0]}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]
