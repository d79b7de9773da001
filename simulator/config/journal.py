"""A journal of finished work: long runs (Monte Carlo trials, sweep points) append each result
the moment it is done, so a run that is killed loses nothing it finished and a rerun of the same
work picks up where it stopped.

The file is JSON lines. The first line is the work's fingerprint; a file that belongs to other
work is started afresh. A line cut short by a kill is dropped (and later overwritten).
"""

from __future__ import annotations

import json
from pathlib import Path


class Journal:
    """Open with `with Journal(path, fingerprint) as j:`; `j.done` holds the records read back,
    `j.append(record)` keeps one more."""

    def __init__(self, path: str | Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint
        self.done: list[dict] = []
        self._sink = None

    def __enter__(self) -> "Journal":
        good = self._read()
        fresh = not good
        self._sink = self.path.open("w" if fresh else "r+", encoding="utf-8")
        self._sink.seek(good)
        self._sink.truncate()                   # drop a line torn by a kill
        if fresh:
            self._write({"fingerprint": self.fingerprint})
        return self

    def __exit__(self, *exc) -> None:
        self._sink.close()

    def append(self, record: dict) -> None:
        self._write(record)

    def _write(self, record: dict) -> None:
        self._sink.write(json.dumps(record) + "\n")
        self._sink.flush()                      # in the OS's hands: survives the process being killed

    def _read(self) -> int:
        """Fill `done` from an earlier run of the same work; the bytes of the file that hold
        whole lines (0: start afresh)."""
        if not self.path.is_file():
            return 0
        good = 0
        with self.path.open("rb") as f:
            for n, raw in enumerate(f):
                try:
                    if not raw.endswith(b"\n"):
                        raise ValueError("torn line")
                    record = json.loads(raw)
                except ValueError:
                    break  # the run was killed while writing this line
                if n == 0:
                    if not isinstance(record, dict) or record.get("fingerprint") != self.fingerprint:
                        self.done = []
                        return 0
                elif isinstance(record, dict):
                    self.done.append(record)
                else:
                    break
                good += len(raw)
        return good
