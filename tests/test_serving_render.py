"""The served subjects' table and latency-against-throughput chart, from a report's figures."""

from __future__ import annotations

import math

from lmgauge.render.configs_table import configs_frame
from lmgauge.render.serving_chart import serving_chart
from lmgauge.render.serving_table import serving_frame, serving_markdown
from lmgauge.render.summary import summary_markdown

SUBJECT = "smollm2-135m@serve-llamacpp"


def served_figure(metric, samples, concurrency=None, quantile=None, rate=None, **params):
    shape = {"concurrency": concurrency, "new_tokens": 32} if concurrency else {}
    shape = {"request_rate": rate, "burstiness": 1.0, "new_tokens": 32} if rate else shape
    extra = {"quantile": quantile} if quantile else {}
    return {"model": "smollm2-135m", "bench": "serve", "metric": metric, "value":
            sorted(samples)[len(samples) // 2], "samples": samples, "unit": "s",
            "params": {"config": "serve-llamacpp", **shape, **extra, **params}}  # fmt: skip


def served_document() -> dict:
    results = []
    for concurrency, ttft, itl, rate in ((1, 0.05, 0.02, 45.0), (2, 0.08, 0.03, 60.0),
                                         (4, 0.3, 0.05, 66.0)):  # fmt: skip
        for quantile, scale in (("p50", 1.0), ("p90", 1.5), ("p99", 2.0)):
            results.append(served_figure("served_ttft_seconds", [ttft * scale] * 3, concurrency,
                                         quantile))  # fmt: skip
            results.append(served_figure("served_itl_seconds", [itl * scale] * 3, concurrency,
                                         quantile))  # fmt: skip
        results.append(served_figure("served_output_tokens_per_second",
                                     [rate * 0.9, rate, rate * 1.1], concurrency))  # fmt: skip
        results.append(served_figure("served_failed_requests", [0, 0, 0], concurrency))
    results.append(served_figure("served_slo_concurrency", [2], levels="1,2,4"))
    results.append(served_figure("served_ttft_seconds", [0.06] * 3, quantile="p50", rate=0.5))
    results.append(served_figure("served_output_tokens_per_second", [15.0] * 3, rate=0.5))
    results.append(served_figure("served_saturation_request_rate", [0.5], levels="0.5,1"))
    results.append({"model": "smollm2-135m", "bench": "generate", "metric": "ttft_seconds",
                    "value": 0.04, "unit": "s", "params": {}})  # fmt: skip
    return {
        "created_utc": "2026-12-01T06:00:00",
        "run": {"status": "passed", "options": {"configs": ["default", "serve-llamacpp"],
                "serving": {"slo": {"ttft_s": 0.25, "itl_s": 0.1}}}},  # fmt: skip
        "environment": {},
        "models": {"smollm2-135m": {"name": "smollm2-135m"},
                   SUBJECT: {"name": "smollm2-135m", "served": {"server": "llamacpp"}}},
        "results": results,
    }


def test_each_load_level_is_a_row_with_its_runs_and_spread():
    frame = serving_frame(served_document())
    assert list(frame.index) == [(SUBJECT, "closed", 1), (SUBJECT, "closed", 2),
                                 (SUBJECT, "closed", 4), (SUBJECT, "open", 0.5)]  # fmt: skip
    assert frame.loc[(SUBJECT, "closed", 4), "TTFT p99 (ms)"] == 600
    assert frame.loc[(SUBJECT, "closed", 2), "runs"] == 3
    assert math.isclose(frame.loc[(SUBJECT, "closed", 2), "spread"], 1.1 / 0.9)
    assert frame.loc[(SUBJECT, "open", 0.5), "TTFT p50 (ms)"] == 60


def test_the_markdown_names_the_slo_and_the_highest_level_that_met_it():
    text = serving_markdown(served_document())
    assert "time to first token at most 250 ms and every gap between tokens at most 100 ms" in text
    assert f"{SUBJECT}: met the SLO up to concurrency 2 (levels measured: 1,2,4)" in text
    assert f"{SUBJECT}: kept up with at most 0.5 requests/s (levels measured: 0.5,1)" in text
    assert f"| {SUBJECT} | closed | c=4    |" in text and "1.22x" in text
    summary = summary_markdown(served_document(), "20261201T060000Z_run.json")
    assert "`20261201T060000Z_run.serving.md`" in summary
    assert "configs.png" not in summary, "served subjects alone draw no configurations chart"


def test_the_summary_names_each_dtype_its_subjects_ran_in():
    document = served_document()
    document["run"]["options"]["dtype"] = "float32"
    document["models"] = {"smollm2-135m": {"dtype": "float32"},
                          "smollm2-135m@llamacpp": {"dtype": "Q4_1"}}  # fmt: skip
    summary = summary_markdown(document, "run.json")
    assert "dtypes float32 (smollm2-135m), Q4_1 (smollm2-135m@llamacpp)" in summary
    assert "`run.configs.md`" in summary and "configs.png" not in summary, "no figures to chart"
    shape = {"config": "llamacpp", "prompt_tokens": 128, "new_tokens": 32, "batch": 1}
    document["results"] += [
        {"model": "smollm2-135m", "bench": "generate", "metric": "decode_tokens_per_second",
         "value": 170.0, "unit": "tokens/s", "params": shape},
        {"model": "smollm2-135m", "bench": "fidelity", "metric": "top1_agreement",
         "value": 0.95, "unit": "ratio", "params": {"config": "llamacpp"}},
    ]  # fmt: skip
    assert "speed against quality in `run.configs.png`" in summary_markdown(document, "run.json")
    document["models"].pop("smollm2-135m@llamacpp")
    assert ", dtype float32, threads" in summary_markdown(document, "run.json")


def test_served_subjects_stay_out_of_the_configurations_table():
    assert list(configs_frame(served_document()).index) == ["smollm2-135m"]


def test_the_chart_is_drawn_and_a_run_without_served_figures_has_none(tmp_path):
    document = served_document()
    path = serving_chart(document, tmp_path / "run.serving.png")
    assert path is not None and path.stat().st_size > 10_000
    document["models"].pop(SUBJECT)
    assert serving_chart(document, tmp_path / "none.png") is None


def test_the_saturation_points_the_run_recorded_are_ringed():
    from lmgauge.render.serving_chart import saturation_points

    document = served_document()
    document["results"].append(served_figure("served_saturation_concurrency", [2], levels="1,2,4"))
    assert saturation_points(document) == {(SUBJECT, "closed"): 2, (SUBJECT, "open"): 0.5}


def test_a_goodput_of_zero_is_judged_as_a_value_and_a_timing_of_zero_is_not():
    """No request meeting the SLO is a measured goodput of 0: 0 -> 0 is the same, 1.9 -> 0 is
    worse and fails; a time of zero stays a broken measurement that fails unjudged."""
    from lmgauge.judge.gate import DEFAULT_RULES
    from lmgauge.judge.gate_rules import load_gate_rules
    from lmgauge.judge.spread import Spread
    from lmgauge.judge.verdicts import judge

    rules = load_gate_rules(DEFAULT_RULES)

    def goodput(value, metric="served_goodput_requests_per_second", unit="requests/s",
                direction="higher"):
        return {"metric": metric, "value": value, "unit": unit, "direction": direction,
                "params": {}}  # fmt: skip

    rule = rules.rule_for("served_goodput_requests_per_second", "requests/s")
    spread = Spread(0.1, 8, "test")
    assert judge(goodput(0.0), goodput(0.0), rule, 0.05, spread=spread).verdict == "same"
    worse = judge(goodput(1.9), goodput(0.0), rule, 0.05, spread=spread)
    assert worse.verdict == "worse" and worse.fails_gate
    time = rules.rule_for("served_ttft_seconds", "s")
    broken = judge(goodput(0.1, "served_ttft_seconds", "s", "lower"),
                   goodput(0.0, "served_ttft_seconds", "s", "lower"), time, 0.05, spread=spread)
    assert broken.verdict == "not judged" and broken.fails_gate
