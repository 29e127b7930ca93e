"""The run report: a versioned JSON document, written atomically, read back with validation.

The format is written down as a JSON Schema (lmgauge/record/report.schema.json, the current
version); `read_report` checks every report against it and says in one sentence what is wrong.

Format history:
  1 (lmgauge 0.1): first version: run, environment, calibration, models, datasets, metrics,
    results (with raw samples, summary and flags), tests.
  2 (lmgauge 0.2): adds `texts` (generated text) and, in `run`, `text_tables`, `summary` (the
    Markdown summary beside the report), `benchmark_json` (pytest-benchmark's saved file of the
    same run) and `gate`; adds `calibration_end` (the roofs measured again at session end).
    A version-1 report is read as version 2 with those parts empty.
  3 (lmgauge 0.3): results gain `rounds` (one value per timed round: the independent units
    that significance tests and intervals use; empty when each sample is a round),
    `probe_seconds` (the speed probe around the rounds) and `stopped` (why the rounds
    stopped); `run.status` may be `killed` (assembled from the journal of a run that died);
    `cold_start_seconds` is renamed `warmup_call_seconds`. A version-2 report is read as
    version 3: a pooled decode-step figure is split back into its rounds (new_tokens - 1 steps
    each, in order), the rename is applied, the new fields are empty.
  4 (lmgauge 0.4): strict JSON (RFC 8259): a number that is not finite (NaN, infinity) is
    written as null, and a result whose value is not finite carries the flag `non-finite`
    (it fails wherever it is judged); `run.speed_probe` says what the speed probe ran (numpy
    in a process of its own). Reading turns null figures back into NaN. A version-3 report
    (which may hold bare NaN tokens) is read as version 4 with its non-finite values flagged.
    Later in 4 (added fields; older readers ignore them): a metric entry may carry
    `from_calibration: true` (a roof or a figure computed from one), and `run.options` has
    `calibration: false` for a run made with --no-calibration (no `calibration` section then);
    `run.gate` has `tests_failed_on_both_sides` (they fail the gate: each is a broken test);
    `tests.not_passed` entries must hold `test`, `outcome` and `when` (every report wrote them);
    a report whose status, exit status and test counts and lists disagree is refused
    (lmgauge.record.outcomes).
"""

from __future__ import annotations

import functools
import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from lmgauge.errors import ReportError
from lmgauge.files import write_text_atomic
from lmgauge.record.keys import twice_problem
from lmgauge.record.metrics import DIRECTIONS
from lmgauge.record.outcomes import outcomes_problem

FORMAT = "lmgauge-run-report"
SCHEMA_VERSION = 4
SUPPORTED_VERSIONS = (1, 2, 3, 4)
NON_FINITE = "non-finite"
"""The flag of a result whose value is NaN or infinite (written as null)."""
REQUIRED_SECTIONS = ("run", "environment", "models", "metrics", "results")
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")


@dataclass(frozen=True)
class Result:
    """One recorded figure: `value` in `unit` for `metric` of `model` in `bench`.

    params: what the figure depends on (e.g. {"dtype": "float32"}); samples: the raw
    measurements `value` summarises (empty for counts), in `unit`; summary: their statistics
    (lmgauge.record.stats.summarize); flags: reasons to distrust the figure ("busy": other processes
    used the CPU meanwhile, "noisy": coefficient of variation above lmgauge.record.stats.CV_LIMIT);
    test: the pytest node that recorded it; rounds: one value per timed round in `unit` (the
    independent units a verdict judges), empty when every sample is a round; probe_seconds:
    the speed probe's times before the warmup call and after the last round (s); stopped: why
    the rounds stopped; threshold: for a figure the quality benches judge against
    benches/thresholds.toml, {"verdict": "pass", "fail" or "unjudged" (no threshold guards it
    for this model), and for a judged one its "min" and/or "max" and "reason"}; None otherwise.
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
    rounds: list = field(default_factory=list)
    probe_seconds: list = field(default_factory=list)
    stopped: str = ""
    threshold: dict | None = None

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
    """Write `document` as strict JSON to `path` so that readers see the old file or the whole
    new one."""
    return write_text_atomic(strict_json(document) + "\n", path)


def strict_json(value, indent: int | None = 2) -> str:
    """`value` as RFC 8259 JSON: floats that are not finite become null (never NaN tokens)."""
    return json.dumps(finite_or_null(value), indent=indent, default=str, allow_nan=False)


def finite_or_null(value):
    """`value` with every float that is not finite replaced by None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def read_report(path: Path) -> dict:
    """The report at `path`, checked; ReportError saying what is wrong otherwise."""
    return validate(read_json_object(path), path)


