"""Build python_modules/ as pywrangler builds it for production, offline once cached.

    python scripts/python_modules.py PROJECT_DIR [--cache DIR]

Reads PROJECT_DIR/pylock.toml (written by scripts/lock, the file pywrangler installs
from), picks each package's wheel for Pyodide 314 (cp314 / pyemscripten_2026_0_wasm32,
else pure Python), fetches the ones the cache lacks from PyPI with pip (exact version and
sha256 from the lock), and unpacks them into PROJECT_DIR/python_modules/ in pywrangler's
layout: the contents of a Pyodide venv's site-packages (packages and their .dist-info),
plus the empty `pyvenv.cfg` and the `.synced` token it writes. wrangler then uploads every
file there except `python_modules.exclude` (wrangler.toml). Prints one line per wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

PLATFORM = "pyemscripten_2026_0_wasm32"  # the wheel platform of every Pyodide 314.x
PIP_TARGET = ["--only-binary=:all:", "--platform", PLATFORM, "--python-version", "3.14",
              "--implementation", "cp", "--abi", "cp314"]
# Best first, as an installer ranks them for CPython 3.14 on that platform.
TAGS: list[Tag] = [*cpython_tags((3, 14), abis=["cp314"], platforms=[PLATFORM]),
                   *compatible_tags((3, 14), "cp314", platforms=[PLATFORM])]
RANK = {tag: i for i, tag in enumerate(TAGS)}


class LockError(Exception):
    """The lock names a package with no wheel that runs on Pyodide 314."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "image-worker" / "wheels"


def pick_wheels(lock: dict) -> list[dict]:
    """Each locked package's best wheel for Pyodide 314: {name, version, filename, url, sha256}."""
    picked = []
    for pkg in lock.get("packages", []):
        best = None
        for wheel in pkg.get("wheels", []):
            filename = wheel.get("name") or wheel["url"].rsplit("/", 1)[-1]
            ranks = [RANK[t] for t in parse_wheel_filename(filename)[3] if t in RANK]
            if ranks and (best is None or min(ranks) < best[0]):
                best = (min(ranks), filename, wheel)
        if best is None:
            raise LockError(f"{pkg['name']} {pkg.get('version')}: pylock.toml has no wheel for Pyodide 314 "
                            f"({PLATFORM} or pure Python); choose another version and run scripts/lock")
        _, filename, wheel = best
        picked.append({"name": pkg["name"], "version": pkg["version"], "filename": filename,
                       "url": wheel["url"], "sha256": wheel["hashes"]["sha256"]})
    return picked


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(wheels: list[dict], cache: Path) -> None:
    """Download the wheels the cache lacks, with pip, checked against the lock's sha256."""
    missing = [w for w in wheels if not (cache / w["filename"]).is_file() or _sha256(cache / w["filename"]) != w["sha256"]]
    if not missing:
        return
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("".join(f"{w['name']}=={w['version']} --hash=sha256:{w['sha256']}\n" for w in missing))
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                               "--no-deps", "--require-hashes", *PIP_TARGET, "-d", tmp, "-r", str(reqs)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            log = [line for line in (done.stdout + done.stderr).splitlines() if not line.startswith("WARNING: Location")]
            raise SystemExit("python_modules: pip could not fetch the locked wheels from PyPI:\n  " + "\n  ".join(log[-15:]))
        for w in missing:
            got = Path(tmp) / w["filename"]
            if not got.is_file() or _sha256(got) != w["sha256"]:
                raise SystemExit(f"python_modules: pip did not fetch {w['filename']} with the locked sha256")
            shutil.move(got, cache / w["filename"])


def unpack(wheel: Path, target: Path) -> None:
    """Install one wheel's files into target as an installer puts them into site-packages."""
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    # `<name>.data/purelib|platlib` go to site-packages; scripts, headers and data go elsewhere
    # in a venv (bin/, include/), never into python_modules.
    for data in target.glob("*.data"):
        for scheme in ("purelib", "platlib"):
            if (data / scheme).is_dir():
                shutil.copytree(data / scheme, target, dirs_exist_ok=True)
        shutil.rmtree(data)


def build(project: Path, cache: Path) -> list[dict]:
    """Replace project/python_modules with the locked wheels, laid out as pywrangler does."""
    lock = tomllib.loads((project / "pylock.toml").read_text())
    wheels = pick_wheels(lock)
    fetch(wheels, cache)
    target = project / "python_modules"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for w in wheels:
        unpack(cache / w["filename"], target)
    (target / "pyvenv.cfg").touch()
    try:
        token = version("workers-py")
    except PackageNotFoundError:
        token = "unknown"
    (target / ".synced").write_text(token)
    return wheels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--cache", type=Path, default=default_cache())
    args = parser.parse_args()
    try:
        wheels = build(args.project, args.cache)
    except LockError as e:
        raise SystemExit(f"python_modules: {e}") from None
    for w in wheels:
        print(w["filename"])


if __name__ == "__main__":
    main()
