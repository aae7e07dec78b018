"""Helpers for the tests of child processes: a process's children, and whether one has ended."""

from __future__ import annotations

import time
from pathlib import Path


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie counts: it runs no more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def ends(pid: int, seconds: float = 60) -> bool:
    """Whether the process ends within ``seconds`` (the kernel signals a child whose parent
    died at once, but a loaded machine may be slow to run it)."""
    deadline = time.monotonic() + seconds
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pid)