def read_json_object(path: Path) -> object:
    """The JSON document at `path` as lmgauge reads its own files (reports, A/B reports),
    refusing a number beyond a float's range (NaN and Infinity constants still read: what reads
    the document judges them); ReportError saying what is wrong otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ReportError(f"cannot read report {path}: {error.strerror}.") from None
    except ValueError:
        raise ReportError(f"{path} is not UTF-8 text, so not an lmgauge run report.") from None
    if not text.strip():
        raise ReportError(f"{path} is empty, so not a run report (lmgauge writes reports whole; a "
                          "killed run leaves a journal that `lmgauge recover DIR` turns into one).")
    try:
        document = json.loads(text, parse_int=float_sized_int, parse_float=float_in_range)
    except TooLarge as error:
        raise ReportError(f"{path} holds {error}, too large for a float: no figure or count "
                          "lmgauge writes comes near it.") from None
    except ValueError as error:
        if not text.lstrip().startswith("{"):
            raise ReportError(f"{path} is not an lmgauge run report: a report is a JSON object "
                              "(a .json file), and this file does not begin with '{'.") from None
        if getattr(error, "msg", "") == "Extra data":
            raise ReportError(f"{path} holds text after its first JSON document ({error}): a "
                              "report is one JSON object per file.") from None
        raise ReportError(f"{path} is not valid JSON ({error}); it may be truncated.") from None
    return document


FLOAT_DIGITS = len(str(int(sys.float_info.max)))
"""Digits of the largest float: a whole number with more is beyond any float."""


class TooLarge(ValueError):
    """A number in a report beyond what a float holds; its text, shortened."""


def float_sized_int(text: str) -> int:
    """`text` as an int, or TooLarge when a float cannot hold it (judging turns values into
    floats, and 10**400 would stop it with OverflowError); the digits are counted first, so
    that Python's own limit on converting long digit strings is never reached."""
    digits = len(text.lstrip("-"))
    if digits > FLOAT_DIGITS or abs(number := int(text)) > sys.float_info.max:
        raise TooLarge(f"the whole number {text[:12]}... ({digits} digits)")
    return number


def float_in_range(text: str) -> float:
    """`text` as a float, or TooLarge when it is beyond a float's range (1e400 would read as
    infinity, which no measurement gives)."""
    number = float(text)
    if math.isinf(number):
        raise TooLarge(f"the number {text[:24]}")
    return number


def validate(document: dict, path: Path | str = "report") -> dict:
    """`document`, upgraded to the current version, when it is a supported lmgauge report;
    ReportError naming the first problem otherwise."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReportError(f'{path} is not an lmgauge run report (no "format": "{FORMAT}").')
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ReportError(f"{path} has schema_version {version!r}; lmgauge writes it as a JSON "
                          "integer (4, not 4.0 or \"4\"): the report may have been edited.")
    if version not in SUPPORTED_VERSIONS:
        raise ReportError(
            f"{path} has schema_version {version!r}; this lmgauge reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}: upgrade lmgauge to read it."
        )
    missing = [name for name in REQUIRED_SECTIONS if name not in document]
    if missing:
        raise ReportError(f"{path} lacks the section(s) {', '.join(missing)}.")
    if version == 1:
        document = upgrade_from_1(document)
    if document["schema_version"] == 2:
        document = upgrade_from_2(document)
    if document["schema_version"] == 3:
        document = {**document, "schema_version": 4}
    problem = (schema_problem(document) or rounds_problem(document) or made_problem(document)
               or outcomes_problem(document) or twice_problem(document))
    if problem:
        raise ReportError(f"{path}: {problem}.")
    return with_nan(document)


def made_problem(document: dict) -> str | None:
    """created_utc must be the ISO 8601 time lmgauge writes (the store orders runs by it)."""
    made = document.get("created_utc")
    if made is None:
        return ("created_utc is missing: every lmgauge report writes when its run started (the "
                "store orders and knows runs by it)")
    if isinstance(made, str) and iso_time(made) is not None:
        return None
    return f"created_utc {made!r} is not an ISO 8601 time (as 2026-12-03T19:19:35+00:00)"


def iso_time(text: str) -> datetime | None:
    """`text` as an aware or naive datetime, or None when it is not an ISO 8601 time."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def rounds_problem(document: dict) -> str | None:
    """What the schema cannot say of run/options/rounds: JSON Schema takes 2.0 for an integer,
    and the gate's rounds check needs the int that lmgauge writes."""
    rounds = document["run"]["options"].get("rounds", 0)
    if isinstance(rounds, int) and not isinstance(rounds, bool):
        return None
    return f"run/options/rounds: {rounds!r} is not an integer (lmgauge writes the --rounds count)"


