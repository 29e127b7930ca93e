"""Whether a run report's account of its tests agrees with itself.

lmgauge writes `run.status`, `run.exit_status`, `tests.counts`, `tests.not_passed` and
`tests.passed` from the same outcomes (lmgauge.record.recording), so a report in which they
disagree was edited or broken, and what it says of its tests cannot be trusted either way: a
failure counted but not listed would go unjudged, a test dropped from the list unseen."""

from __future__ import annotations

from collections import Counter

EXIT_STATUS_OF_PASSED = 0
"""The pytest exit status of a run whose status is passed (lmgauge.runs.session_end)."""


def outcomes_problem(document: dict) -> str | None:
    """The first way `document`'s status and tests contradict each other, in words; None when
    they agree. A report with a `tests` section must count its outcomes (`tests.counts`: every
    lmgauge report has since the first version); each outcome other than passed is counted as
    often as `tests.not_passed` lists it, both ways; when `tests.passed` is given, it names as
    many tests as were counted passed; a status of passed has pytest exit status 0 (or none,
    for a run recovered from its journal)."""
    run = document.get("run") or {}
    if run.get("status") == "passed" and run.get("exit_status") not in (EXIT_STATUS_OF_PASSED,
                                                                        None):  # fmt: skip
        return (f"it says passed with pytest exit status {run.get('exit_status')!r}, which "
                "lmgauge never writes (edited?)")
    tests = document.get("tests")
    if tests is None:
        return None
    counts = tests.get("counts")
    if not isinstance(counts, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts.values()):
        return ("tests/counts is missing or not a count of each outcome, which every lmgauge "
                "report writes (edited?)")
    listed = Counter(item.get("outcome") for item in tests.get("not_passed", []))
    for outcome in sorted((set(listed) | set(counts)) - {"passed"}, key=str):
        if counts.get(outcome, 0) != listed.get(outcome, 0):
            return (f"tests/counts says {counts.get(outcome, 0)} {outcome} but tests/not_passed "
                    f"lists {listed.get(outcome, 0)} (edited?)")
    if "passed" in tests and counts.get("passed", 0) != len(set(tests["passed"])):
        return (f"tests/counts says {counts.get('passed', 0)} passed but tests/passed names "
                f"{len(set(tests['passed']))} (edited?)")
    return None
