"""Per-metric tolerances for `compare` and `gate`, kept in one versioned TOML file
(benches/gate.toml). The first rule whose metric patterns or units match a figure applies.

A rule says how big a change must be to count (`relative`, `absolute` or both, which must then
both be exceeded; or `exact`: any change),
whether the figure is `gated` (a change for the worse fails `lmgauge gate`), and whether it is
`deterministic` (counts, accuracy): then a change beyond the tolerance is worse or better
outright, with no significance test; a gated figure that is not deterministic and has no
rounds or spread to test it by is "not judged" when it moved the worse way, and fails.
File versions: 1 (first); 2 adds `[paired]`: the tolerance of A/B runs judged pair by pair
(lmgauge.judge.paired); 3 adds `figures`; 4 adds `run_spread` and `spread_reason` (the
run-to-run spread of timings, lmgauge.judge.spread); 5 adds the served figures' rules; 6 and 7
change which figures are gated, not the format.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib

SUPPORTED_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8)
DEFAULT_ALPHA = 0.05
DEFAULT_PAIRED_RELATIVE = 0.10
ROUND_SHARE = 1 / 3
"""A run's own uncertainty (the standard error of its median over rounds) may be this share of
the run-to-run spread the gate judges it by: its variance then adds at most 1/9 to the spread's,
which widens the spread by at most 5.4 %. Rounds that narrow the interval further are not run:
runs differ by more than rounds can pin down (lmgauge.judge.spread)."""
Z_95 = 1.959964
FALLBACK_ROUND_WIDTH = 0.05


@dataclass(frozen=True)
class Rule:
    metrics: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    relative: float | None = None
    absolute: float | None = None
    exact: bool = False
    gated: bool = False
    deterministic: bool = False
    reason: str = ""
    figures: str = ""
    """What the rule covers, in words (the README's gate table)."""
    run_spread: float | None = None
    """Standard deviation of a timing figure's natural-log value between runs of the same code
    on the runner the rules were measured on; used when the baseline is a single run."""
    spread_reason: str = ""

    def matches(self, metric: str, unit: str) -> bool:
        return unit in self.units or any(fnmatch.fnmatchcase(metric, p) for p in self.metrics)

    def beyond(self, base: float, new: float) -> bool:
        """Whether the change from `base` to `new` is larger than this rule tolerates (no
        change never is, also under a rule that states no tolerance)."""
        if self.exact:
            return not math.isclose(base, new, rel_tol=1e-12, abs_tol=0.0)
        if base == new:
            return False
        beyond_absolute = self.absolute is None or abs(new - base) > self.absolute
        if self.relative is None:
            return beyond_absolute
        beyond_relative = new != 0 if base == 0 else abs(new / base - 1) > self.relative
        return beyond_relative and beyond_absolute

    def tolerance(self) -> str:
        """The tolerance in words: "exact", "±25 %", "±0.03 absolute", "±50 % and ±32 MiB"."""
        if self.exact:
            return "exact"
        parts = [f"±{100 * self.relative:g} %"] if self.relative is not None else []
        in_bytes = self.units == ("bytes",) or bool(self.metrics) and all(
            metric.endswith("_bytes") for metric in self.metrics)  # fmt: skip
        if self.absolute is not None and in_bytes:
            parts.append(f"±{self.absolute / 2**20:g} MiB")
        elif self.absolute is not None:
            parts.append(f"±{self.absolute:g} absolute")
        return " and ".join(parts) or "none: any change"


@dataclass(frozen=True)
class GateRules:
    rules: tuple[Rule, ...]
    alpha: float = DEFAULT_ALPHA
    paired_relative: float = DEFAULT_PAIRED_RELATIVE
    """A/B runs: a timing figure's mean per-pair change must exceed this (relative) to count."""
    fallback: Rule = Rule(
        relative=0.10,
        reason="no rule names this metric: compared, not gated",
        figures="anything no rule names",
    )
    """Applies to a figure no rule matches."""

    def rule_for(self, metric: str, unit: str) -> Rule:
        return next((r for r in self.rules if r.matches(metric, unit)), self.fallback)


def load_gate_rules(path: Path) -> GateRules:
    """The rules in `path`; ValueError with one sentence when the file is malformed."""
    try:
        document = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read gate rules {path}: {error}") from None
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or (
            version not in SUPPORTED_VERSIONS):  # fmt: skip
        raise ValueError(
            f"{path} has version {document.get('version')!r}; lmgauge reads gate rules "
            f"versions {', '.join(map(str, SUPPORTED_VERSIONS))}"
        )
    check_keys(path, "the file", document, FILE_KEYS)
    entries, paired = document.get("rule", []), document.get("paired", {})
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{path}: each rule must be a [[rule]] table (two brackets), not "
                         f"{entries!r}")  # fmt: skip
    if not isinstance(paired, dict):
        raise ValueError(f"{path}: [paired] must be a table, not {paired!r}")
    check_keys(path, "[paired]", paired, PAIRED_KEYS)
    rules = []
    for index, entry in enumerate(entries):
        if not entry.get("metrics") and not entry.get("units"):
            raise ValueError(f"{path}: rule {index} names no metrics and no units")
        if "reason" not in entry:
            raise ValueError(f"{path}: rule {index} lacks a reason")
        check_range(path, f"rule {index}", "run_spread", entry.get("run_spread"), 0,
                    MOST_RUN_SPREAD, low_open=True)  # fmt: skip
        for key, low, high in (("relative", 0, MOST_RELATIVE), ("absolute", 0, math.inf)):
            check_range(path, f"rule {index}", key, entry.get(key), low, high)
        unknown = set(entry) - {f for f in Rule.__dataclass_fields__}
        if unknown:
            raise ValueError(f"{path}: rule {index} has unknown keys {', '.join(sorted(unknown))}")
        check_types(path, index, entry)
        if entry.get("exact") and ({"relative", "absolute"} & set(entry)):
            raise ValueError(f"{path}: rule {index} is exact and states a tolerance too; exact "
                             "judges any change, so the tolerance would be ignored: keep one")
        check_units(path, index, entry.get("units", []))
        check_metrics(path, index, entry.get("metrics", []))
        rules.append(
            Rule(
                **{
                    **entry,
                    "metrics": tuple(entry.get("metrics", ())),
                    "units": tuple(entry.get("units", ())),
                }
            )
        )
    check_reachable(path, rules)
    check_range(path, "the file", "alpha", document.get("alpha"), 0, 0.5, low_open=True)
    check_range(path, "[paired]", "relative", paired.get("relative"), 0, MOST_RELATIVE)
    return GateRules(
        tuple(rules),
        float(document.get("alpha", DEFAULT_ALPHA)),
        float(paired.get("relative", DEFAULT_PAIRED_RELATIVE)),
    )


