"""The model folder a server is started on: the model's own, without the decoding settings of
its generation_config.json.

`transformers serve` starts every request from the model's generation config, and vLLM takes
its default sampling parameters from the folder's generation_config.json; a request resets
temperature and top_p, not a no-repeat n-gram size or suppressed tokens. So a folder whose
generation_config.json asks for more than token ids would have its "greedy" requests decoded
otherwise than greedily. Such a folder is served from a copy in the cache made of symbolic links
to its files, whose generation_config.json keeps the token ids only
(lmgauge.sources.decoding.split_settings); what was dropped goes into the report as the served
subject's `generation_overridden`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from lmgauge.errors import ModelLoadError
from lmgauge.sources.cache import cache_root
from lmgauge.sources.decoding import split_settings

GENERATION_CONFIG = "generation_config.json"


def served_folder(folder: Path) -> tuple[Path, dict]:
    """The folder to serve and the settings of `folder`'s generation_config.json it leaves out:
    `folder` itself and {} when that file asks for token ids only (or is absent), else a copy of
    symbolic links in <cache>/served/, named by the folder's path, its file names and the kept
    settings, made once (a concurrent run that made it first wins)."""
    config_file = folder / GENERATION_CONFIG
    try:
        kept, dropped = split_settings(json.loads(config_file.read_text()))
    except FileNotFoundError:
        return folder, {}
    except (OSError, ValueError, TypeError) as error:
        raise ModelLoadError(f"{config_file} cannot be read as a generation config "
                             f"({error}).") from None  # fmt: skip
    if not dropped:
        return folder, {}
    names = sorted(path.name for path in folder.iterdir() if path.name != GENERATION_CONFIG)
    key = hashlib.sha256(json.dumps([str(folder), names, kept]).encode()).hexdigest()[:16]
    home = cache_root() / "served" / key
    if not home.is_dir():
        home.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=home.parent))
        copy = staging / folder.name
        copy.mkdir()
        for name in names:
            (copy / name).symlink_to(folder / name)
        (copy / GENERATION_CONFIG).write_text(json.dumps(kept, indent=2) + "\n")
        try:
            staging.rename(home)
        except OSError:
            shutil.rmtree(staging)
    return home / folder.name, dropped
