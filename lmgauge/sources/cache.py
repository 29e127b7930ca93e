"""The on-disk cache: where it is, atomic folder builds, and manifests that detect corruption.

Every folder lmgauge builds in the cache (an extracted asset, a converted or synthetic
model) is built under a temporary name and renamed into place only when complete, and
carries a manifest of each file's size and sha256 so that later runs can detect damage.

Hashing every file at every session cost 3-4 s of each quick-tier run (2.9 GB of model files
at about 800 MB/s), so a folder also keeps a stamp (VERIFIED_NAME) of each file's size, inode,
mtime and ctime as they were when it last matched its sha256: a file whose stat still equals
its stamp is not hashed again (git's index trusts stat data the same way). Any write,
truncation, replacement or `touch` changes mtime or ctime, and the kernel sets ctime itself, so
only damage below the file system (a flipped bit on disk) passes the stamp; `lmgauge assets
--list` hashes every asset's files again (manifest_problems with rehash=True).
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

from lmgauge.files import write_text_atomic

MANIFEST_NAME = "lmgauge-manifest.json"
VERIFIED_NAME = "lmgauge-verified.json"
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
        if path.is_file() and path.name not in (MANIFEST_NAME, VERIFIED_NAME)
    }
    text = json.dumps({"about": about, "files": files}, indent=2, sort_keys=True)
    (folder / MANIFEST_NAME).write_text(text)
    write_stamps(folder, list(files))


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a cache folder, or None when it has none or it is unreadable."""
    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def stat_stamp(path: Path) -> list[int]:
    """What any change to a file's bytes changes: [size, inode, mtime_ns, ctime_ns]."""
    status = path.stat()
    return [status.st_size, status.st_ino, status.st_mtime_ns, status.st_ctime_ns]


def read_stamps(folder: Path) -> dict:
    try:
        stamps = json.loads((folder / VERIFIED_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def write_stamps(folder: Path, names: list[str]) -> None:
    """Stamp `names` as matching their sha256 now; a cache the user cannot write is left as it
    is (its files are then hashed at every check)."""
    text = json.dumps({name: stat_stamp(folder / name) for name in names})
    with contextlib.suppress(OSError):
        write_text_atomic(text, folder / VERIFIED_NAME)


def manifest_problems(folder: Path, rehash: bool = False) -> list[str]:
    """What is wrong with a cache folder against its manifest; an empty list when intact. A file
    whose stat equals its stamp from the last clean check is not hashed again, unless `rehash`
    (see the module docstring)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"{folder} has no readable {MANIFEST_NAME}"]
    files = manifest.get("files") if isinstance(manifest, dict) else None
    well_formed = isinstance(files, dict) and all(
        isinstance(entry, dict) and {"bytes", "sha256"} <= set(entry) for entry in files.values()
    )
    if not well_formed:
        return [f"{folder}/{MANIFEST_NAME} is not a manifest of files with bytes and sha256"]
    stamps = {} if rehash else read_stamps(folder)
    problems, hashed = [], []
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected["bytes"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, expected {expected['bytes']}")
        elif stamps.get(name) == stat_stamp(path):
            continue
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"{name} does not match its recorded sha256")
        else:
            hashed.append(name)
    if hashed and not problems:
        write_stamps(folder, list(files))
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
