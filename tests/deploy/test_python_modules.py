"""scripts/python_modules.py: which wheel of a locked package is bundled, and the layout
(pywrangler's: a Pyodide venv's site-packages, plus pyvenv.cfg and the .synced token)."""

from __future__ import annotations

import hashlib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from scripts.python_modules import LockError, build, pick_wheels


def _wheel(folder: Path, filename: str, files: dict[str, str]) -> dict:
    path = folder / filename
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return {"url": f"https://files.example/{filename}", "hashes": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}


def _entry(name: str, ver: str, wheels: list[dict]) -> str:
    listed = ", ".join(f'{{ url = "{w["url"]}", hashes = {{ sha256 = "{w["hashes"]["sha256"]}" }} }}' for w in wheels)
    return f'[[packages]]\nname = "{name}"\nversion = "{ver}"\nwheels = [{listed}]\n\n'


def test_the_pyodide_314_build_is_preferred_over_pure_python_and_other_platforms():
    lock = {"packages": [{"name": "fast", "version": "1.0", "wheels": [
        {"url": "https://x/fast-1.0-py3-none-any.whl", "hashes": {"sha256": "a"}},
        {"url": "https://x/fast-1.0-cp314-cp314-manylinux_2_17_x86_64.whl", "hashes": {"sha256": "b"}},
        {"url": "https://x/fast-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl", "hashes": {"sha256": "c"}},
        {"url": "https://x/fast-1.0-cp313-cp313-pyodide_2025_0_wasm32.whl", "hashes": {"sha256": "d"}},
    ]}]}
    (picked,) = pick_wheels(lock)
    assert (picked["filename"], picked["sha256"]) == ("fast-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl", "c")


def test_a_package_without_a_pyodide_314_wheel_is_refused_by_name():
    lock = {"packages": [{"name": "native", "version": "2.0", "wheels": [
        {"url": "https://x/native-2.0-cp313-cp313-pyodide_2025_0_wasm32.whl", "hashes": {"sha256": "d"}},
        {"url": "https://x/native-2.0-cp314-cp314-manylinux_2_17_x86_64.whl", "hashes": {"sha256": "b"}},
    ]}]}
    with pytest.raises(LockError, match="native 2.0"):
        pick_wheels(lock)


def test_python_modules_has_pywranglers_layout(tmp_path):
    cache, project = tmp_path / "cache", tmp_path / "project"
    cache.mkdir()
    project.mkdir()
    lib = _wheel(cache, "lib-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl", {
        "lib/__init__.py": "X = 1\n", "lib/_core.cpython-314-wasm32-emscripten.so": "\0asm",
        "lib-1.0.dist-info/METADATA": "Name: lib\nVersion: 1.0\n",
        "lib-1.0.data/purelib/lib_extra.py": "Y = 2\n", "lib-1.0.data/scripts/lib-cli": "#!python\n"})
    pure = _wheel(cache, "pure-2.0-py3-none-any.whl", {"pure.py": "", "pure-2.0.dist-info/METADATA": "Name: pure\n"})
    (project / "pylock.toml").write_text('lock-version = "1.0"\n\n' + _entry("lib", "1.0", [lib]) + _entry("pure", "2.0", [pure]))
    (project / "python_modules" / "stale").mkdir(parents=True)  # left from an earlier build

    build(project, cache)  # every wheel is cached with the locked sha256: nothing is fetched

    modules = project / "python_modules"
    assert sorted(p.relative_to(modules).as_posix() for p in modules.rglob("*") if p.is_file()) == [
        ".synced", "lib-1.0.dist-info/METADATA", "lib/__init__.py", "lib/_core.cpython-314-wasm32-emscripten.so",
        "lib_extra.py", "pure-2.0.dist-info/METADATA", "pure.py", "pyvenv.cfg"]
    assert (modules / ".synced").read_text() == version("workers-py")
    assert (modules / "pyvenv.cfg").read_text() == ""
