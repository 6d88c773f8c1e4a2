"""How fast the machine is right now, so that benchmark runs on shared cores can be compared.

Cloud cores can change speed by 2x over a day; a benchmark prints this before and after its runs.
"""

from __future__ import annotations

import time

# (m, k, n) of the timed product: big enough to reach a device's matmul rate, small enough to be quick
SHAPES = {"cpu": (512, 4096, 4096), "cuda": (8192, 8192, 8192)}


def matmul_gflops(
    threads: int,
    repeats: int = 10,
    device: str = "cpu",
    dtype: str = "float32",
    shape: tuple[int, int, int] | None = None,
) -> float:
    """GFLOP/s of ``repeats`` products of random ``dtype`` matrices on ``device`` (CPU: 512 x 4096 x 4096 on
    ``threads`` threads; CUDA: 8192³; or ``shape``), after a warm-up: the machine's speed now."""
    import torch

    torch.set_num_threads(threads)
    kind = torch.device(device).type
    m, k, n = shape or SHAPES[kind]
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


PROBE_SHAPE = (256, 1024, 1024)  # a half-precision product without matrix instructions takes ~1 s at this size
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "amx_tile")


def cpu_facts() -> dict:
    """The CPU's model name and which of the flags that decide half-precision speed it has (Linux)."""
    try:
        first = open("/proc/cpuinfo", encoding="utf-8").read().split("\n\n")[0]
    except OSError:
        return {"cpu": "unknown", "flags": []}
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name", "unknown"), "flags": [flag for flag in CPU_FLAGS if flag in flags]}


def machine_facts(threads: int, device: str = "cpu") -> dict:
    """What decides whether bfloat16 pays here, as found: the CPU and its flags, oneDNN's bfloat16 support,
    and the matmul rate in float32 and bfloat16 (a small probe first: without matrix instructions one
    product of the standard shape would take minutes)."""
    import torch

    from interpflow.models.devices import has_fast_half_precision

    facts = {**cpu_facts(), "device": device, "threads": threads, "torch": torch.__version__}
    facts["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    facts["mkldnn"] = torch.backends.mkldnn.is_available()
    facts["fast_bfloat16"] = has_fast_half_precision(device, torch.bfloat16)
    facts["matmul_gflops_float32"] = matmul_gflops(threads, device=device)
    probe = matmul_gflops(threads, repeats=1, device=device, dtype="bfloat16", shape=PROBE_SHAPE)
    facts["matmul_gflops_bfloat16"] = matmul_gflops(threads, device=device, dtype="bfloat16") if probe > 20 else probe
    return facts


def describe(facts: dict) -> str:
    """One line of :func:`machine_facts` for a benchmark's output."""
    flags = ", ".join(facts["flags"]) or "none of " + ", ".join(CPU_FLAGS)
    return (
        f"{facts['cpu']} ({flags}; torch {facts['torch']} {facts['cpu_capability']}, oneDNN bfloat16 "
        f"{'yes' if facts['fast_bfloat16'] else 'no'}) on {facts['device']}, {facts['threads']} threads: matmul "
        f"{facts['matmul_gflops_float32']:.0f} GFLOP/s float32, {facts['matmul_gflops_bfloat16']:.1f} bfloat16 "
        f"({facts['matmul_gflops_bfloat16'] / facts['matmul_gflops_float32']:.2f}x)"
    )
