"""Starting a workflow stage: its log file under ``logs/``, its usage line, its provenance."""

from __future__ import annotations

import atexit
import logging
import os
import re
import resource
import sys
import time
import traceback

from interpflow.runtime.atomic_io import exit_on_sigterm

# Environment the jobs start with (set by the Snakefile, kept where the user set it): MKL in
# conditional-numerical-reproducibility mode, so that a product gives the same bits in every process
# on a machine at a given thread count, and with a fixed thread count (MKL_DYNAMIC=FALSE: MKL may not
# use fewer threads than it is given), the two conditions of Intel's "Reproducibility Conditions".
# benchmarks/thread_determinism.py checks them: 100 fresh two-thread extractions under load, the same bits.
NUMERICS_ENVIRONMENT = {"MKL_CBWR": "AUTO", "MKL_DYNAMIC": "FALSE"}


def log_to(log_file: str) -> logging.Logger:
    """Send INFO and above to ``log_file`` and stderr; uncaught errors are logged before exit.

    Every stage calls this first, so it is also where a stage learns to stop cleanly on SIGTERM.
    """
    exit_on_sigterm()
    handlers = [logging.FileHandler(log_file, mode="w"), logging.StreamHandler(sys.stderr)]
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.captureWarnings(True)

    def log_uncaught(kind, value, tb):
        logging.getLogger("interpflow").error("stage failed:\n%s", "".join(traceback.format_exception(kind, value, tb)))

    sys.excepthook = log_uncaught
    start_up = process_age_s()
    atexit.register(log_usage, logging.getLogger("interpflow.stage"), time.perf_counter() - start_up, start_up)
    return logging.getLogger("interpflow.stage")


def start_stage(snakemake) -> logging.Logger:
    """Start a workflow stage: log to its log file (:func:`log_to`), lock its outputs against other
    writers (:mod:`interpflow.runtime.output_locks`), refuse a damaged input and record the hash of every
    output it writes (:mod:`interpflow.runtime.output_records`), compute on the rule's ``threads``
    (:func:`compute_on_threads`) and store its provenance (:mod:`interpflow.runtime.provenance`) in every
    Parquet and safetensors file it writes."""
    from interpflow.runtime import atomic_io, output_locks, output_records, provenance

    log = log_to(snakemake.log[0])
    try:
        output_locks.hold(snakemake.output, rule=snakemake.rule)
    except output_locks.OutputsBeingWritten as busy:
        log.error("refused to start: %s", busy)
        raise SystemExit(1) from None
    damaged = output_records.damaged_inputs(str(path) for path in snakemake.input)
    if damaged:  # damaged after the run's start-up check (which sets damaged outputs aside)
        for damage in damaged:
            log.error("input %s; %s", damage.describe(), damage.rebuild())
        raise SystemExit(1)
    output_records.start_recording(snakemake.rule, [str(path) for path in snakemake.input])
    compute_on_threads(snakemake.threads)
    numerics = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in NUMERICS_ENVIRONMENT)
    log.info("computing on %d thread(s); %s", snakemake.threads, numerics)
    atomic_io.set_provenance(provenance.encode(provenance.stage_record(snakemake)))
    return log


def export_numerics_environment() -> None:
    """Set :data:`NUMERICS_ENVIRONMENT` for the jobs this process starts, where not set already.

    Libraries read these variables when they load, so they go in the environment the job processes
    start with (local jobs and, through ``sbatch``'s exported environment, cluster jobs)."""
    for name, value in NUMERICS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def compute_on_threads(threads: int) -> None:
    """Give every thread pool of this process (BLAS, OpenMP, torch's intra-op pool) ``threads`` threads.

    Left alone, OpenMP and BLAS size themselves from the CPUs they can see: all of a laptop's cores,
    one core of a SLURM allocation. Some kernels sum in an order that depends on the thread count
    (scikit-learn's k-means, for one), so the same stage would give different bytes locally and on
    a cluster; the rule's declared ``threads`` makes the count part of the configuration.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


USAGE = re.compile(
    r"stage used: wall (?P<wall_s>[\d.]+) s \(start-up and imports (?P<start_up_s>[\d.]+) s\), "
    r"peak RSS (?P<peak_rss_mib>\d+) MiB"
)


def process_age_s() -> float:
    """Seconds since this process started (interpreter start-up and imports included); 0 if unknown."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return float(uptime.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_mib() -> int:
    """Peak resident memory of this process, or of a child it waited for if larger, in MiB.

    Linux's ``ru_maxrss`` keeps the high-water mark of the process that forked this one (snakemake),
    so the process's own peak comes from ``VmHWM`` in /proc/self/status where there is one.
    """
    own = _vm_hwm_kib() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024


def _vm_hwm_kib() -> int | None:
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def log_usage(log: logging.Logger, started: float, start_up: float) -> None:
    """The stage's last log line (see :data:`USAGE`): wall time since the process started, the part of it
    spent before the stage's work began (interpreter start-up and imports), and peak memory."""
    wall = time.perf_counter() - started
    log.info("stage used: wall %.2f s (start-up and imports %.2f s), peak RSS %d MiB", wall, start_up, peak_rss_mib())


def stage_usage(log_file: str) -> dict[str, float] | None:
    """``{"wall_s", "start_up_s", "peak_rss_mib"}`` from a stage's log file; None when the stage did not finish."""
    with open(log_file, encoding="utf-8") as text:
        found = list(USAGE.finditer(text.read()))
    return {name: float(value) for name, value in found[-1].groupdict().items()} if found else None
