"""The run summary's headline table and links say exactly which figure and which file they
show."""

from __future__ import annotations

import re

from lmgauge.render.cost_tables import costs_markdown
from lmgauge.render.summary import headline_table, summary_markdown


def svm(value, split="test", features="mean", **train):
    return {"model": "minilm", "bench": "accuracy", "metric": "baseline_accuracy", "value": value,
            "unit": "ratio", "params": {"features": features, "classifier": "svm-rbf",
                                        "split": split, **train}}  # fmt: skip


def document(results) -> dict:
    return {"created_utc": "2026-12-02T05:00:00", "run": {"status": "passed", "options": {}},
            "environment": {}, "models": {"minilm": {"weights": "real"}},
            "results": results}  # fmt: skip


def test_the_frozen_svm_columns_name_how_much_train_they_saw():
    quick = [svm(0.69, features="cls", train_sentences=800), svm(0.66, "validation",
             train_sentences=800), svm(0.76, train_sentences=800)]  # fmt: skip
    table = headline_table(document(quick))
    assert table.loc["minilm", "frozen SVM (800 train)"] == "0.760", "mean pooling, test split"
    assert "frozen SVM (full train)" not in table
    both = headline_table(document([svm(0.80), *quick]))
    assert both.loc["minilm", "frozen SVM (full train)"] == "0.800"
    assert both.loc["minilm", "frozen SVM (800 train)"] == "0.760"


def train_figure(metric, value, lever="baseline"):
    return {"model": "m", "bench": "train", "metric": metric, "value": value, "unit": "s",
            "params": {"lever": lever, "batch": 4, "length": 64}}  # fmt: skip


def test_the_summary_links_only_the_cost_charts_that_are_drawn():
    summary = summary_markdown(document([train_figure("train_step_seconds", 0.5)]), "run.json")
    assert "`run.costs.md`" in summary
    assert "scaling.png" not in summary and "cache_cost.png" not in summary
    steps = [{"model": "m", "bench": "cost", "metric": "position_step_seconds", "value": 0.01,
              "unit": "s", "params": {"cache": "yes", "length": n, "longest": 64}}
             for n in (8, 16, 32, 64)]  # fmt: skip
    summary = summary_markdown(document(steps), "run.json")
    assert "charts `run.cache_cost.png`" in summary and "scaling.png" not in summary


def test_the_cost_tables_show_a_dash_where_a_figure_is_missing():
    results = [train_figure("train_step_seconds", 0.5), train_figure("train_step_seconds", 0.7,
               "checkpointing"), train_figure("train_lever_time_ratio", 1.4, "checkpointing")]
    text = costs_markdown(document(results))
    assert not re.search(r"\bnan\b", text, re.IGNORECASE) and "|               –   |" in text


def test_an_uncalibrated_run_says_it_has_no_roofs():
    uncalibrated = document([])
    uncalibrated["run"]["options"]["calibration"] = False
    assert "- roofs: not measured (--no-calibration)" in summary_markdown(uncalibrated, "r.json")
    assert "roofs" not in summary_markdown(document([]), "r.json")
