"""Hugging Face Hub models: download a snapshot once, then load it as a local folder.

Only what a transformers load needs is fetched (configs, tokenizer files, and safetensors
weights, falling back to PyTorch .bin files for repositories that have no safetensors), so
that a load-time bench never times a download. With HF_HUB_OFFLINE=1 or no network, a
snapshot already in the Hugging Face cache is used.
"""

from __future__ import annotations

from pathlib import Path

from lmgauge.errors import ModelLoadError, first_line

_ALWAYS = ["*.json", "*.txt", "*.model", "*.jinja", "*.tiktoken"]


def snapshot(repo_id: str) -> Path:
    """The local folder of `repo_id`'s snapshot, downloading the needed files if absent."""
    from huggingface_hub import snapshot_download

    try:
        cached = Path(snapshot_download(repo_id, local_files_only=True))
        if is_complete(cached):
            return cached
    except Exception:  # noqa: BLE001 - not cached: try the network below
        pass
    try:
        patterns = _ALWAYS + _weight_patterns(repo_id)
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        raise ModelLoadError(
            f"could not get Hub model '{repo_id}': it is not in the local Hugging Face cache and "
            f"the download failed ({type(error).__name__}: {first_line(error)}); check the id "
            f"and your network, or use an embedded model (`lmgauge models`)."
        ) from None


def is_complete(folder: Path) -> bool:
    """True when `folder` has a config.json and at least one weights file."""
    has_weights = any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))
    return (folder / "config.json").is_file() and has_weights


def _weight_patterns(repo_id: str) -> list[str]:
    from huggingface_hub import list_repo_files

    files = list_repo_files(repo_id)
    if any(name.endswith(".safetensors") for name in files):
        return ["*.safetensors"]
    return ["*.bin"]
