"""Step boundaries that a fault-injection run can kill the process at.

A long job (an erasure, a resolve, a profiles run) calls `checkpoint(stage, step)` between the steps it
promises to survive losing. Nothing happens unless the environment asks for it:

- `C360_KILL_AT=stage:step[,stage:step...]` kills the process at that boundary with SIGKILL, as an OOM kill
  or a lost node would: no `finally`, no atexit, no flush.
- `C360_CHECKPOINT_LOG=PATH` appends each boundary crossed (`stage:step`, one a line) to PATH, so a test can
  first run a job through and then kill it at every boundary it saw, without a hand-kept list that drifts.

Both are read at each call (cheap: one dict lookup when unset), so a test can set them per subprocess.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "C360_KILL_AT"
LOG_ENV = "C360_CHECKPOINT_LOG"


def checkpoint(stage: str, step: str) -> None:
    """A boundary the job survives being killed at: re-running it must finish the work as if it had not."""
    log_path = os.environ.get(LOG_ENV)
    target = os.environ.get(KILL_ENV)
    if not log_path and not target:
        return
    name = f"{stage}:{step}"
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
    if target and name in {t.strip() for t in target.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)


def boundaries_seen(log_path: str) -> list[str]:
    """The boundaries a run crossed, in order, each once."""
    try:
        with open(log_path, encoding="utf-8") as fh:
            return list(dict.fromkeys(line.strip() for line in fh if line.strip()))
    except FileNotFoundError:
        return []
