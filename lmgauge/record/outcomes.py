"""Whether a run report's account of its tests agrees with itself.

lmgauge writes `run.status`, `run.exit_status`, `tests.counts`, `tests.not_passed` and
`tests.passed` from the same outcomes (lmgauge.record.recording), so a report in which they
disagree was edited or broken, and what it says of its tests cannot be trusted either way: a
failure counted but not listed would go unjudged, a test dropped from the list unseen."""

from __future__ import annotations

from collections import Counter

STATUSES = {0: "passed", 1: "failed", 2: "interrupted"}
"""The run's status for each pytest exit status; any other is "error" (lmgauge.runs.session_end),
and a run recovered from its journal is "killed", with no exit status (lmgauge.record.recovery)."""
KILLED = "killed"
FAILING = ("failed", "error")
"""Outcomes that make pytest's exit status 1 (pytest reports setup and teardown errors as
failed; "error" is kept for reports of other tools)."""


def status_of(exit_status: int | None) -> str:
    """The status lmgauge writes for a run that ended with `exit_status` (None: killed)."""
    return KILLED if exit_status is None else STATUSES.get(exit_status, "error")


def outcomes_problem(document: dict) -> str | None:
    """The first way `document`'s status and tests contradict each other, in words; None when
    they agree. Every lmgauge report since the first version writes a status that follows
    from its pytest exit status (status_of), and a `tests` section that counts its outcomes
    (`tests.counts`); a passed run counts no failed or errored test; each outcome other than
    passed is counted as often as `tests.not_passed` lists it, both ways; when `tests.passed`
    is given (since 2026-12-03) it names a test for each counted pass, and at most as many (a
    test id passes more than once with pytest's subtests or --keep-duplicates)."""
    run = document.get("run") or {}
    if "exit_status" not in run:
        return "run/exit_status is missing, which every lmgauge report writes (edited?)"
    if run.get("status") != status_of(run["exit_status"]):
        return (f"it says {run.get('status')!r} with pytest exit status {run['exit_status']!r}, "
                f"where lmgauge writes {status_of(run['exit_status'])!r} (edited?)")
    tests = document.get("tests")
    if not isinstance(tests, dict):
        return "it has no tests section, which every lmgauge report writes (edited?)"
    counts = tests.get("counts")
    if not isinstance(counts, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts.values()):
        return ("tests/counts is missing or not a count of each outcome, which every lmgauge "
                "report writes (edited?)")
    failures = sum(counts.get(outcome, 0) for outcome in FAILING)
    if run["status"] == "passed" and failures:
        return (f"it says passed, yet counts {failures} failed or errored tests: pytest exits 0 "
                "only without them, and lmgauge writes a run stopped early as interrupted "
                "(edited?)")
    listed = Counter(item.get("outcome") for item in tests.get("not_passed", []))
    for outcome in sorted((set(listed) | set(counts)) - {"passed"}, key=str):
        if counts.get(outcome, 0) != listed.get(outcome, 0):
            return (f"tests/counts says {counts.get(outcome, 0)} {outcome} but tests/not_passed "
                    f"lists {listed.get(outcome, 0)} (edited?)")
    if "passed" in tests:
        passes, named = counts.get("passed", 0), len(set(tests["passed"]))
        if named > passes or (passes > 0) != (named > 0):
            return f"tests/counts says {passes} passed but tests/passed names {named} (edited?)"
    return None
