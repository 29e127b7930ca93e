"""The end of a bench session, without pytest: assemble the report from the journal, write it
with its text tables and Markdown summary, judge the gate on the written report, remove the
journal. Called by the pytest plugin at session end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmgauge.judge.gate import GateResult, gate_summary, run_gate
from lmgauge.judge.spread import Baseline
from lmgauge.record.journal import read_events
from lmgauge.record.outcomes import status_of
from lmgauge.record.recording import RunRecorder
from lmgauge.record.report import write_atomic, write_text_atomic
from lmgauge.render.configs_table import configs_markdown, configs_path, has_configs
from lmgauge.render.cost_tables import costs_markdown, costs_path, has_costs
from lmgauge.render.serving_table import has_served, serving_markdown, serving_path
from lmgauge.render.summary import summary_markdown
from lmgauge.render.text_tables import write_text_tables


@dataclass
class Finished:
    """report: the report written (None when it could not be); gate: the gate's result when a
    base was given; failure: one sentence when the report could not be written; stored: one
    sentence on storing the run in the results database (None when no store was asked for)."""

    report: Path | None
    gate: GateResult | None = None
    failure: str | None = None
    stored: str | None = None


def summary_path(report_path: Path) -> Path:
    return report_path.with_suffix(".md")


def finish(
    journal, path: Path, exit_status: int, extra_run: dict, gate_base: tuple[str, Baseline] | None,
    store_url: str | None = None,
) -> Finished:  # fmt: skip
    """Write the report of the session whose `journal` is given (still open and locked: the
    caller removes it and releases the lock once the report is written), to `path`; then the
    gate against `gate_base` (its path and document), added to the report. A report that cannot
    be written leaves the journal for `lmgauge recover`, and the gate still judges the run as
    it is in memory (a gate that judged nothing would otherwise let the session pass)."""
    recorder = RunRecorder.replay(read_events(journal.path))
    status = status_of(exit_status)
    extra_run = {**extra_run, "summary": summary_path(path).name, "gate": None}
    gate = document = None
    try:
        tables = write_text_tables(recorder.texts, path)
        extra_run["text_tables"] = [table.name for table in tables]
        document = recorder.document(status, exit_status, extra_run)
        write_atomic(document, path)
        if gate_base is not None:
            base_path, base = gate_base
            gate = run_gate(base, document, base_name=base_path, new_name=path.name)
            document["run"]["gate"] = gate_summary(gate, base_path)
            write_atomic(document, path)
        write_summary(document, path)
    except OSError as error:
        if gate is None and gate_base is not None:
            base_path, base = gate_base
            document = document or recorder.document(status, exit_status, extra_run)
            gate = run_gate(base, document, base_name=base_path, new_name=path.name)
        return Finished(
            None,
            gate,
            f"lmgauge could not write the run report {path} ({error.strerror}); every result "
            f"is kept in {journal.path}: `lmgauge recover {path.parent}` makes the report.",
        )
    return Finished(path, gate, stored=store_run(store_url, document, path) if store_url else None)


def write_summary(document: dict, path: Path) -> list[Path]:
    """The Markdown summary of the report at `path` and every table and chart it links to
    (configurations, costs, serving), beside it; the summary's path first."""
    written = [write_text_atomic(summary_markdown(document, path.name), summary_path(path))]
    if has_configs(document):
        from lmgauge.render.configs_chart import configs_chart

        written.append(write_text_atomic(configs_markdown(document), configs_path(path)))
        written.append(configs_chart(document, path.with_suffix(".configs.png")))
    if has_costs(document):
        written += write_costs(document, path)
    if has_served(document):
        from lmgauge.render.serving_chart import serving_chart

        written.append(write_text_atomic(serving_markdown(document), serving_path(path)))
        written.append(serving_chart(document, path.with_suffix(".serving.png")))
    return [item for item in written if item is not None]


def write_costs(document: dict, path: Path) -> list[Path | None]:
    """The cost tables and both cost charts beside the report."""
    from lmgauge.render.cost_charts import cache_cost_chart, scaling_chart

    return [write_text_atomic(costs_markdown(document), costs_path(path)),
            cache_cost_chart(document, path.with_suffix(".cache_cost.png")),
            scaling_chart(document, path.with_suffix(".scaling.png"))]


def store_run(url: str, document: dict, path: Path) -> str:
    """Store the written report in the database at `url`; one sentence saying what happened.
    The JSON report stays the source of truth: a store that fails loses nothing."""
    from lmgauge.store.engine import StoreError, open_store, shown
    from lmgauge.store.writing import store_report

    try:
        stored = store_report(open_store(url), document, str(path))
    except StoreError as error:
        return f"lmgauge: the run was not stored ({error}); `lmgauge store {path}` stores it later."
    return f"lmgauge store: run {stored.run_id} in {shown(url)}"
