"""What the hardware can do: the one bf16 probe that training and inference share.

bf16 pays off only where the math is native: CPUs with AVX-512 BF16 or AMX tiles, CUDA GPUs from
Ampere on. Elsewhere PyTorch emulates it and fp32 is faster (``benchmarks/bench_inference.py``).
"""

from __future__ import annotations

import torch

__all__ = ["bf16_native"]


def bf16_native(device: torch.device | str) -> bool:
    """Whether bf16 math is native on ``device``: AVX-512 BF16 or AMX on the CPU, CUDA from Ampere on."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [c for c in checks if c is not None]
    if checks:
        return any(bool(c()) for c in checks)
    try:  # older torch without those probes: oneDNN's own answer
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
