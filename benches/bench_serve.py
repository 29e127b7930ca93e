"""Models behind real servers under concurrent load (`--servers llamacpp,transformers` or
`--endpoint URL`): latency percentiles, throughput, goodput against the SLO, and whether the
answers stay the same under load.

Each load level (--concurrency, closed loop; --request-rate, open loop) runs `rounds` load
runs; a load run is the statistical unit (its requests share the server's state), so every
figure is one sample per load run and its value the median over them. The sweep's end finds
the highest load that met the SLO and where the server saturates. Prompts are held-out
polarity sentences drawn with a fixed seed; answers are greedy and ask for exactly NEW_TOKENS
tokens.
"""

from __future__ import annotations

import asyncio
import math
import statistics

import numpy as np
import pytest

from lmgauge.pytest_plugin.skips import skip_on_measurement
from lmgauge.pytest_plugin.state import run_state
from lmgauge.serve.figures import QUANTILES, agreement, first_difference, run_figures
from lmgauge.serve.load import RUN_TIMEOUT_S, open_loop_requests, run_load

pytestmark = [pytest.mark.causal_lm, pytest.mark.runtime("serve")]

CONCURRENCY = [1, 2, 4, 8]
NEW_TOKENS = 32
PROMPTS = 16
"""Distinct prompts, drawn with seed 0 from the test split; requests take them in turn."""
CHUNKS_PER_TOKEN = 0.67
"""Fewest streamed text chunks per token (by the server's usage) for chunk gaps to stand for
token gaps; a server that sends several tokens per chunk fails the load test."""
GOODPUT_SHARE = 0.9
"""A load level meets the SLO when at least this share of its requests met it."""


@pytest.fixture(scope="session")
def serve_prompts(polarity) -> list[str]:
    """PROMPTS held-out sentences (seeded), each the start of a review to continue."""
    sentences = polarity["test"]["text"]
    chosen = np.random.default_rng(0).choice(len(sentences), PROMPTS, replace=False)
    return [sentences[int(index)] for index in chosen]


@pytest.fixture(scope="session")
def load_levels() -> dict:
    """Per subject, per load level (a tuple of its load items: (("concurrency", 2),) or
    (("request_rate", 1.0), ("burstiness", 1.0))): the median share of requests that met the
    SLO, the answers by prompt index of its first load run (SOLO's are the answers sent alone)
    and the per-run figures."""
    return {}


@pytest.mark.sweep(concurrency=CONCURRENCY)
def test_load(loaded_model, record, round_policy, serve_prompts, load_levels, request,
              concurrency):  # fmt: skip
    """`rounds` closed-loop load runs at `concurrency` users after one untimed request per user
    (the first requests of a `transformers serve` took 20 s); every figure per load run."""
    serving = run_state(request.config).serving
    requests = serving.requests or max(8, 4 * concurrency)
    bounded_load(loaded_model.server.url, loaded_model.model_id, serve_prompts, NEW_TOKENS,
             concurrency=concurrency, requests=concurrency,
             extra=loaded_model.request_fields)  # fmt: skip
    levels = load_levels.setdefault(subject_of(loaded_model), {})
    per_run = measure_level(loaded_model, record, round_policy, serve_prompts, levels, serving,
                            {"concurrency": concurrency}, requests)  # fmt: skip
    medians = {key: statistics.median(figures[key] for figures in per_run)
               for key in ("ttft_p50", "e2e_p50")}  # fmt: skip
    assert medians["ttft_p50"] <= medians["e2e_p50"], "a first token after the end of its answer"


OPEN_LOOP_OFF = pytest.param(
    None, marks=pytest.mark.skip(reason="no --request-rate given: the open loop is not run")
)


