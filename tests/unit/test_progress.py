"""Progress lines of long stages: counts, rate and time left, throttled to one line per interval."""

import logging

from interpflow.runtime.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_logs_first_step_then_once_per_interval_and_the_last(caplog):
    clock = FakeClock()
    progress = Progress(10, "layers", "intervened at", logging.getLogger("test"), interval=5.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test"):
        for _ in range(10):
            clock.now += 2.0  # two seconds a layer
            progress.advance()
    lines = [record.getMessage() for record in caplog.records]
    # steps end at t = 2, 4, ..., 20: logged at 2 (first), 8 and 14 (>= 5 s later), and 20 (last)
    assert lines == [
        "intervened at 1/10 layers (10%), 0.5 layers/s, 18 s left",
        "intervened at 4/10 layers (40%), 0.5 layers/s, 12 s left",
        "intervened at 7/10 layers (70%), 0.5 layers/s, 6 s left",
        "intervened at 10/10 layers (100%), 0.5 layers/s, 0 s left",
    ]


def test_note_and_several_steps_at_once(caplog):
    clock = FakeClock()
    progress = Progress(4, "texts", "extracted", logging.getLogger("test"), clock=clock)
    with caplog.at_level(logging.INFO, logger="test"):
        clock.now += 0.5
        progress.advance(4, note="batch of 4")
    assert [r.getMessage() for r in caplog.records] == ["extracted 4/4 texts (100%), 8 texts/s, 0 s left; batch of 4"]