FILE_KEYS = ("version", "alpha", "rule", "paired")
PAIRED_KEYS = ("relative", "reason")


def check_keys(path, where: str, table: dict, known: tuple[str, ...]) -> None:
    """ValueError in one sentence naming the keys of `table` that are none of `known`: a
    misspelt `alpah` would otherwise leave the default in force unseen."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(f"{path}: {where} has unknown keys {', '.join(unknown)} (it knows "
                         f"{', '.join(known)})")  # fmt: skip


def check_units(path, index: int, units: list[str]) -> None:
    """ValueError in one sentence when a rule names a unit no figure has: "S" for "s" would
    leave every figure the rule meant ungated, unseen."""
    from lmgauge.record.units import UNITS

    unknown = [unit for unit in units if unit not in UNITS]
    if unknown:
        raise ValueError(f"{path}: rule {index} names units no figure has ({', '.join(unknown)}); "
                         f"the units are {', '.join(UNITS)}")  # fmt: skip


def check_metrics(path, index: int, patterns: list[str]) -> None:
    """ValueError in one sentence when a rule's metric name or pattern matches no metric of
    lmgauge's catalogue: "paramters_*" would leave the figures it meant ungated, unseen."""
    from lmgauge.record.metrics import METRICS

    unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(m, p) for m in METRICS)]
    if unknown:
        raise ValueError(f"{path}: rule {index} names metrics that match none of lmgauge's "
                         f"({', '.join(unknown)}); `lmgauge metrics` lists them")  # fmt: skip


