"""The cost tables and charts of a run: exponents and the tenfold position of the KV cache
(a cache-less model set against its twin's cache), training levers, scaling across models,
and the files a session writes beside its report."""

from __future__ import annotations

import pytest

from lmgauge.record.recording import RunRecorder
from lmgauge.record.report import validate
from lmgauge.render.cost_charts import cache_cost_chart, scaling_chart
from lmgauge.render.cost_tables import (
    cache_frame,
    costs_markdown,
    has_costs,
    lever_frame,
    scaling_frame,
)
from tests.reports_for_tests import ENVIRONMENT

LENGTHS = (8, 16, 32, 64, 128)
SIZES = {"distilgpt2": 82e6, "gpt2": 124e6, "gpt2-medium": 355e6, "scratch-gpt2": 124e6}


def cost_report() -> dict:
    """gpt2 steps: cached 5 ms flat, no cache 1 ms x n; scratch-gpt2 (gpt2's twin, no cache)
    1.2 ms x n; decode, memory and training figures for four models growing as N^1."""
    recorder = RunRecorder({"models": list(SIZES), "device": "cpu", "dtype": "float32",
                            "threads": 2, "dataset": "d"})  # fmt: skip
    for model, size in SIZES.items():
        about = {"name": model, "weights": "synthetic"}
        recorder.model_loaded(
            model, {**about, "twin": "gpt2"} if model == "scratch-gpt2" else about
        )
        recorder.record("params", model, "parameters_total", size, test=model)
        recorder.record("generate", model, "decode_step_seconds", samples=[size * 2e-10] * 3,
                        test=model, batch=1, prompt_tokens=128, new_tokens=32)  # fmt: skip
        recorder.record("train", model, "train_step_seconds", samples=[size * 1e-8] * 3,
                        test=model, lever="baseline", batch=4, length=64)  # fmt: skip
        recorder.record("train", model, "train_step_bound_seconds", size * 5e-9, test=model,
                        batch=4, length=64)  # fmt: skip
    curves = {("gpt2", "yes"): lambda n: 0.005, ("gpt2", "no"): lambda n: 1e-3 * n,
              ("scratch-gpt2", "no"): lambda n: 1.2e-3 * n}  # fmt: skip
    for (model, mode), seconds in curves.items():
        for n in LENGTHS:
            recorder.record("cache_cost", model, "position_step_seconds", samples=[seconds(n)] * 3,
                            test=model, cache=mode, length=n, longest=128)  # fmt: skip
    recorder.record("train", "gpt2", "train_lever_time_ratio", 1.2, test="gpt2",
                    lever="checkpointing", batch=4, length=64)  # fmt: skip
    recorder.record("train", "gpt2", "train_activation_bytes", 6e7, test="gpt2",
                    lever="checkpointing", batch=4, length=64)  # fmt: skip
    return validate(recorder.document("passed", 0, {}, environment=ENVIRONMENT))


def test_the_cache_table_fits_exponents_and_sets_a_cacheless_twin_against_the_cache():
    frame = cache_frame(cost_report()).set_index(["model", "cache"])
    assert frame.loc[("gpt2", "no"), "exponent"] == pytest.approx(1.0)
    assert frame.loc[("gpt2", "yes"), "exponent"] == pytest.approx(0.0, abs=1e-9)
    assert frame.loc[("gpt2", "no"), "tenfold position"] == pytest.approx(50)
    scratch = frame.loc[("scratch-gpt2", "no")]
    assert scratch["cached steps of"] == "gpt2"
    assert scratch["ratio at longest"] == pytest.approx(1.2e-3 * 128 / 0.005)
    assert scratch["tenfold position"] == pytest.approx(10 / 0.24)


def test_levers_and_scaling_read_as_tables():
    document = cost_report()
    levers = lever_frame(document).set_index(["model", "setup"])
    assert levers.loc[("gpt2", "checkpointing"), "time / baseline"] == 1.2
    assert levers.loc[("gpt2", "checkpointing"), "activations (MB)"] == 60.0
    scaling = scaling_frame(document).set_index("figure")
    assert scaling.loc["decode step (s)", "exponent"] == pytest.approx(1.0)
    assert "scratch-gpt2" not in scaling.loc["decode step (s)", "models"], "it keeps no cache"
    assert "scratch-gpt2" in scaling.loc["training step (s)", "models"]
    assert scaling.loc["training step (s)", "roofline exponent"] == pytest.approx(1.0)
    assert "resident weights (bytes)" not in scaling.index, "no model had the figure"


def test_the_markdown_and_both_charts_are_made(tmp_path):
    document = cost_report()
    assert has_costs(document)
    text = costs_markdown(document)
    assert "## Step time against position" in text and "## Scaling with parameters" in text
    cache_part, scaling_part = text.split("## Scaling with parameters")
    assert "tenfold position, not reached" in cache_part
    assert "tenfold" not in scaling_part, "the scaling legend repeats the cache table's note"
    assert cache_cost_chart(document, tmp_path / "c.png").stat().st_size > 10_000
    assert scaling_chart(document, tmp_path / "s.png").stat().st_size > 10_000


def test_the_summary_command_writes_the_tables_and_charts_it_links_to(tmp_path, capsys):
    """Found by a new-user pass: `lmgauge summary` linked to .costs.md and .cache_cost.png but
    wrote only the .md."""
    from lmgauge.cli.main import main
    from lmgauge.record.report import write_atomic

    report = write_atomic(cost_report(), tmp_path / "two.json")
    assert main(["summary", str(report)]) == 0
    summary = (tmp_path / "two.md").read_text()
    for name in ("two.costs.md", "two.cache_cost.png", "two.scaling.png"):
        assert f"`{name}`" in summary and (tmp_path / name).stat().st_size > 0, name
    assert capsys.readouterr().out.splitlines()[0] == str(tmp_path / "two.md")
