"""Tables of generated text (e.g. every model's output on the same prompts), written next to
the JSON report as CSV (one row per text) and Markdown (one column per model).

A text entry is {"table", "model", "params", "text"}; entries of one table with the same params
line up in one Markdown row, so models can be read side by side.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmgauge.record.report import write_text_atomic


def table_frame(entries: list[dict]) -> pd.DataFrame:
    """One row per text: the params as columns, then model and text."""
    rows = [
        {**entry["params"], "model": entry["model"], "text": entry["text"]} for entry in entries
    ]
    return pd.DataFrame(rows)


def side_by_side(frame: pd.DataFrame) -> pd.DataFrame:
    """Params as the index, one column per model (in first-seen order), text in the cells."""
    keys = [column for column in frame.columns if column not in ("model", "text")]
    wide = frame.pivot_table(
        index=keys, columns="model", values="text", aggfunc="first", sort=False
    )
    return wide[list(dict.fromkeys(frame["model"]))]


def markdown_cell(text) -> str:
    if not isinstance(text, str):
        return ""
    return text.replace("|", "\\|").replace("\r", "").replace("\n", " ⏎ ").strip()


def to_markdown(title: str, frame: pd.DataFrame) -> str:
    wide = side_by_side(frame).map(markdown_cell).reset_index()
    return f"# {title}\n\n{wide.to_markdown(index=False)}\n"


def write_text_tables(entries: list[dict], report_path: Path) -> list[Path]:
    """Write `<report stem>.<table>.csv` and `.md` for each table; the paths written."""
    written = []
    for table in dict.fromkeys(entry["table"] for entry in entries):
        frame = table_frame([entry for entry in entries if entry["table"] == table])
        stem = report_path.with_suffix("")
        csv = write_text_atomic(frame.to_csv(index=False), Path(f"{stem}.{table}.csv"))
        title = f"{table} ({report_path.name})"
        markdown = write_text_atomic(to_markdown(title, frame), Path(f"{stem}.{table}.md"))
        written += [csv, markdown]
    return written