def check_reachable(path, rules: list[Rule]) -> None:
    """ValueError in one sentence when a rule can never apply: the first rule that matches a
    figure judges it, so a rule whose every catalogued metric an earlier rule already matches
    would be listed by `lmgauge rules` and judge nothing (a tighter rule for decode steps
    placed after the rule for all seconds let a 1.2x slowdown pass), nor may a rule name a
    metric (a pattern that matches that one metric) that an earlier rule takes: that part of
    it never applies. A pattern of several metrics, or a unit, that earlier rules partly cover
    is how a catch-all is written, and stays allowed."""
    from lmgauge.record.metrics import METRICS

    def judged_by(name: str, unit: str) -> int:
        return next(i for i, other in enumerate(rules) if other.matches(name, unit))

    for index, rule in enumerate(rules):
        matched = [(name, judged_by(name, metric.unit)) for name, metric in METRICS.items()
                   if rule.matches(name, metric.unit)]  # fmt: skip
        taken = {first: name for name, first in reversed(matched) if first != index}
        if matched and all(first != index for _, first in matched):
            earlier = "; ".join(f"rule {i} takes {name}" for i, name in sorted(taken.items()))
            raise ValueError(f"{path}: rule {index} never applies: every metric it matches is "
                             f"judged by an earlier rule ({earlier}); put it before "
                             "them")  # fmt: skip
        for pattern in rule.metrics:
            named = [name for name in METRICS if fnmatch.fnmatchcase(name, pattern)]
            if len(named) == 1 and (first := judged_by(named[0], METRICS[named[0]].unit)) < index:
                raise ValueError(f"{path}: rule {index} names {named[0]}, but rule {first} "
                                 f"judges it first, so rule {index} never applies to it; put it "
                                 f"before rule {first}")  # fmt: skip


def check_types(path, index: int, entry: dict) -> None:
    """ValueError in one sentence when a rule's `metrics` or `units` is not a list of strings
    (a bare string would match by its characters: "decode*" read as "d", "e", ...), `reason`,
    `figures` or `spread_reason` is not a string (each is printed as words under a verdict),
    or `exact`, `gated` or `deterministic` is not true or false."""
    for key in ("metrics", "units"):
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{path}: rule {index}'s {key} must be a list of strings, "
                             f'like {key} = ["{value}"], not {value!r}')  # fmt: skip
    for key in ("reason", "figures", "spread_reason"):
        if not isinstance(entry.get(key, ""), str):
            raise ValueError(f"{path}: rule {index}'s {key} must be a string in quotes, not "
                             f"{entry[key]!r}")  # fmt: skip
    for key in ("exact", "gated", "deterministic"):
        if not isinstance(entry.get(key, False), bool):
            raise ValueError(f"{path}: rule {index}'s {key} must be true or false, not "
                             f"{entry[key]!r}")  # fmt: skip


MOST_RELATIVE = 10.0
"""The largest relative tolerance a rules file may state (±1000 %). A relative tolerance is a
fraction (25 % is 0.25): 25 would be ±2500 %, which no faster value can exceed (it would have
to be below zero) and only a 26x slowdown would, so it is refused as the slip it is."""


MOST_RUN_SPREAD = 2.0
"""The largest run-to-run spread a rules file may state (standard deviation of the natural-log
value): 2 is runs of one code differing by 7x, far beyond any runner measured (0.25 at most)."""


def check_range(path, where: str, key: str, value, low: float, high: float,
                low_open: bool = False) -> None:  # fmt: skip
    """ValueError in one sentence when `value` (absent: None, fine) is not a finite number from
    `low` to `high` (above `low` when low_open): an infinite tolerance could never fail."""
    if value is None:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and (low < value if low_open else low <= value) \
            and value <= high:
        return
    bound = "above" if low_open else "from"
    fraction = " (a fraction: 0.25 is 25 %)" if key == "relative" else ""
    raise ValueError(f"{path}: {where} has {key} = {value!r}; it must be a finite number {bound} "
                     f"{low:g} to {high:g}{fraction}")  # fmt: skip


def round_width(rules: GateRules) -> tuple[float, str]:
    """The relative half-width of the 95 % interval of a latency's median over rounds at which
    its timed rounds stop (lmgauge.measure.rounds), and why: 1.96 x ROUND_SHARE x the run spread
    of the rule that judges latencies in seconds (0.17 in gate.toml version 6 gives ±11.1 %);
    the rounds that decide the stop time latencies. A throughput made of the same rounds
    (decode tokens/s, sentences/s) is judged by the throughputs' spread, 0.15: for it the
    rounds' share widens the spread by at most 6.9 %. FALLBACK_ROUND_WIDTH (±5 %) when the
    latency rule states no run spread."""
    rule = rules.rule_for("decode_step_seconds", "s")
    if rule.run_spread is None:
        return FALLBACK_ROUND_WIDTH, "the gate rules state no run spread for latencies"
    width = Z_95 * ROUND_SHARE * rule.run_spread
    return width, (f"1.96 x a third of the gate's run-to-run spread of latencies, "
                   f"{rule.run_spread:g}")  # fmt: skip