@pytest.mark.sweep(request_rate=[OPEN_LOOP_OFF])
def test_open_load(loaded_model, record, round_policy, serve_prompts, load_levels, request,
                   request_rate):  # fmt: skip
    """`rounds` open-loop load runs at `request_rate` requests/s (seeded gamma arrivals of
    --burstiness, a different seed each run), after one untimed request; every figure per load
    run, and how much the time to first token grew from the run's first half to its second
    (served_ttft_growth): a server past saturation queues ever more requests."""
    serving = run_state(request.config).serving
    requests = serving.requests or open_loop_requests(request_rate)
    bounded_load(loaded_model.server.url, loaded_model.model_id, serve_prompts, NEW_TOKENS,
             concurrency=1, requests=1, extra=loaded_model.request_fields)  # fmt: skip
    levels = load_levels.setdefault(subject_of(loaded_model), {})
    shape = {"request_rate": request_rate, "burstiness": serving.burstiness}
    measure_level(loaded_model, record, round_policy, serve_prompts, levels, serving, shape,
                  requests)  # fmt: skip


def measure_level(loaded_model, record, round_policy, serve_prompts, levels, serving,
                  load: dict, requests: int) -> list[dict]:  # fmt: skip
    """`round_policy.min_rounds` load runs of `requests` requests at the `load` level
    (concurrency, or request_rate with burstiness), recorded with the load in every figure's
    parameters; the level's SLO share and first run's answers go into `levels`; the per-run
    figures are returned. A dead server, a load run whose requests all failed, chunks that are
    not tokens, answers shorter than asked, or any failed request fail the test."""
    server = loaded_model.server
    shape = {**load, "new_tokens": NEW_TOKENS, "requests": requests}
    where = ", ".join(f"{key} {value:g}" for key, value in load.items())
    runs, per_run = [], []
    for index in range(round_policy.min_rounds):
        run = bounded_load(server.url, loaded_model.model_id, serve_prompts, NEW_TOKENS,
                       requests=requests, extra=loaded_model.request_fields,
                       concurrency=load.get("concurrency"), rate=load.get("request_rate"),
                       burstiness=load.get("burstiness", 1.0), seed=index)  # fmt: skip
        if not server.alive():
            pytest.fail(f"{server.death()} during the load run at {where}.", pytrace=False)
        failed = [r for r in run.requests if not r.ok]
        if len(failed) == len(run.requests):
            pytest.fail(f"every request at {where} failed; the first: {failed[0].error}",
                        pytrace=False)  # fmt: skip
        runs.append(run)
        per_run.append(run_figures(run, serving.slo, loaded_model.output_tokens))
    for name, unit_metric in (
        ("ttft", "served_ttft_seconds"),
        ("itl", "served_itl_seconds"),
        ("tpot", "served_tpot_seconds"),
        ("e2e", "served_e2e_seconds"),
    ):
        for quantile in QUANTILES:
            samples = [figures[f"{name}_p{quantile}"] for figures in per_run]
            record(unit_metric, samples=samples, quantile=f"p{quantile}", **shape)
    for key, metric in (("output_tokens_per_second", "served_output_tokens_per_second"),
                        ("requests_per_second", "served_requests_per_second"),
                        ("goodput_requests_per_second", "served_goodput_requests_per_second"),
                        ("failed_requests", "served_failed_requests"),
                        ("ttft_growth", "served_ttft_growth")):  # fmt: skip
        samples = [figures[key] for figures in per_run]
        if key != "ttft_growth":
            record(metric, samples=samples, **shape)
        elif "request_rate" in load and all(map(math.isfinite, samples)):
            record(metric, samples=samples, **shape)  # open loop, four requests or more
    answered = [r for run in runs for r in run.requests if r.ok]
    lengths = [loaded_model.count_tokens(r.text) for r in answered]
    record("served_output_tokens", statistics.median(lengths), **shape)
    short = [r.usage_tokens for r in answered
             if r.usage_tokens is not None and r.usage_tokens < NEW_TOKENS]  # fmt: skip
    streamed = [(len(r.chunks), r.usage_tokens) for r in answered if r.usage_tokens]
    chunks, tokens = sum(c for c, _ in streamed), sum(t for _, t in streamed)
    if tokens and chunks < CHUNKS_PER_TOKEN * tokens:
        message = (f"the server streamed {tokens} tokens in {chunks} chunks at {where}: gaps "
                   "between chunks are not gaps between tokens, so inter-token latency and "
                   "goodput cannot be measured.")  # fmt: skip
        pytest.fail(message, pytrace=False)
    if loaded_model.exact_fields and short:
        pytest.fail(f"the server took {'/'.join(loaded_model.exact_fields)} for exactly "
                    f"{NEW_TOKENS} tokens, and {len(short)} of {len(answered)} answers at "
                    f"{where} were shorter ({min(short)} tokens): its per-token figures would "
                    "not be comparable.", pytrace=False)  # fmt: skip
    usage = [(r.usage_tokens, n) for r, n in zip(answered, lengths, strict=True)
             if r.usage_tokens is not None]  # fmt: skip
    if usage:
        record("served_usage_agreement_share",
               sum(abs(u - n) <= 1 for u, n in usage) / len(usage), **shape)  # fmt: skip
    answers = {r.prompt_index % len(serve_prompts): r.text for r in runs[0].requests if r.ok}
    level = tuple(load.items())
    levels[level] = (statistics.median(f["slo_met_share"] for f in per_run), answers, per_run)
    solo = levels.get(SOLO, (None, None))[1]
    if level != SOLO and solo:
        differing, position = agreement(answers, solo)
        record("served_answers_differing_share", differing, **shape)
        if not math.isnan(position):
            record("served_first_difference_chars", position, **shape)
    failed = [r.error for run in runs for r in run.requests if not r.ok]
    assert not failed, f"{len(failed)} requests failed at {where}: {failed[0]}"
    return per_run


