"""The run report: a versioned JSON document, written atomically, read back with validation.

Format history:
  1 (lmgauge 0.1): first version: run, environment, calibration, models, datasets, metrics,
    results (with raw samples, summary and flags), tests. Added later within version 1, as
    optional parts older readers ignore: `texts` (generated text) and `run.text_tables`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from lmgauge.errors import ReportError
from lmgauge.metrics import DIRECTIONS

FORMAT = "lmgauge-run-report"
SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)
REQUIRED_SECTIONS = ("run", "environment", "models", "metrics", "results")


@dataclass(frozen=True)
class Result:
    """One recorded figure: `value` in `unit` for `metric` of `model` in `bench`.

    params: what the figure depends on (e.g. {"dtype": "float32"}); samples: the raw
    measurements `value` summarises (empty for counts), in `unit`; summary: their statistics
    (lmgauge.stats.summarize); flags: reasons to distrust the figure ("busy": other processes
    used the CPU meanwhile, "noisy": coefficient of variation above lmgauge.stats.CV_LIMIT);
    test: the pytest node that recorded it.
    """

    bench: str
    model: str
    metric: str
    value: float
    unit: str
    direction: str
    params: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    test: str = ""

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if not self.unit:
            raise ValueError(f"metric {self.metric} needs a unit")


def build_document(**sections) -> dict:
    """A report dict with format and schema version first, then the given sections."""
    results = sections.pop("results")
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        **sections,
        "results": [asdict(result) for result in results],
    }


def write_atomic(document: dict, path: Path) -> Path:
    """Write `document` as JSON to `path` so that readers see the old file or the whole new one."""
    return write_text_atomic(json.dumps(document, indent=2, default=str) + "\n", path)


def write_text_atomic(text: str, path: Path) -> Path:
    """Write `text` to `path` through a temporary file renamed in: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_report(path: Path) -> dict:
    """The report at `path`, checked; ReportError saying what is wrong otherwise."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as error:
        raise ReportError(f"cannot read report {path}: {error.strerror}.") from None
    except ValueError as error:
        raise ReportError(f"{path} is not valid JSON ({error}); it may be truncated.") from None
    return validate(document, path)


def validate(document: dict, path: Path | str = "report") -> dict:
    """`document` when it is a supported lmgauge report; ReportError naming the first problem."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReportError(f'{path} is not an lmgauge run report (no "format": "{FORMAT}").')
    version = document.get("schema_version")
    if version not in SUPPORTED_VERSIONS:
        raise ReportError(
            f"{path} has schema_version {version!r}; this lmgauge reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}: upgrade lmgauge to read it."
        )
    missing = [name for name in REQUIRED_SECTIONS if name not in document]
    if missing:
        raise ReportError(f"{path} lacks the section(s) {', '.join(missing)}.")
    for index, result in enumerate(document["results"]):
        absent = [key for key in ("bench", "model", "metric", "value", "unit") if key not in result]
        if absent:
            raise ReportError(f"{path}: result {index} lacks {', '.join(absent)}.")
    return document


def report_filename(created: datetime, name: str | None) -> str:
    """`<UTC time>_<name>.json`, e.g. 20261123T120000Z_first.json; the name defaults to `run`."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in (name or "run"))
    return f"{created.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}_{safe}.json"
