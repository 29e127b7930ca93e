"""The model folder a server is started on: the model's own, without the decoding settings of
its generation_config.json.

`transformers serve` starts every request from the model's generation config, and vLLM takes
its default sampling parameters from the folder's generation_config.json; a request resets
temperature and top_p, not a no-repeat n-gram size or suppressed tokens. So a folder whose
generation_config.json asks for more than token ids would have its "greedy" requests decoded
otherwise than greedily. Such a folder is served from a copy in the cache made of symbolic links
to its files, whose generation_config.json keeps the token ids only
(lmgauge.sources.decoding.split_settings); what was dropped goes into the report as the served
subject's `generation_overridden`. A folder without generation_config.json is read the way
transformers and vLLM then read it: from the generation settings of its config.json (older
checkpoints keep a repetition penalty or sampling there).
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
MODEL_CONFIG = "config.json"


def served_folder(folder: Path) -> tuple[Path, dict]:
    """The folder to serve and the decoding settings of `folder` it leaves out: `folder` itself
    and {} when its generation config asks for token ids only, else a copy of symbolic links of
    the same name in <cache>/served/KEY/ (KEY: a hash of the folder's path, its file names and
    the kept settings), made once (a concurrent run that made it first wins). ModelLoadError in
    one sentence when the file the settings come from cannot be read for them, or the copy
    cannot be made."""
    kept, dropped = generation_settings(folder)
    if not dropped:
        return folder, {}
    names = sorted(path.name for path in folder.iterdir() if path.name != GENERATION_CONFIG)
    key = hashlib.sha256(json.dumps([str(folder), names, kept]).encode()).hexdigest()[:16]
    home = cache_root() / "served" / key
    try:
        make_copy(folder, names, kept, home)
    except OSError as error:
        raise ModelLoadError(f"cannot make the served copy of {folder} in {home.parent} "
                             f"({error}); set LMGAUGE_CACHE to a folder lmgauge may write to."
                             ) from None  # fmt: skip
    return home / folder.name, dropped


def generation_settings(folder: Path) -> tuple[dict, dict]:
    """(token ids, kept; decoding settings, dropped) of the folder's generation_config.json,
    or where it has none, of its config.json's generation settings; ({}, {}) when neither file
    is there. ModelLoadError in one sentence when the file cannot be read for them."""
    for name, of_model_config in ((GENERATION_CONFIG, False), (MODEL_CONFIG, True)):
        config_file = folder / name
        try:
            settings = json.loads(config_file.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"{config_file} cannot be read for its generation settings "
                                 f"({error}).") from None  # fmt: skip
        try:
            if not isinstance(settings, dict):
                raise TypeError(f"it holds a JSON {type(settings).__name__}, not an object")
            return split_settings(settings, of_model_config)
        except Exception as error:  # noqa: BLE001 - transformers' own checks raise many kinds
            raise ModelLoadError(f"{config_file} cannot be read for its generation settings "
                                 f"({type(error).__name__}: {error}).") from None  # fmt: skip
    return {}, {}


def make_copy(folder: Path, names: list[str], kept: dict, home: Path) -> None:
    """<home>/<folder's name>/: a symbolic link to each of `names` in `folder` and a
    generation_config.json of `kept`, unless `home` exists."""
    if not home.is_dir():
        home.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))
        copy = staging / folder.name
        copy.mkdir()
        for name in names:
            (copy / name).symlink_to(folder / name)
        (copy / GENERATION_CONFIG).write_text(json.dumps(kept, indent=2) + "\n")
        try:
            staging.rename(home)
        except OSError:
            shutil.rmtree(staging)
