"""The on-disk cache: where it is, atomic folder builds, and manifests that detect corruption.

Every folder lmgauge builds in the cache (an extracted asset, a converted or synthetic
model) is built under a temporary name and renamed into place only when complete, and
carries a manifest of each file's size and sha256 so that later runs can detect damage.

Hashing every file at every session cost 3-4 s of each quick-tier run (2.9 GB of model files
at about 800 MB/s), so a folder also keeps a stamp (VERIFIED_NAME) of each file's size, inode,
mtime and ctime as they were when it last matched its sha256 (and that sha256): a file whose
stat still equals its stamp is not hashed again (git's index trusts stat data the same way,
and re-checks "racily clean" files as trusted_stamps does). Any write, truncation,
replacement or `touch` changes mtime or ctime, and the kernel sets ctime itself, so only
damage below the file system (a flipped bit on disk) passes the stamp. `lmgauge assets --list`
hashes every embedded asset's files again (manifest_problems with rehash=True); a model folder
built in the cache (a conversion, a synthetic twin, an ONNX export) is hashed again when one
of its files' stat moves, or rebuilt by `lmgauge assets --refresh NAME`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from lmgauge.files import write_text_atomic

MANIFEST_NAME = "lmgauge-manifest.json"
VERIFIED_NAME = "lmgauge-verified.json"
RACY_NS = 2_000_000_000
"""A stamp is trusted only for files last changed more than this before it was written: wider
than any file system's timestamp tick (FAT's is 2 s; ext4 and xfs before Linux 6.13 read a
clock that moves every 1-10 ms)."""
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
        if path.is_file() and not is_stamp_file(path.name) and path.name != MANIFEST_NAME
    }
    text = json.dumps({"about": about, "files": files}, indent=2, sort_keys=True)
    (folder / MANIFEST_NAME).write_text(text)


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a cache folder, or None when it has none or it is unreadable."""
    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def is_stamp_file(name: str) -> bool:
    """The stamp file, or one being written (write_text_atomic's temporary name)."""
    return name == VERIFIED_NAME or name.startswith(f".{VERIFIED_NAME}.")


def stat_stamp(path: Path) -> list[int]:
    """What any change to a file's bytes changes: [size, inode, mtime_ns, ctime_ns]."""
    status = path.stat()
    return [status.st_size, status.st_ino, status.st_mtime_ns, status.st_ctime_ns]


def trusted_stamps(folder: Path, files: dict) -> dict:
    """{name: stat} of the stamped files that may skip hashing: stamped with the sha256 the
    manifest still expects, and changed last more than RACY_NS before the stamp was written
    (a file changed within the file system's clock tick of its stamp could change again with
    the same stat: git's "racily clean" entries, hashed again in the same way)."""
    try:
        stamps = json.loads((folder / VERIFIED_NAME).read_text())
        written, entries = stamps["written_ns"], stamps["files"]
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    if type(written) is not int or not isinstance(entries, dict):
        return {}
    trusted = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or name not in files:
            continue
        stat = entry.get("stat")
        well_formed = (isinstance(stat, list) and len(stat) == 4
                       and all(type(value) is int for value in stat))  # fmt: skip
        if (well_formed and entry.get("sha256") == files[name]["sha256"]
                and max(stat[2], stat[3]) < written - RACY_NS):  # fmt: skip
            trusted[name] = stat
    return trusted


def write_stamps(folder: Path, verified: dict, files: dict) -> None:
    """Stamp `verified` ({name: stat when it matched}) with the sha256 each matched; a cache
    the user cannot write is left as it is (its files are then hashed at every check)."""
    entries = {name: {"stat": stat, "sha256": files[name]["sha256"]}
               for name, stat in verified.items()}  # fmt: skip
    text = json.dumps({"written_ns": time.time_ns(), "files": entries})
    with contextlib.suppress(OSError):
        write_text_atomic(text, folder / VERIFIED_NAME)
        for left in folder.glob(f".{VERIFIED_NAME}.*"):  # left by a writer that was killed
            if left.stat().st_mtime < time.time() - 60:
                left.unlink()


def manifest_problems(folder: Path, rehash: bool = False) -> list[str]:
    """What is wrong with a cache folder against its manifest; an empty list when intact. A file
    whose stat equals its trusted stamp is not hashed again, unless `rehash` (see the module
    docstring); a file that matched its sha256 with the same stat before and after hashing is
    stamped."""
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"{folder} has no readable {MANIFEST_NAME}"]
    files = manifest.get("files") if isinstance(manifest, dict) else None
    well_formed = isinstance(files, dict) and all(
        isinstance(entry, dict) and {"bytes", "sha256"} <= set(entry) for entry in files.values()
    )
    if not well_formed:
        return [f"{folder}/{MANIFEST_NAME} is not a manifest of files with bytes and sha256"]
    stamps = {} if rehash else trusted_stamps(folder, files)
    problems, verified, hashed = [], {}, False
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        before = stat_stamp(path)
        if before[0] != expected["bytes"]:
            problems.append(f"{name} has {before[0]} bytes, expected {expected['bytes']}")
        elif stamps.get(name) == before:
            verified[name] = before
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"{name} does not match its recorded sha256")
        else:
            hashed = True
            if stat_stamp(path) == before:
                verified[name] = before
    if hashed and not problems:
        write_stamps(folder, verified, files)
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