FIGURE_LISTS = ("samples", "rounds", "probe_seconds")


def with_nan(document: dict) -> dict:
    """The document with null figures read back as NaN (and flagged `non-finite`), so that every
    reader meets a float and every judge sees that it is not finite."""
    results = []
    for result in document["results"]:
        value = math.nan if result["value"] is None else result["value"]
        lists = {name: [math.nan if v is None else v for v in result.get(name, [])]
                 for name in FIGURE_LISTS}  # fmt: skip
        flags = list(result.get("flags", []))
        if not math.isfinite(value) and NON_FINITE not in flags:
            flags.append(NON_FINITE)
        results.append({**result, **lists, "value": value, "flags": flags})
    return {**document, "results": results}


def upgrade_from_1(document: dict) -> dict:
    """A version-1 document in version-2 shape: the parts version 2 added are empty."""
    run = {"text_tables": [], "summary": None, "benchmark_json": None, "gate": None}
    return {
        **document,
        "schema_version": 2,
        "run": {**run, **document["run"]},
        "calibration_end": document.get("calibration_end"),
        "texts": document.get("texts", []),
    }


RENAMED_METRICS = {"cold_start_seconds": "warmup_call_seconds"}


def upgrade_from_2(document: dict) -> dict:
    """A version-2 document in version-3 shape (see the format history above)."""
    results = []
    for result in document["results"]:
        result = {"rounds": [], "probe_seconds": [], "stopped": "", **result}
        result["metric"] = RENAMED_METRICS.get(result["metric"], result["metric"])
        if result["metric"] == "decode_step_seconds" and not result["rounds"]:
            result["rounds"] = pooled_steps_to_rounds(result)
        results.append(result)
    metrics = {
        RENAMED_METRICS.get(name, name): entry for name, entry in document["metrics"].items()
    }
    return {**document, "schema_version": 3, "results": results, "metrics": metrics}


def pooled_steps_to_rounds(result: dict) -> list[float]:
    """Median step of each round of a version-2 decode-step figure, whose samples are every
    step of every round in order (new_tokens - 1 per round); [] when they do not divide."""
    per_round = int(result["params"].get("new_tokens", 0)) - 1
    samples = result["samples"]
    if per_round < 1 or not samples or len(samples) % per_round:
        return []
    chunks = [samples[i : i + per_round] for i in range(0, len(samples), per_round)]
    return [float(statistics.median(chunk)) for chunk in chunks]


@functools.cache
def schema_validator():
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    return jsonschema.Draft202012Validator(schema)


def schema_problem(document: dict) -> str | None:
    """The first way `document` breaks the schema, as '<where> <what>', or None."""
    error = next(iter(sorted(schema_validator().iter_errors(document), key=str)), None)
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the top level"
    return f"{where}: {error.message}"


def subject_of(result: dict) -> str:
    """The subject a result measured, as the report's `models` section names it: the model, or
    `model@config` for a configuration other than the default."""
    config = result["params"].get("config")
    return f"{result['model']}@{config}" if config else result["model"]


def values_by_model(document: dict, metric: str, **params) -> dict[str, float]:
    """{subject: value} of the first result of `metric` per subject (see subject_of) whose
    params include `params`."""
    found: dict[str, float] = {}
    for result in document["results"]:
        wanted = all(result["params"].get(key) == value for key, value in params.items())
        if result["metric"] == metric and wanted and result["model"]:
            found.setdefault(subject_of(result), result["value"])
    return found


def report_filename(created: datetime, name: str | None) -> str:
    """`<UTC time>_<name>.json`, e.g. 20261123T120000Z_first.json; the name defaults to `run`."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in (name or "run"))
    return f"{created.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}_{safe}.json"
