"""The gates' error rates on runs whose noise has a per-pair drift, a per-run drift and
per-round noise (rounds of one run share its drift: the model that independent noise hides)."""

import numpy as np
import pytest

from lmgauge.judge.gate import DEFAULT_RULES
from lmgauge.judge.gate_rules import load_gate_rules
from lmgauge.judge.gate_sim import (
    NoiseModel,
    ab_fails,
    ab_run_fails,
    estimate,
    failure_rate,
    simulated_rounds,
    stored_fails,
)

RULES = load_gate_rules(DEFAULT_RULES)
MEASURED = NoiseModel(pair_drift=0.114, run_drift=0.022, round_noise=0.018)
"""The largest of each layer that `lmgauge gate-check --trials 10 --runs 4 --slowdown 0.15`
estimated on the 2-core VM (2026-11-24; quick-tier generation of distilgpt2 and
smollm2-135m): pair drift of smollm2's time to first token, run drift and round noise of
distilgpt2's decode step. docs/measurements.md, "How often the gates err", has every figure's."""


def simulated_trials(model, trials, pairs, seed=0):
    rng = np.random.default_rng(seed)
    base, same = [], []
    for _ in range(trials):
        levels = rng.normal(0, model.pair_drift, pairs)
        base.append([list(simulated_rounds(model, rng, level, 1.0)) for level in levels])
        same.append([list(simulated_rounds(model, rng, level, 1.0)) for level in levels])
    return base, same


def test_the_estimator_recovers_a_known_noise_model():
    truth = NoiseModel(pair_drift=0.06, run_drift=0.03, round_noise=0.04)
    found = estimate(*simulated_trials(truth, trials=300, pairs=4))
    assert found.round_noise == pytest.approx(0.04, rel=0.1)
    assert found.run_drift == pytest.approx(0.03, rel=0.25)
    assert found.pair_drift == pytest.approx(0.06, rel=0.25)


def test_pooling_the_steps_of_a_drifting_run_would_be_wrong_and_rounds_are_not():
    """With run drift, one whole run is slower: a test over its rounds stays honest."""
    drifting = NoiseModel(pair_drift=0.05, run_drift=0.05, round_noise=0.02)
    false_alarms = failure_rate(lambda rng: stored_fails(drifting, rng, 1.0, RULES), 1000)
    assert false_alarms <= 0.01, "the 25 % tolerance keeps drift of this size from failing"


def test_the_a_b_gate_meets_its_targets_on_the_measured_noise():
    rules = RULES
    false_alarms = failure_rate(lambda rng: ab_fails(MEASURED, rng, 4, 1.0, rules), 1000)
    detections = failure_rate(lambda rng: ab_fails(MEASURED, rng, 4, 1.15, rules), 1000, seed=1)
    assert false_alarms <= 0.01 and detections >= 0.95, (false_alarms, detections)


def test_the_stored_baseline_gate_cannot_meet_them_on_the_same_noise():
    """One report against another made at another time carries the pair drift whole: the
    reason pull requests are gated with `lmgauge ab`."""
    false_alarms = failure_rate(lambda rng: stored_fails(MEASURED, rng, 1.0, RULES), 1000)
    detections = failure_rate(lambda rng: stored_fails(MEASURED, rng, 1.15, RULES), 1000)
    assert false_alarms > 0.01 and detections < 0.5, (false_alarms, detections)


def test_a_gate_check_record_without_generation_timings_says_there_is_nothing_to_simulate():
    """A record read back from gate-check.json whose runs timed only forward passes."""
    from lmgauge.judge.gate import DEFAULT_RULES
    from lmgauge.judge.gate_rules import load_gate_rules
    from lmgauge.runs.gate_check import simulation_text

    record = {"pytest_arguments": [], "runs": 3, "slowdown": 0.5,
              "trials": [{"same": {}, "slowed": {}, "values": {}}]}  # fmt: skip
    text = simulation_text(record, load_gate_rules(DEFAULT_RULES))
    assert "No simulation" in text and "|" not in text


def test_gate_check_keeps_each_shape_and_configuration_of_a_figure_apart():
    from lmgauge.runs.gate_check import run_values

    def result(value, **params):
        return {"model": "gpt2", "bench": "generate", "metric": "decode_step_seconds",
                "unit": "s", "value": value, "params": params, "samples": [value]}  # fmt: skip

    document = {"results": [result(0.01, new_tokens=32), result(0.02, new_tokens=128),
                            result(0.03, new_tokens=32, config="int8")]}  # fmt: skip
    values = run_values({"base": [document]})["base"]
    assert sorted(values) == [
        "gpt2 new_tokens=128 decode_step_seconds",
        "gpt2 new_tokens=32 config=int8 decode_step_seconds",
        "gpt2 new_tokens=32 decode_step_seconds",
    ]
    assert all(key.endswith("decode_step_seconds") for key in values), "the simulation's filter"


def test_the_tail_is_estimated_from_pairs_far_apart():
    from lmgauge.judge.gate_sim import tail_from_pairs

    logs = [0.01] * 96 + [np.log(1.4)] * 4
    rate, shift = tail_from_pairs(logs)
    assert rate == pytest.approx(0.02) and shift == pytest.approx(np.log(1.4))
    assert tail_from_pairs([0.01, -0.02]) == (0.0, 0.0)


MEASURED_TAIL = NoiseModel(pair_drift=0.114, run_drift=0.022, round_noise=0.018,
                           tail_rate=0.066, tail_shift=0.34)  # fmt: skip
"""MEASURED with the heavy tail of 8 same-code quick-tier runs back to back (2026-11-30): 38 of
288 consecutive-run figure pairs of gated timings were 1.3x or more apart (one run in 15 off,
by a median 1.40x)."""


def test_a_whole_a_b_run_of_five_models_with_the_measured_heavy_tail():
    """A run of five model families (the quick tier's five models; one figure each, noise
    independent between them, the measured heavy tail), judged as `lmgauge ab` judges (4 pairs,
    more while any family is borderline or a figure waits, up to --max-runs 12, Holm over the
    families; a family still beyond the tolerance without significance at the last pair
    fails): a same-code run fails 0.8 % of the time (0.45 % over 2000), a run in which one
    model is 15 % slower fails 96.1 %. With --max-runs 8 the same-code runs failed 3.0 % of
    the time: each unresolved family can fail the run, so the pairs must let them resolve.
    One family alone (ab_fails): 0.001 and 0.949."""
    false_alarms = failure_rate(
        lambda rng: ab_run_fails(MEASURED_TAIL, rng, 4, 1.0, RULES), 1000
    )
    detections = failure_rate(
        lambda rng: ab_run_fails(MEASURED_TAIL, rng, 4, 1.15, RULES), 1000, seed=1
    )
    assert false_alarms <= 0.01 and detections >= 0.95, (false_alarms, detections)


NOT_RECORDS = ["[1, 2]", '{"trials": 3, "runs": 2, "slowdown": 0.1}',
               '{"trials": [], "runs": 4, "slowdown": 0.15}', "not json"]  # fmt: skip


@pytest.mark.parametrize("text", NOT_RECORDS)
def test_an_earlier_record_that_is_not_one_is_one_sentence(tmp_path, text):
    from lmgauge.errors import LmgaugeError
    from lmgauge.runs.gate_check import read_record

    path = tmp_path / "gate-check.json"
    path.write_text(text)
    with pytest.raises(LmgaugeError, match=r"is not a gate-check record|cannot read .* as JSON"):
        read_record(path)
