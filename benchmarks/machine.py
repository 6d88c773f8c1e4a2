"""How fast the machine is right now, so that benchmark runs on shared cores can be compared.

Cloud cores can change speed by 2x over a day; a benchmark prints this before and after its runs.
"""

from __future__ import annotations

import time

# (m, k, n) of the timed product: big enough to reach a device's matmul rate, small enough to be quick
SHAPES = {"cpu": (512, 4096, 4096), "cuda": (8192, 8192, 8192)}


def matmul_gflops(threads: int, repeats: int = 10, device: str = "cpu", dtype: str = "float32") -> float:
    """GFLOP/s of ``repeats`` products of random ``dtype`` matrices on ``device`` (CPU: 512 x 4096 x 4096 on
    ``threads`` threads; CUDA: 8192³), after a warm-up: the machine's speed now."""
    import torch

    torch.set_num_threads(threads)
    kind = torch.device(device).type
    m, k, n = SHAPES[kind]
    a = torch.randn(m, k, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(k, n, device=device, dtype=getattr(torch, dtype))
    a @ b  # warm-up
    synchronize = torch.cuda.synchronize if kind == "cuda" else (lambda: None)
    synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize()
    return 2 * m * k * n * repeats / (time.perf_counter() - started) / 1e9
