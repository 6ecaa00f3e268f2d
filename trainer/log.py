"""What a run reports while it trains: metrics.jsonl, TensorBoard when installed, a progress bar.

- `MetricsLog` appends one JSON object per line to OUT/metrics.jsonl, flushed at each line so a
  crash loses nothing written. When `torch.utils.tensorboard` and the `tensorboard` package import,
  it also writes every number to OUT/tensorboard (`tensorboard --logdir OUT`), as
  `<split>/<name>` or, for one source of a mixture, `<split>/<source>/<name>`. TensorBoard is not
  a dependency: without it the JSONL file is the whole record.
- `Progress` is a progress bar for interactive runs only (stdout is a terminal): tqdm's when tqdm
  is installed, else one line redrawn with `\\r`. Log lines are printed above it; a run whose
  output goes to a file gets the log lines alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def tensorboard_writer(log_dir: Path, purge_step: int):
    """A SummaryWriter, or None when TensorBoard is not installed. `purge_step` drops events a
    resumed run is about to redo, as truncate_metrics does for the JSONL file."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch.utils.tensorboard raises it when the tensorboard package is missing
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step or None)


class MetricsLog:
    def __init__(self, path: Path, tensorboard_dir: Path | None = None, start_step: int = 0):
        self.file = open(path, "a")
        self.tensorboard = tensorboard_writer(tensorboard_dir, start_step) if tensorboard_dir else None

    def write(self, entry: dict) -> None:
        self.file.write(json.dumps(entry) + "\n")
        self.file.flush()
        if self.tensorboard is not None:
            prefix = entry["split"] + (f"/{entry['source']}" if "source" in entry else "")
            for key, value in entry.items():
                if key not in ("step", "split", "source") and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(f"{prefix}/{key}", value, entry["step"])
                elif isinstance(value, dict):  # the realised mixture: one curve per source
                    self.tensorboard.add_scalars(f"{prefix}/{key}", value, entry["step"])

    def close(self) -> None:
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


class Progress:
    """Steps done out of `total`, with the last log line's numbers beside it."""

    def __init__(self, start: int, total: int, stream=None):
        self.stream = stream or sys.stdout
        self.enabled = self.stream.isatty()
        self.step, self.total, self.status = start, total, ""
        self.bar = None
        if self.enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(
                    total=total, initial=start, unit="step", file=self.stream, dynamic_ncols=True, leave=False
                )
        self._start, self._start_step = time.perf_counter(), start

    def update(self, step: int, status: str | None = None) -> None:
        if status is not None:
            self.status = status
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(step - self.step)
            self.bar.set_postfix_str(self.status, refresh=False)
        else:
            rate = (step - self._start_step) / max(time.perf_counter() - self._start, 1e-9)
            line = f"\r{step}/{self.total} steps ({step / self.total:.0%}, {rate:.2f} steps/s) {self.status}"
            self.stream.write(line + "\033[K")  # \033[K clears what a longer previous line left
            self.stream.flush()
        self.step = step

    def write(self, line: str) -> None:
        """Print a log line without breaking the bar."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        elif self.enabled:
            self.stream.write("\r\033[K" + line + "\n")
            self.update(self.step)  # redraw below the line
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
