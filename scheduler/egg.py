"""The crawler's egg for scrapyd nodes: ``crawler`` and ``store`` built by setuptools' bdist_egg,
once per code version (a hash of the files that go into it).

The egg names ``crawler.settings`` as its Scrapy settings (the ``scrapy`` entry point scrapyd's
runner activates); the node's Python provides the libraries (Scrapy, SQLAlchemy, psycopg...):
``pip install 'newswatch[scrapyd]'`` there. What the egg holds wins over what is installed, so
every node crawls with the service's code whatever version it has installed."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import crawler
import store

# the packages a crawl imports (crawler never imports alerts, scheduler or web), and their data
PACKAGES = {"crawler": Path(crawler.__file__).parent, "store": Path(store.__file__).parent}
SKIPPED = ("__pycache__", "*.pyc", "*.egg-info")
SETUP = """\
from setuptools import setup

setup(
    name="newswatch-crawler",
    version="0+{version}",
    packages={packages!r},
    package_data={{"store": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"]}},
    entry_points={{"scrapy": ["settings = crawler.settings"]}},
    zip_safe=True,
)
"""


class EggError(Exception):
    """The egg could not be built; the message is one line."""


@dataclass(frozen=True)
class Egg:
    version: str  # the code version: scrapyd's project version
    data: bytes


def _files() -> list[tuple[str, Path]]:
    """Each file that goes into the egg: its path in the egg and on disk, sorted."""
    found = []
    for name, folder in PACKAGES.items():
        for path in folder.rglob("*"):
            relative = path.relative_to(folder)
            skipped = any(
                part == "__pycache__" or part.endswith(".egg-info") for part in relative.parts
            )
            if path.is_file() and not skipped and path.suffix != ".pyc":
                found.append((f"{name}/{relative.as_posix()}", path))
    return sorted(found)


def code_version() -> str:
    """A hash of the crawler's code (every file of ``crawler`` and ``store``): 16 hex digits."""
    digest = hashlib.sha256()
    for name, path in _files():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


_built: dict[str, Egg] = {}
_building = threading.Lock()


def crawler_egg() -> Egg:
    """The egg of the code as it is now: built at most once per code version."""
    version = code_version()
    with _building:
        if version not in _built:
            _built.clear()  # only the current version is deployed
            _built[version] = Egg(version, _build(version))
        return _built[version]


def _build(version: str) -> bytes:
    if importlib.util.find_spec("setuptools") is None:
        raise EggError(
            "building the crawler's egg for scrapyd needs setuptools: "
            "pip install 'newswatch[scrapyd]'"
        )
    with tempfile.TemporaryDirectory(prefix="newswatch-egg-") as folder:
        root = Path(folder)
        for name, source in PACKAGES.items():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns(*SKIPPED))
        packages = sorted(
            ".".join(init.parent.relative_to(root).parts) for init in root.rglob("__init__.py")
        )
        (root / "setup.py").write_text(SETUP.format(version=version, packages=packages))
        dist = root / "dist"
        try:
            subprocess.run(
                [sys.executable, "setup.py", "-q", "bdist_egg", "--dist-dir", str(dist)],
                cwd=root,
                capture_output=True,
                check=True,
                timeout=300,
            )
        except subprocess.CalledProcessError as error:
            output = (error.stderr or error.stdout or b"").decode("utf-8", "replace").strip()
            last = output.splitlines()[-1] if output else f"exit {error.returncode}"
            raise EggError(f"building the crawler's egg failed (setuptools): {last}") from None
        except (OSError, subprocess.TimeoutExpired) as error:
            raise EggError(f"building the crawler's egg failed: {error}") from None
        eggs = list(dist.glob("*.egg"))
        if len(eggs) != 1:
            raise EggError(f"building the crawler's egg made {len(eggs)} eggs, not one")
        return eggs[0].read_bytes()
