"""The store (or a selection of it) as a Hugging Face datasets folder: Parquet written by
`datasets` under data/, and a dataset card (README.md) whose YAML header names the data files,
the form optimum-benchmark and transformers publish benchmark results in. Upload it with
`huggingface_hub.upload_folder(folder_path=DIR, repo_id=..., repo_type="dataset")` where the
Hub is reachable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmgauge.errors import LmgaugeError

DATA_FILE = "data/results.parquet"
CARD = """---
pretty_name: lmgauge benchmark results
tags:
- benchmark
- lmgauge
configs:
- config_name: default
  data_files: {data_file}
---

# lmgauge benchmark results

{rows} results of {runs} runs on {machines} machine class(es), {first} to {last} (UTC), stored
by lmgauge and exported from {store}.

One row per figure: the run (`run_id`, `created_utc`, `run_name`, `status`, `commit`, library
versions), the machine (`machine_class`, `hostname`, `gpu`), what was measured (`bench`,
`model`, `config`, `metric`, `params` as JSON) and the figure (`value` in `unit`; `direction`
says whether lower or higher is better; `threshold` is the quality verdict where one was
judged). Metric meanings are in lmgauge's metric catalogue (`lmgauge metrics`).

```python
from datasets import load_dataset
results = load_dataset("parquet", data_files="{data_file}")["train"]
```
"""


class ExportError(LmgaugeError):
    """The dataset folder cannot be written, or there is nothing to export."""


def write_dataset(rows: pd.DataFrame, out: Path, store_name: str) -> Path:
    """Write `rows` (lmgauge.store.queries.export_rows) and the card into `out`."""
    from datasets import Dataset

    if rows.empty:
        raise ExportError("the store holds no results to export (for this selection).")
    table = rows.assign(created_utc=rows["created_utc"].astype(str))
    card = CARD.format(
        data_file=DATA_FILE, rows=len(table), runs=table["run_id"].nunique(),
        machines=table["machine_class"].nunique(), first=table["created_utc"].min()[:16],
        last=table["created_utc"].max()[:16], store=store_name,
    )  # fmt: skip
    try:
        (out / "data").mkdir(parents=True, exist_ok=True)
        Dataset.from_pandas(table, preserve_index=False).to_parquet(str(out / DATA_FILE))
        (out / "README.md").write_text(card)
    except OSError as error:
        raise ExportError(f"cannot write the dataset into {out}: {error.strerror}.") from None
    return out
