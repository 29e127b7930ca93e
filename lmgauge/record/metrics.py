"""The catalogue of metrics: every figure lmgauge records has its unit, direction and meaning in
metrics.toml beside this module.

direction: "lower" (smaller is better), "higher" (larger is better) or "exact" (any change
is a change of the model itself, e.g. a parameter count). The run report carries the entries
of the metrics it used, so a report explains its own figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib

from lmgauge.record.units import check_unit, unit_of

DIRECTIONS = ("lower", "higher", "exact")


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    direction: str
    meaning: str
    title: str = ""
    """A chart's title in words ("Decode step"); the name with spaces when not given."""
    zero_is_a_value: bool = False
    """True when 0 is a measured outcome (goodput: no request met the SLO), not a broken
    measurement; a time or rate of zero is otherwise not judged."""
    from_calibration: bool = False
    """True for the calibrated roofs and every figure computed from them (roofline bounds and
    efficiencies): a run with --no-calibration records none of them, and so do the runs of an
    A/B run that repeat only timed tests, which shows them from each side's first run, not
    judged."""

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name}: direction must be one of {DIRECTIONS}")
        check_unit(self.unit, f"metric {self.name}")

    def to_dict(self) -> dict:
        flags = ("zero_is_a_value", "from_calibration")
        hidden = ("name", "title", *(flag for flag in flags if not getattr(self, flag)))
        return {key: value for key, value in asdict(self).items() if key not in hidden}

    @property
    def heading(self) -> str:
        """The title, its unit in words and which way is better: what a chart needs to be read
        without the catalogue."""
        better = {"lower": "lower is better", "higher": "higher is better",
                  "exact": "any change is a change of the model"}[self.direction]  # fmt: skip
        title = self.title or self.name.replace("_", " ")
        return f"{title} ({unit_of(self.unit).words}; {better})"


CATALOGUE_FILE = Path(__file__).with_name("metrics.toml")


def load_catalogue(path: Path = CATALOGUE_FILE) -> dict[str, Metric]:
    """Every metric in the catalogue file, in file order."""
    entries = tomllib.loads(path.read_text(encoding="utf-8"))
    known = set(Metric.__dataclass_fields__) - {"name"}
    for name, entry in entries.items():
        if unknown := set(entry) - known:
            raise ValueError(f"{path}: metric {name} has unknown keys {sorted(unknown)}; "
                             f"an entry may have {sorted(known)}")  # fmt: skip
    return {name: Metric(name, **entry) for name, entry in entries.items()}


METRICS: dict[str, Metric] = load_catalogue()


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise KeyError(
            f"metric '{name}' is not in the catalogue (lmgauge/record/metrics.toml); "
            "add it there first"
        )
    return METRICS[name]


def zero_is_a_value(metric: str) -> bool:
    """Whether 0 is a measured outcome of `metric` (its catalogue entry says so: goodput), not
    a broken measurement; False for a metric the catalogue lacks."""
    known = METRICS.get(metric)
    return bool(known and known.zero_is_a_value)
