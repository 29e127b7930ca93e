"""What differs between the machines and setups of two run reports.

Hardware fields decide whether raw times and throughputs can be compared at all; setup fields
(threads, dtype, round settings, library versions) are named but do not stop a comparison, since
a slowdown from fewer threads or a new library is exactly what a gate is for. A figure taken
with other round settings is a median over other rounds: comparable, but not the figure the
baseline's spread was measured on, so it is named too.
"""

from __future__ import annotations

from dataclasses import dataclass

HARDWARE_FIELDS = {
    "CPU model": ("environment", "cpu_model"),
    "physical cores": ("environment", "cpu_cores_physical"),
    "logical cores": ("environment", "cpu_cores_logical"),
    "GPU": ("environment", "gpu"),
    "device": ("run", "options", "device"),
}
SETUP_FIELDS = {
    "threads": ("run", "options", "threads"),
    "CPUs the process may use (affinity)": ("environment", "cpu_affinity"),
    "CPU quota (cgroup)": ("environment", "cpu_quota"),
    "dtype": ("run", "options", "dtype"),
    "data set": ("run", "options", "dataset"),
    "fewest rounds (--rounds)": ("run", "options", "rounds"),
    "round budget in s (--round-budget)": ("run", "options", "round_budget_s"),
    "round stop width (--round-width)": ("run", "options", "round_width"),
    "Python": ("environment", "python"),
    "OS": ("environment", "os"),
}

INJECTED_FIELDS = {
    "slowdown injected (--inject-slowdown)": ("run", "options", "inject_slowdown"),
    "models slowed (--inject-slowdown-models)": ("run", "options", "inject_slowdown_models"),
}
"""Recorded only when a slowdown was injected (to measure the gate itself). Not setup: the
gate's own trials compare slowed runs with the same probe normalisation as unslowed ones; but
a folder of runs must not mix them, and a slowed base fails the gate (compare)."""

NOT_RECORDED = object()
"""What `field` gives, when asked, for a field a report does not hold (an older report)."""


def field(document: dict, path: tuple[str, ...], missing=None):
    """The value at `path` in `document`, or `missing` when some key on the way is absent."""
    value = document
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return missing
        value = value[key]
    return value


def differing(base: dict, new: dict, fields: dict) -> list[str]:
    """'name: base -> new' for every field whose value differs."""
    lines = []
    for name, path in fields.items():
        before, after = field(base, path, NOT_RECORDED), field(new, path, NOT_RECORDED)
        if before is NOT_RECORDED and after is NOT_RECORDED or before == after:
            continue
        texts = [shown(before), shown(after)]
        if texts[0] == texts[1]:
            texts = [repr(before), repr(after)]
        lines.append(f"{name}: {texts[0]} -> {texts[1]}")
    return lines


def shown(value) -> str:
    """A field's value in a sentence: 'not recorded' for a field an older report lacks, 'none'
    for a recorded null (no GPU, no CPU quota), a float to 4 significant digits."""
    if value is NOT_RECORDED:
        return "not recorded"
    if value is None:
        return "none"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def hardware_differences(base: dict, new: dict) -> list[str]:
    return differing(base, new, HARDWARE_FIELDS)


def setup_differences(base: dict, new: dict) -> list[str]:
    """Setup fields and library versions that differ."""
    lines = differing(base, new, SETUP_FIELDS)
    before = field(base, ("environment", "libraries")) or {}
    after = field(new, ("environment", "libraries")) or {}
    for library in sorted(set(before) | set(after)):
        if before.get(library) != after.get(library):
            versions = [side.get(library) or "not installed" for side in (before, after)]
            lines.append(f"{library}: {versions[0]} -> {versions[1]}")
    return lines


SPEED_TOLERANCE = 0.10
ROOFS = {"matmul FLOP/s": "matmul_flops_per_s", "memory read bandwidth": "bandwidth_bytes_per_s"}
ROOF_SETUP = ("device", "dtype", "threads")
"""What a roof is measured with: roofs of two runs that differ in these are not the machine
moving (a bfloat16 matmul roof is not a faster float32 one) and are not compared."""


@dataclass(frozen=True)
class Drift:
    """How the machine's own calibrated speed moved beyond SPEED_TOLERANCE. lines: what moved;
    slower_in_new: the new run saw a slower machine (lower roofs than the base run, or lower at
    its end than at its start), which could explain slower figures; slower_in_base: the same for
    the base run, which could explain faster figures in the new run."""

    lines: tuple[str, ...] = ()
    slower_in_new: bool = False
    slower_in_base: bool = False


def speed_drift(base: dict, new: dict) -> Drift:
    lines, slower_new, slower_base = [], False, False
    low = 1 - SPEED_TOLERANCE
    alike = all(field(base, ("calibration", key)) == field(new, ("calibration", key))
                for key in ROOF_SETUP)  # fmt: skip
    for name, key in ROOFS.items():
        before, after = (field(doc, ("calibration", key)) for doc in (base, new))
        if alike and before and after and not low <= after / before <= 1 / low:
            lines.append(f"{name} {before:.3g} -> {after:.3g} between the runs")
            slower_new |= after < before
            slower_base |= before < after
        for label, doc, start in (("base", base, before), ("new", new, after)):
            end = field(doc, ("calibration_end", key))
            if start and end and end < low * start:
                lines.append(f"{name} {start:.3g} -> {end:.3g} during the {label} run")
                slower_new |= label == "new"
                slower_base |= label == "base"
    return Drift(tuple(lines), slower_new, slower_base)
