"""A resolve run's journal: the run's writes become visible all at once, or not at all.

A run writes a dozen files (parts, drop lists, the change log, aliases, the model, the state). Killed between
two of them (SIGKILL: an OOM kill, a lost node), the lake held half a run, and the next run read that half as
"last run" and wrote different customer ids and changes than an uninterrupted run. So a run:

1. records `{"run_id", "phase": "writing"}` in `identity/state/journal.json` before its first write;
2. writes only new files: parts named after the run, and whole files (aliases, model, state) beside the
   current ones as `<file>.pending-<run>`; files it replaces are listed, not deleted;
3. commits: the journal says `phase: commit` with the renames and the files to delete (one atomic write:
   the run is now done), then the renames and deletions happen and the journal goes away.

The next run first recovers: a run killed while writing is rolled back (its files deleted, nothing else was
touched), a run killed while committing is finished (both steps can be repeated). Readers in between see
the last committed state: files of a run still writing are hidden, and during a commit the pending files
stand in for the ones they replace and the replaced ones are hidden.
"""

from __future__ import annotations

import json
from typing import Any

from c360.faults import checkpoint
from c360.io.lake import Lake

JOURNAL = ("identity", "state", "journal.json")
PENDING = ".pending-"


class RunJournal:
    """The journal of one lake's identity folder; `begin` ... `commit` bracket a run's writes."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.run_id: str | None = None
        self._renames: dict[str, str] = {}
        self._garbage: set[str] = set()
        self._seen = self._read()

    # ------------------------------------------------------------------ state on disk

    def _path(self) -> str:
        return self.lake.path(*JOURNAL)

    def _read(self) -> dict[str, Any] | None:
        path = self._path()
        return json.loads(self.lake.read_text(path)) if self.lake.fs.exists(path) else None

    def _write(self, data: dict[str, Any]) -> None:
        path = self._path()
        self.lake.replace_text(path, json.dumps(data, indent=1))  # never half written
        self._seen = data

    # ------------------------------------------------------------------ readers

    def hidden(self, path: str) -> bool:
        """Whether a reader skips `path`: written by a run not committed, or replaced by a committed one."""
        seen = self._seen
        if seen is None or self.run_id is not None:
            return path in self._garbage
        if seen["phase"] == "writing":
            return seen["run_id"] in path.rsplit("/", 1)[-1]
        return path in seen["garbage"]

    def source(self, path: str) -> str:
        """The file a reader reads for `path`: its pending replacement while a commit is finishing."""
        seen = self._seen
        if seen is not None and seen["phase"] == "commit" and self.run_id is None:
            pending = {final: tmp for tmp, final in seen["renames"].items()}
            if path in pending and self.lake.fs.exists(pending[path]):
                return pending[path]
        return path

    # ------------------------------------------------------------------ the run

    @property
    def active(self) -> bool:
        return self.run_id is not None

    def recover(self) -> str | None:
        """Roll back a run killed while writing, finish one killed while committing; returns what it did."""
        seen = self._read()
        if seen is None:
            return None
        if seen["phase"] == "writing":
            run = seen["run_id"]
            for path in self.lake.glob("identity/**/*"):
                if run in path.rsplit("/", 1)[-1] and path != self._path():
                    self.lake.rm(path)
            done = "rolled back"
        else:
            self._finish(seen)
            done = "finished"
        self.lake.rm(self._path())
        self._seen = None
        return done

    def begin(self, run_id: str) -> None:
        self.run_id = run_id
        self._renames, self._garbage = {}, set()
        self._write({"run_id": run_id, "phase": "writing"})
        checkpoint("resolve", "begin")

    def target(self, path: str) -> str:
        """Where a run writes the whole file `path`: beside it until the commit."""
        if self.run_id is None:
            return path
        pending = f"{path}{PENDING}{self.run_id}"
        self._renames[pending] = path
        return pending

    def discard(self, paths: list[str]) -> None:
        """Files the run replaces: deleted at the commit (at once when no run is open)."""
        if self.run_id is None:
            for p in paths:
                self.lake.rm(p)
            return
        self._garbage.update(paths)

    def commit(self) -> None:
        if self.run_id is None:
            return
        seen = {
            "run_id": self.run_id,
            "phase": "commit",
            "renames": self._renames,
            "garbage": sorted(self._garbage),
        }
        self._write(seen)
        checkpoint("resolve", "commit")
        self._finish(seen)
        self.lake.rm(self._path())
        self._seen, self.run_id = None, None
        checkpoint("resolve", "committed")

    def _finish(self, seen: dict[str, Any]) -> None:
        for tmp, final in seen["renames"].items():
            if self.lake.fs.exists(tmp):
                self.lake.rm(final)
                self.lake.fs.mv(tmp, final)
        for path in seen["garbage"]:
            self.lake.rm(path)
