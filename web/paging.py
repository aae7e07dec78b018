"""One page of a long list: which rows, and how many pages there are."""

from __future__ import annotations

from dataclasses import dataclass

PER_PAGE = 20
MAX_PAGE = 10_000  # query parameters are bounded: page=10**30 is a 422, not an overflow


@dataclass(frozen=True)
class Pager:
    page: int
    per_page: int = PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def pages(self, total: int) -> int:
        return max(1, -(-total // self.per_page))
