"""The on-disk cache: where it is, atomic folder builds, and manifests that detect corruption.

Every folder lmgauge builds in the cache (an extracted asset, a converted or synthetic
model) is built under a temporary name and renamed into place only when complete, and
carries a manifest of each file's size and sha256 so that later runs can detect damage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

MANIFEST_NAME = "lmgauge-manifest.json"
_CHUNK = 8 * 1024 * 1024


def cache_root() -> Path:
    """The cache folder: $LMGAUGE_CACHE, else $XDG_CACHE_HOME/lmgauge, else ~/.cache/lmgauge."""
    if os.environ.get("LMGAUGE_CACHE"):
        return Path(os.environ["LMGAUGE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lmgauge"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, about: dict) -> None:
    """Record size and sha256 of every file in `folder`, plus `about` (where it came from)."""
    files = {
        str(path.relative_to(folder)): {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    text = json.dumps({"about": about, "files": files}, indent=2, sort_keys=True)
    (folder / MANIFEST_NAME).write_text(text)


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a cache folder, or None when it has none or it is unreadable."""
    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def manifest_problems(folder: Path) -> list[str]:
    """What is wrong with a cache folder against its manifest; an empty list when intact."""
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"{folder} has no readable {MANIFEST_NAME}"]
    files = manifest.get("files") if isinstance(manifest, dict) else None
    well_formed = isinstance(files, dict) and all(
        isinstance(entry, dict) and {"bytes", "sha256"} <= set(entry) for entry in files.values()
    )
    if not well_formed:
        return [f"{folder}/{MANIFEST_NAME} is not a manifest of files with bytes and sha256"]
    problems = []
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected["bytes"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, expected {expected['bytes']}")
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"{name} does not match its recorded sha256")
    return problems


@contextlib.contextmanager
def building(final: Path, about: dict) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success write its manifest and move it in place.

    An older `final` (a damaged copy being rebuilt) is replaced. On an exception or an
    interrupt the temporary folder is removed and `final` is left as it was.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield staging
        write_manifest(staging, about)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