def bounded_load(*args, **kwargs):
    """lmgauge.serve.load.run_load; a load run past RUN_TIMEOUT_S fails the test in one
    sentence."""
    try:
        return run_load(*args, **kwargs)
    except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
        load = kwargs.get("concurrency") or kwargs.get("rate")
        kind = "concurrency" if kwargs.get("concurrency") else "request rate"
        pytest.fail(f"the load run at {kind} {load:g} ({kwargs.get('requests')} requests) did "
                    f"not finish within {RUN_TIMEOUT_S:g} s.", pytrace=False)  # fmt: skip


SOLO = (("concurrency", 1),)
"""The load level whose answers are the answers sent alone."""


def loop_levels(levels: dict, axis: str) -> list[tuple]:
    """[(load, SLO share, per-run figures)] of one loop (`concurrency` or `request_rate`), from
    the lowest load up."""
    found = [(dict(key)[axis], value[0], value[2]) for key, value in levels.items()
             if dict(key).get(axis) is not None]  # fmt: skip
    return sorted(found, key=lambda level: level[0])


def test_slo_load(loaded_model, record, load_levels):
    """Per loop: the highest load of the sweep at which the SLO still held (GOODPUT_SHARE of
    the requests met it), every lower level included; 0 when none did."""
    levels = load_levels.get(subject_of(loaded_model))
    if not levels:
        pytest.skip("no load level of this subject was measured")
    for axis, metric in (("concurrency", "served_slo_concurrency"),
                         ("request_rate", "served_slo_request_rate")):  # fmt: skip
        measured = loop_levels(levels, axis)
        if not measured:
            continue
        meeting = 0
        for load, share, _ in measured:
            if share < GOODPUT_SHARE:
                break
            meeting = load
        record(metric, meeting, levels=",".join(f"{load:g}" for load, _, _ in measured))


SATURATION_GAIN = 1.1
"""Closed loop: past the concurrency whose next level adds less than this factor of output
tokens/s, more users only queue."""
SATURATION_GROWTH = 2.0
"""Open loop: a request rate at which, in every load run, the later half of the requests
waited (TTFT) more than this factor longer than the earlier half is past saturation (the
backlog grows)."""


