"""Open-loop load: arrivals at a rate whatever the backlog, their burstiness, and the growth of
the time to first token that marks a saturated server."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest

from lmgauge.pytest_plugin.sweeps import parse_rates
from lmgauge.serve.figures import Slo, run_figures, ttft_growth
from lmgauge.serve.load import Request, arrival_times, run_load
from tests.fake_openai import FakeCompletions, text_events


def test_arrivals_have_the_rate_asked_for_and_burstiness_shapes_their_gaps():
    poisson = np.diff(arrival_times(4.0, 4001, burstiness=1.0))
    assert np.mean(poisson) == pytest.approx(0.25, rel=0.05)
    assert np.std(poisson) / np.mean(poisson) == pytest.approx(1.0, rel=0.1), "exponential gaps"
    bursty = np.diff(arrival_times(4.0, 4001, burstiness=0.25))
    assert np.mean(bursty) == pytest.approx(0.25, rel=0.1)
    assert np.std(bursty) / np.mean(bursty) == pytest.approx(2.0, rel=0.1), "cv = 1/sqrt(shape)"
    assert arrival_times(2.0, 5, seed=1) == arrival_times(2.0, 5, seed=1)
    assert arrival_times(2.0, 5)[0] == 0.0


def test_an_open_loop_sends_at_its_arrivals_without_waiting_for_answers(fake_server):
    """Each fake answer takes about 0.1 s (10 chunks, 10 ms apart); at 40 requests/s the open
    loop has several in flight at once, where a closed loop of one user never would."""
    FakeCompletions.events = text_events(*[" x"] * 10, usage=10)
    run = run_load(fake_server, "fake-model", ["p"], 10, requests=12, rate=40.0)
    sends = [request.sent - run.requests[0].sent for request in run.requests]
    assert sends[-1] < 0.6, "twelve arrivals at 40/s are sent within about 0.3 s"
    pairs = zip(run.requests, run.requests[1:], strict=False)
    overlapping = sum(later.sent < earlier.ended for earlier, later in pairs)
    assert overlapping >= 3 and all(request.ok for request in run.requests)
    assert run.level == "rate=40"


def test_a_load_run_is_closed_or_open_never_both():
    with pytest.raises(ValueError, match="closed loop .* or open loop"):
        run_load("http://127.0.0.1:9", "m", ["p"], 4, requests=2, concurrency=1, rate=1.0)


def answered(ttfts: list[float]) -> list[Request]:
    requests = []
    for index, first in enumerate(ttfts):
        request = Request(index, sent=float(index), chunk_times=[index + first], chunks=["x"])
        request.ended = index + first
        requests.append(request)
    return requests


def test_the_first_token_waits_longer_along_a_run_past_saturation():
    assert ttft_growth(answered([0.1, 0.1, 0.11, 0.1, 0.1, 0.12])) == pytest.approx(1.0, abs=0.1)
    assert ttft_growth(answered([0.1, 0.3, 0.6, 0.9, 1.2, 1.5])) == pytest.approx(4.0)
    assert math.isnan(ttft_growth(answered([0.1, 0.2, 0.3])))


def test_request_rates_are_positive_distinct_numbers():
    assert parse_rates("0.5, 1,2", "--request-rate") == [0.5, 1.0, 2.0]
    for bad in ("0", "-1", "1,1", "fast", "inf", ""):
        with pytest.raises(ValueError, match="--request-rate takes distinct positive numbers"):
            parse_rates(bad, "--request-rate")
    with pytest.raises(ValueError, match="differ in their first six significant digits"):
        parse_rates("1,1.0000000001", "--request-rate")


def test_a_load_runs_figures_include_its_ttft_growth(fake_server):
    FakeCompletions.events = text_events(" a", " b", usage=2)
    run = run_load(fake_server, "fake-model", ["p"], 2, requests=4, concurrency=1)
    assert math.isfinite(run_figures(run, Slo(), lambda r: 2)["ttft_growth"])


def serving_command_line(**given):
    options = dict(servers="llamacpp", endpoint=None, concurrency=None, request_rate=None,
                   requests=None, burstiness=1.0, slo="ttft=1,itl=0.2", threads=None)  # fmt: skip
    return SimpleNamespace(**{**options, **given})


@pytest.mark.parametrize(
    ("given", "threads", "sentence"),
    [
        ({"burstiness": math.inf}, [2], "--burstiness must be a finite number above 0, got inf"),
        ({"request_rate": "0.01"}, [2], "--request-rate 0.01 would spread its requests over "
                                        "1200 s, beyond what a load run may take (600 s)"),
        ({"threads": "1,2"}, [1, 2], "--threads 1,2 with a server is refused"),
        ({"request_rate": "1e308"}, [2], "--request-rate 1e+308 would send more than 4096 "
                                         "requests in one load run"),
        ({"request_rate": "1e6"}, [2], "give at most 512 requests/s, or --requests."),
        ({"requests": 10**9}, [2], "--requests must be from 1 to 4096, got 1000000000."),
        ({"servers": None, "request_rate": "1"}, [2],
         "--request-rate loads a server: give --servers or --endpoint with it."),
    ],
)  # fmt: skip
def test_serving_options_that_cannot_be_measured_are_one_sentence(given, threads, sentence):
    from lmgauge.pytest_plugin.options import serving_options

    with pytest.raises(ValueError, match=re.escape(sentence)):
        serving_options(serving_command_line(**given), ["m"], threads)
    assert serving_options(serving_command_line(request_rate="0.5"), ["m"], [2]).burstiness == 1
