"""A child process that dies with its parent (Linux ``prctl(PR_SET_PDEATHSIG)``).

A crawl process must not outlive the service that started it, nor a page-parsing worker the
crawl it parses for, even when the parent is killed with SIGKILL and can clean up nothing. No
Scrapy import here: the service uses it between fork and exec of each crawl process.
"""

from __future__ import annotations

import ctypes

PR_SET_PDEATHSIG = 1


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not Linux: a child outlives a killed parent and finishes on its own
        return None


# loaded here, once: between fork and exec (with the service's threads about) nothing may take
# a lock, and dlopen does
_LIBC = _load_libc()


def die_with_parent(signal_number: int) -> None:
    """In the child: receive ``signal_number`` when the parent dies. Only a system call: safe
    between fork and exec."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal_number)
