"""Progress of a batch: a bar redrawn in place on a terminal, one line per submission otherwise."""
import sys
import time

from graders.batch.store import Status

BAR_WIDTH = 28


def duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def plural(count, noun):
    """`1 submission`, `2 submissions`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def describe(record):
    if record.status is Status.GRADED:
        restarted = f", its worker restarted {plural(record.restarts, 'time')}" if record.restarts else ""
        return f"{record.student}: graded {record.total:g}/{sum(record.max_scores.values()):g} in {record.seconds:.1f} s{restarted}"
    return f"{record.student}: {record.status}: {record.reason}"


class Progress:
    """Counts finished submissions; `update(record)` after each one.

    `failures`: submissions not graded (timeout, crashed, invalid); `restarted`: graded ones
    whose worker had to be restarted (a call timed out or crashed it), shown apart because
    their grade stands but deserves a look.
    """

    def __init__(self, total, stream=None, clock=time.monotonic):
        self.stream = stream or sys.stdout
        self.total, self.done, self.failures, self.restarted = total, 0, 0, 0
        self.judged = 0  # finished after a grading process ran (invalid ones take no time)
        self.clock = clock
        self.started = clock()
        self.interactive = self.stream.isatty()
        self._drawn = self.started

    def eta(self):
        if self.done >= self.total:
            return 0.0
        if not self.judged:
            return None
        return (self.clock() - self.started) / self.judged * (self.total - self.done)

    def status_line(self):
        eta = self.eta()
        return (
            f"{self.done}/{self.total} done, {self.failures} failed, "
            f"{f'{self.restarted} with worker restarts, ' if self.restarted else ''}elapsed {duration(self.clock() - self.started)}, "
            f"ETA {duration(eta) if eta is not None else '?'}"
        )

    def bar(self):
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.status_line()}"

    def update(self, record):
        self.done += 1
        self.failures += record.status is not Status.GRADED
        self.restarted += record.status is Status.GRADED and record.restarts > 0
        self.judged += record.status is not Status.INVALID
        if not self.interactive:
            self.stream.write(f"[{self.done}/{self.total}] {describe(record)} ({self.status_line()})\n")
            self.stream.flush()
            return
        if record.status is not Status.GRADED or record.restarts:
            self.stream.write("\r\033[K" + describe(record)[:500] + "\n")
        self._draw()

    def tick(self):
        """Redraw the bar (elapsed time moves on) at most once a second."""
        if self.interactive and self.total and self.clock() - self._drawn >= 1.0:
            self._draw()

    def _draw(self):
        self.stream.write("\r\033[K" + self.bar())
        self.stream.flush()
        self._drawn = self.clock()

    def start(self):
        if self.interactive and self.total:
            self._draw()

    def close(self):
        if self.interactive and self.total:
            self.stream.write("\n")
            self.stream.flush()
