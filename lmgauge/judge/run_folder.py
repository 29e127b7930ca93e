"""Reading what a gate judges: one run report, or a folder of run reports of one code on one
machine (a baseline of several runs, or a new side of several), refused in one sentence when
the folder cannot stand for that: runs that differ in machine, setup, commit or a figure's unit,
a broken report, an unfinished run in a base, or the journal of a run that has not written its
report."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from lmgauge.judge.spread import Baseline, combined, identity_words, run_identities, single


def read_baseline(path: str | Path, role: str = "baseline") -> Baseline:
    """The runs at `path` (the baseline, or with role "new side" the run or runs under test):
    one run report, or a folder of run reports of the same code (their medians, and each
    figure's run-to-run spread from them); ReportError in one sentence when it holds no
    readable run report."""
    from lmgauge.judge.keys import indexed
    from lmgauge.record.report import read_report

    path = Path(path)
    if not path.is_dir():
        document = read_report(path)
        indexed(document)  # a report holding a figure twice is refused now, not at the end
        named = [(path, document)]
        baseline = single(document)
    else:
        named = read_named_run_folder(path, role)
        baseline = combined([document for _, document in named], leave_out_busy=role == "baseline")
    identities = {key: str(file) for file, document in named for key in run_identities(document)}
    return dataclasses.replace(baseline, identities=identities)


def read_sides(base_path: str | Path, new_path: str | Path) -> tuple[Baseline, Baseline]:
    """The baseline and the new side of a gate (read_baseline each); ReportError naming what is
    wrong with either, or both, in one message, or when a run is on both sides (a new report
    left in the baseline's folder would be judged against itself, and narrow the spread)."""
    from lmgauge.errors import ReportError

    sides, problems = [], []
    for path, role in ((base_path, "baseline"), (new_path, NEW_SIDE)):
        try:
            sides.append(read_baseline(path, role))
        except ReportError as error:
            problems.append(str(error))
    if problems:
        raise ReportError(" ".join(problems))
    base, new = sides
    shared = sorted(set(base.identities) & set(new.identities))
    if shared:
        in_base, in_new = base.identities[shared[0]], new.identities[shared[0]]
        what = (f"{in_new} is both in the baseline and the new side"
                if Path(in_base).resolve() == Path(in_new).resolve()
                else f"the baseline's {in_base} and the new side's {in_new} are one run (a copy)")
        raise ReportError(
            f"{what}, {identity_words(shared[0])}: a run judged against itself passes, and "
            "narrows the baseline's spread; gate a new run against a baseline that does not "
            "hold it."
        )
    return base, new


def read_run_folder(path: str | Path, role: str = "baseline") -> list[dict]:
    """The run reports in folder `path` (read_named_run_folder), without their files."""
    return [document for _, document in read_named_run_folder(path, role)]


def read_named_run_folder(path: str | Path, role: str = "baseline") -> list[tuple[Path, dict]]:
    """(file, report) of each run report in folder `path`, all of one code on one machine, in
    file name order.
    Other JSON files are skipped; a file that says it is a run report but does not read as one,
    the journal of a run that has not written its report (killed, or still going: its results
    would be left out unseen), a folder without run reports, or runs that differ in machine,
    setup or commit are a ReportError in one sentence that names the folder's `role`."""
    from lmgauge.errors import ReportError
    from lmgauge.record.journal import SUFFIX, report_path_of
    from lmgauge.record.report import read_report

    path = Path(path)
    journals = sorted(candidate.name for candidate in path.glob(f"*{SUFFIX}")
                      if not report_path_of(candidate).exists())  # fmt: skip
    if journals:
        raise ReportError(
            f"{role} folder {path} holds the journal of a run that has not written its report "
            f"({', '.join(journals[:3])}): it was killed or is still going, and judging the "
            f"folder without it would leave that run out unseen; when no run is going, "
            f"`lmgauge recover {path}` turns it into a report (status killed)."
        )
    documents, names = [], []
    for candidate in sorted(path.glob("*.json")):
        try:
            documents.append(read_report(candidate))
            names.append(candidate.name)
        except ReportError as error:
            if looks_like_run_report(candidate):
                raise ReportError(f"{role} folder {path}: {error}") from None
    if not documents:
        raise ReportError(f"{role} folder {path} holds no lmgauge run report (*.json).")
    check_no_copies(path, documents, names, role)
    check_one_code_on_one_machine(path, documents, role, names)
    return [(path / name, document) for name, document in zip(names, documents, strict=True)]


def check_no_copies(path: Path, documents: list[dict], names: list[str], role: str) -> None:
    """ReportError when two files of the folder are one run (spread.run_identities): a copy
    would count as a run of its own, and shrink the run-to-run spread the gate judges by."""
    from lmgauge.errors import ReportError

    seen: dict[tuple, str] = {}
    for name, document in zip(names, documents, strict=True):
        for identity in run_identities(document):
            if identity in seen:
                raise ReportError(
                    f"{role} folder {path} holds one run twice ({seen[identity]} and {name}, "
                    f"both {identity_words(identity)}): a copy is not another run, and would "
                    "narrow the run-to-run spread; remove one."
                )
            seen[identity] = name


REPORT_NAME = re.compile(r"\d{8}T\d{6}Z_.*\.json")
"""How lmgauge names the reports it writes: <UTC time>_<name>.json (record.recovery)."""


def looks_like_run_report(path: Path) -> bool:
    """Whether a file that did not read as a run report is one, broken (truncated, emptied),
    as opposed to other JSON that lives in a reports folder: it says it is one, it is empty,
    or it bears the name lmgauge gives its reports."""
    if REPORT_NAME.fullmatch(path.name):
        return True
    try:
        text = path.read_text(errors="replace")[:4096]
    except OSError:
        return False
    return '"lmgauge-run-report"' in text or not text.strip()


NEW_SIDE = "new side"
"""The role of a folder of runs under test: a run of it that did not finish fails the gate
(compare) rather than being refused."""


def code_and_machine_differences(first: dict, other: dict) -> list[str]:
    """'name: first -> other' for each difference of machine, setup or commit between two runs:
    what makes them not runs of one code on one machine."""
    from lmgauge.judge.drift import field, hardware_differences, setup_differences

    differences = hardware_differences(first, other) + setup_differences(first, other)
    commits = [field(d, ("environment", "git", "commit")) for d in (first, other)]
    if commits[0] != commits[1]:
        differences.append(f"commit: {commits[0]} -> {commits[1]}")
    return differences


def check_one_code_on_one_machine(
    path: Path, documents: list[dict], role="baseline", names: list[str] | None = None
) -> None:
    """ReportError when the runs of a folder differ in machine, setup or commit: their spread
    would then be the spread of those differences, not of runs of one code here. `names`: the
    documents' file names, for the message."""
    from lmgauge.errors import ReportError
    from lmgauge.judge.drift import INJECTED_FIELDS, differing
    from lmgauge.judge.keys import indexed
    from lmgauge.judge.spread import FINISHED
    from lmgauge.record.keys import figure_words

    names = names or [f"run {index + 1}" for index in range(len(documents))]
    seen: dict[tuple, tuple] = {}
    for name, document in zip(names, documents, strict=True):
        status = document.get("run", {}).get("status")
        if role != NEW_SIDE and status is not None and status not in FINISHED:
            raise ReportError(
                f"{role} folder {path} holds a run that did not finish ({name}: status "
                f"{status}): what it recorded is not a whole run; move it out of the folder."
            )
        for key, result in indexed(document).items():
            first_name, unit, direction = seen.setdefault(
                key, (name, result["unit"], result["direction"]))  # fmt: skip
            if (result["unit"], result["direction"]) != (unit, direction):
                raise ReportError(
                    f"{role} folder {path} mixes units: {first_name} records "
                    f"{figure_words(key)} in '{unit}' ({direction}), {name} in "
                    f"'{result['unit']}' ({result['direction']}); a median over them means "
                    "nothing: move the runs that differ out of it."
                )
    first = documents[0]
    for name, document in zip(names[1:], documents[1:], strict=True):
        differences = code_and_machine_differences(first, document)
        differences += differing(first, document, INJECTED_FIELDS)
        if differences:
            raise ReportError(
                f"{role} folder {path} mixes runs that differ ({names[0]} -> {name}: "
                f"{'; '.join(differences[:3])}): a {role} of several runs is several runs of one "
                "code with one setup on one machine; move the runs that differ out of it."
            )
