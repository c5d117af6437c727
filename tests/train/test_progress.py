"""Live progress: a run and a ``--jobs 2`` sweep in a pseudo-terminal show it/s and ETA lines while they train;
off a TTY the display is quiet unless asked for, and then writes at most one line per ~10%."""
import io
import os
import pty
import re
import select
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.train.options import EXECUTION_OPTIONS, resolve
from benchmark.train.progress import ProgressDisplay, QueueReporter, format_duration, progress_enabled, progress_line

ROOT = Path(__file__).resolve().parents[2]


def run_in_pty(argv: list[str], timeout: float = 400) -> list[tuple[float, str]]:
    """Run ``python -m benchmark argv`` on a pseudo-terminal; ``(seconds since start, text)`` chunks it wrote."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    env.pop("CI", None)
    pid, fd = pty.fork()
    if pid == 0:                                       # child: the CLI with the pty as its terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "benchmark", *argv], env)
    chunks, t0 = [], time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:                            # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append((time.monotonic() - t0, data.decode(errors="replace")))
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return chunks


def first_time(chunks, pattern: str) -> float | None:
    text, times = "", []
    for t, c in chunks:
        text += c
        times.append((len(text), t))
    m = re.search(pattern, text)
    if not m:
        return None
    return next(t for end, t in times if end >= m.end())


def test_run_in_a_terminal_shows_live_progress_with_eta(tmp_path):
    chunks = run_in_pty(["run", "--variant", "nsgan", "--data", "ring8", "--iterations", "400", "--log-every", "16",
                         "--wandb", "disabled", "--save-samples", "0", "--fuse-iterations", "8",
                         "--results-dir", str(tmp_path)])
    text = "".join(c for _, c in chunks)
    assert "completed after 400 iterations" in text, text[-2000:]
    updates = re.findall(r"\r\x1b\[Kit (\d+)/400 \(\s*\d+%\) [\d,]+ it/s elapsed [\d:]+ ETA [\d:]+", text)
    assert updates, text[-2000:]
    t_progress = first_time(chunks, r"it \d+/400 .*?ETA [\d:]+")
    t_done = first_time(chunks, "completed after")
    assert t_progress < t_done                         # seen while training, not at the end
    assert re.search(r"ETA [\d:]+ D -?[\d.]+ G -?[\d.]+", text)     # the latest losses, once history has a row


def test_sweep_with_two_jobs_shows_a_heartbeat_before_the_first_run_ends(tmp_path):
    sweep = tmp_path / "tiny.yaml"
    # long enough (~5 s each on an idle 2-core CPU) that the workers report iterations before a run ends
    sweep.write_text("name: tiny\niterations: 3000\nseeds: [0, 1]\nvariants: [nsgan]\ndatasets: [ring8]\n"
                     "options: {wandb: disabled, save_samples: 0, log_every: 10}\n")
    chunks = run_in_pty(["sweep", str(sweep), "--jobs", "2", "--results-dir", str(tmp_path / "results")])
    text = "".join(c for _, c in chunks)
    assert "[2/2] nsgan" in text, text[-2000:]
    t_beat = first_time(chunks, r"0/2 runs done, 2 running, elapsed [\d:]+, ETA")
    t_first = first_time(chunks, r"\[1/2\] nsgan")
    assert t_beat is not None and t_beat < t_first
    # the workers report iterations, so a real ETA appears while both train
    assert re.search(r"0/2 runs done, 2 running \(\d+/3000, \d+/3000 it\), elapsed [\d:]+, ETA \d+:\d\d", text)


class FakeModule:
    def __init__(self, total):
        self.iteration, self.cfg, self.history = 0, SimpleNamespace(iterations=total), []


def drive(display, total, zero=True):
    trainer, module = SimpleNamespace(is_global_zero=zero), FakeModule(total)
    display.on_train_start(trainer, module)
    for i in range(total):
        module.iteration = i + 1
        if (i + 1) % 10 == 0:
            module.history.append({"iteration": i + 1, "d_loss": 1.25, "g_loss": 0.5})
        display.on_train_batch_end(trainer, module, None, None, i)
    display.on_train_end(trainer, module)


def test_off_a_terminal_progress_on_writes_at_most_one_line_per_tenth():
    out = io.StringIO()
    drive(ProgressDisplay(stream=out, tty=False), 1000)
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 10 and "\r" not in out.getvalue()
    assert lines[-1].startswith("it 1000/1000 (100%)") and "D 1.25 G 0.5" in lines[-1]


def test_terminal_redraws_are_rate_limited_and_only_rank_zero_prints():
    out = io.StringIO()
    drive(ProgressDisplay(stream=out, tty=True, min_interval=3600), 1000)
    assert out.getvalue().count("\r\x1b[K") <= 3       # start, one due redraw, the final clear
    quiet = io.StringIO()
    drive(ProgressDisplay(stream=quiet, tty=True, min_interval=0), 100, zero=False)
    drive(ProgressDisplay(stream=quiet, tty=False), 100, zero=False)
    assert quiet.getvalue() == ""


def test_queue_reporter_sends_iterations():
    import queue

    q = queue.Queue()
    drive(QueueReporter(q, "run A", min_interval=0), 50)
    items = [q.get_nowait() for _ in range(q.qsize())]
    assert items[0][:3] == ("run A", 0, 50) and items[-1][:3] == ("run A", 50, 50)


def test_auto_mode_is_quiet_off_a_terminal_and_under_ci(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    assert progress_enabled("auto", Tty()) and not progress_enabled("auto", io.StringIO())
    assert progress_enabled("on", io.StringIO()) and not progress_enabled("off", Tty())
    monkeypatch.setenv("CI", "true")
    assert not progress_enabled("auto", Tty())


def test_progress_is_an_execution_option_and_is_validated():
    from models import ConfigError

    assert "progress" in EXECUTION_OPTIONS
    assert resolve({"progress": "on"}).config() == resolve({"progress": "off"}).config()
    with pytest.raises(ConfigError, match="progress='sometimes'"):
        resolve({"progress": "sometimes"})


def test_progress_line_and_durations():
    assert format_duration(75) == "1:15" and format_duration(3725) == "1:02:05" and format_duration(None) == "?"
    line = progress_line(250, 1000, 50.0, {"d_loss": 1.0, "g_loss": 2.0}, "lbl", elapsed=5)
    assert line == "lbl it 250/1000 ( 25%) 50 it/s elapsed 0:05 ETA 0:15 D 1 G 2"


def test_etas_are_medians_of_recent_rates_and_durations():
    """No absurd ETA early: a run's rate is the median of its recent intervals (a slow first step or one stall
    does not move it); a sweep's is the median recent run (the first run's warm-up does not swing it)."""
    import warnings

    from benchmark.train.sweep import eta_from_durations

    assert eta_from_durations([], 5) is None
    assert eta_from_durations([60.0, 10.0, 11.0, 9.0], 6) == 6 * 11.0        # not the mean 22.5 of a slow start
    assert eta_from_durations([10.0] * 3, 6, jobs=2) == 30.0
    display = ProgressDisplay(stream=io.StringIO(), tty=True)
    module = SimpleNamespace(iteration=0, cfg=SimpleNamespace(iterations=1000), history=[])
    display.on_train_start(SimpleNamespace(is_global_zero=True), module)
    t = display.samples[0][0]
    # 1 iteration in the first (slow) second, then 100 it/s, one stall of 5 s in between
    display.samples = [(t, 0), (t + 1, 1), (t + 2, 101), (t + 3, 201), (t + 8, 202), (t + 9, 302), (t + 10, 402)]
    module.iteration = 402
    _, _, rate, _ = display.state(module)
    assert 99 <= rate <= 101
    before, elsewhere = display.stream.getvalue(), io.StringIO()
    warnings.showwarning("shown while the line is drawn", UserWarning, "x.py", 1, file=elsewhere)
    assert display.stream.getvalue() == before + "\r\x1b[K"                 # the warning starts on a cleared line
    display.on_train_end(SimpleNamespace(is_global_zero=True), module)
    assert warnings.showwarning.__name__ != "show"                         # the hook is gone after training
