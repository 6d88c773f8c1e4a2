"""How fast the machine is right now, so that benchmark runs on shared cores can be compared.

Cloud cores can change speed by 2x over a day; a benchmark prints this before and after its runs.
"""

from __future__ import annotations

import time


def matmul_gflops(threads: int, repeats: int = 10) -> float:
    """float32 GFLOP/s of a 512 x 4096 x 4096 product on ``threads`` threads: the machine's speed now."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(512, 4096), torch.randn(4096, 4096)
    a @ b  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 512 * 4096 * 4096 * repeats / (time.perf_counter() - started) / 1e9