def test_saturation(loaded_model, record, load_levels, request):
    """Where the server saturates. Closed loop: the lowest concurrency after which the next
    level adds less than SATURATION_GAIN of output tokens/s (median over load runs). Open loop:
    the highest request rate, every lower one included, at which at least one load run's TTFT
    growth stayed within SATURATION_GROWTH: a server past saturation queues in every run, while
    one unlucky run of a server that keeps up (its early half queued nothing, one late request
    waited) can show a large growth by chance. A sweep that never reaches
    saturation says so and records nothing, since the point lies beyond it."""
    levels = load_levels.get(subject_of(loaded_model)) or {}
    notes = []
    closed = loop_levels(levels, "concurrency")
    if len(closed) >= 2:
        rates = [statistics.median(f["output_tokens_per_second"] for f in runs)
                 for _, _, runs in closed]  # fmt: skip
        knee = next((closed[i][0] for i in range(len(closed) - 1)
                     if rates[i + 1] < SATURATION_GAIN * rates[i]), None)  # fmt: skip
        levels_text = ",".join(f"{load:g}" for load, _, _ in closed)
        if knee is None:
            notes.append(f"output tokens/s still grew at concurrency {closed[-1][0]}, so the "
                         "closed loop's saturation lies beyond the sweep")  # fmt: skip
        else:
            record("served_saturation_concurrency", knee, levels=levels_text)
    opened = loop_levels(levels, "request_rate")
    growth = [min(f["ttft_growth"] for f in runs) for _, _, runs in opened]
    if not all(map(math.isfinite, growth)):
        notes.append("the open loop's TTFT growth needs 4 answered requests a run or more")
    elif opened:
        kept_up = 0.0
        for (load, _, _), grew in zip(opened, growth, strict=True):
            if not grew <= SATURATION_GROWTH:
                break
            kept_up = load
        if kept_up == opened[-1][0]:
            notes.append(f"the server kept up with {kept_up:g} requests/s, the highest rate "
                         "of the sweep")  # fmt: skip
        else:
            record("served_saturation_request_rate", kept_up,
                   levels=",".join(f"{load:g}" for load, _, _ in opened))  # fmt: skip
    if len(closed) < 2 and not opened:
        pytest.skip("saturation needs two concurrency levels or a --request-rate sweep")
    if notes:
        skip_on_measurement(request.node, "; ".join(notes))


@pytest.fixture(scope="session")
def _reference_answers() -> dict:
    return {}


@pytest.fixture
def reference_answers(serve_prompts, _reference_answers, request):
    """`reference_answers(spec)`: greedy continuations of every serving prompt by the model in
    this process, float32 and eager attention (the reference bench_fidelity compares
    configurations with), computed once per model and session, however many servers serve it."""
    import gc

    from lmgauge.compute import resolve_dtype
    from lmgauge.errors import ModelLoadError
    from lmgauge.quality.textgen import continue_texts
    from lmgauge.sources import loading
    from lmgauge.sources.configs import REFERENCE

    def answers(spec) -> list[str]:
        if spec.name not in _reference_answers:
            try:
                reference = loading.load(spec, run_state(request.config).device,
                                         resolve_dtype("float32"), REFERENCE)  # fmt: skip
            except ModelLoadError as error:
                pytest.fail(f"the float32 eager reference: {error}", pytrace=False)
            _reference_answers[spec.name] = continue_texts(reference, serve_prompts, NEW_TOKENS)
            del reference
            gc.collect()
        return _reference_answers[spec.name]

    return answers


def test_solo_answers_match_the_in_process_reference(loaded_model, record, load_levels,
                                                     reference_answers):  # fmt: skip
    """The answers sent alone (concurrency 1's first load run) against the reference answers:
    the share of prompts whose answers agree as far as both go (the reference stops at its
    end-of-sequence token, the server may be asked to go on), and where differing answers
    part."""
    solo = load_levels.get(subject_of(loaded_model), {}).get(SOLO, (None, None))[1]
    if not solo:
        pytest.skip("concurrency 1 was not measured, so there are no answers sent alone")
    texts = reference_answers(loaded_model.spec)
    parts = [first_difference(answer, texts[index], prefix_agrees=True)
             for index, answer in sorted(solo.items())]  # fmt: skip
    differing = [position for position in parts if position is not None]
    record("served_reference_agreement_share", 1 - len(differing) / len(parts),
           prompts=len(parts), new_tokens=NEW_TOKENS)  # fmt: skip
    if differing:
        record("served_reference_first_difference_chars", statistics.median(differing),
               prompts=len(parts), new_tokens=NEW_TOKENS)  # fmt: skip


def subject_of(served) -> str:
    """The key of a served subject in `load_levels`: its model and its configuration."""
    return f"{served.name}@{served.config.name}"
