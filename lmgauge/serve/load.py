"""Load shaped like traffic, sent to a server: streamed completions timed token by token.

Closed loop: `concurrency` users, each sending its next request when its last one finished.
Open loop: requests arrive at `rate` per second whatever the server's backlog, the gaps between
arrivals drawn (seeded) from a gamma distribution of mean 1 / rate and shape `burstiness` (1 is
a Poisson process; below 1 the arrivals come in bursts, above 1 more evenly; vLLM's `bench
serve` draws them the same way). Each request is a streamed
(server-sent events) `/v1/completions` call, greedy, asking for exactly `max_tokens` new
tokens where the server allows it; its send time, the arrival time of every chunk that carries
text, and the server's `usage` are kept. Everything is bounded: a request by `request_timeout`
seconds, a load run by its request count and `run_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field

REQUEST_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 600.0


@dataclass
class Request:
    """One request as it happened: `sent` and `chunk_times` in seconds on the run's clock
    (time.perf_counter), the text of each chunk, the server's completion token count (None
    when it gave none), and `error` (one sentence) when it failed."""

    prompt_index: int
    sent: float
    chunk_times: list[float] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    usage_tokens: int | None = None
    finish_reason: str | None = None
    ended: float = float("nan")
    error: str = ""

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.chunk_times)


@dataclass
class LoadRun:
    """One load run: its requests, in the order they were sent, and its wall time (s) from
    the first send to the last end."""

    requests: list[Request]
    wall_seconds: float
    level: str


EXACT_LENGTH = ("min_tokens", "ignore_eos")
"""Request fields that make a server produce exactly max_tokens tokens (vLLM takes both,
llama-cpp-python min_tokens; `transformers serve` refuses any field it does not know)."""
NEUTRAL = {"repeat_penalty": 1.0, "repetition_penalty": 1.0}
"""Repetition-penalty fields beyond OpenAI's, each at 1.0 (no penalty): llama-cpp-python's
server applies a repeat_penalty of 1.1 to a request that does not set one, and vLLM a
repetition_penalty from the folder it serves. A server that ignores fields it does not know takes
both; `transformers serve` refuses them, and sets its penalty from OpenAI's frequency_penalty
(1 + it), which every request sends as 0."""


def completion_body(model: str, prompt: str, max_tokens: int, extra: tuple = ()) -> dict:
    """A greedy, streamed completion of `max_tokens` tokens: temperature 0, top_p 1, no
    frequency or presence penalty, and the `extra` fields of NEUTRAL and EXACT_LENGTH that the
    server accepts (with EXACT_LENGTH, exactly max_tokens tokens; without, the real lengths
    count)."""
    fields = {"min_tokens": max_tokens, "ignore_eos": True, **NEUTRAL}
    return {
        "model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
        "top_p": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0, "seed": 0,
        "stream": True, "stream_options": {"include_usage": True},
        **{name: fields[name] for name in extra},
    }  # fmt: skip


def accepted_fields(url: str, model: str, tokens: int = 8,
                    timeout: float = 60.0) -> tuple[tuple[str, ...], tuple[str, ...]]:  # fmt: skip
    """(the EXACT_LENGTH fields the server accepts and honours, the NEUTRAL fields it accepts):
    a non-streamed request with both NEUTRAL fields, then with each alone, the first answered
    taken (a server may refuse one it does not know and take the other); then requests
    for `tokens` tokens with both EXACT_LENGTH fields, then with min_tokens alone, taken when
    answered and its usage (where given) counts `tokens`."""
    neutral = next((fields for fields in (tuple(NEUTRAL), *((name,) for name in NEUTRAL))
                    if _answer(url, model, 1, fields, timeout)), ())  # fmt: skip
    for fields in (EXACT_LENGTH, EXACT_LENGTH[:1]):
        answer = _answer(url, model, tokens, (*fields, *neutral), timeout)
        if answer is None:
            continue
        usage = (answer.get("usage") or {}).get("completion_tokens")
        if usage is None or usage == tokens:
            return fields, neutral
    return (), neutral


def _answer(url: str, model: str, tokens: int, extra: tuple, timeout: float) -> dict | None:
    """The server's answer to a non-streamed completion with the `extra` fields; None when it
    refuses it."""
    import httpx

    body = {**completion_body(model, "Hello", tokens, extra), "stream": False}
    body.pop("stream_options")
    answer = httpx.post(f"{url}/v1/completions", json=body, timeout=timeout)
    return answer.json() if answer.status_code == 200 else None


async def send(client, url: str, body: dict, index: int, timeout: float) -> Request:
    """One streamed completion; failures become the request's `error` sentence."""
    import httpx

    request = Request(index, time.perf_counter())
    try:
        await asyncio.wait_for(stream_into(request, client, url, body), timeout)
    except asyncio.TimeoutError:
        request.error = f"no complete answer within {timeout:g} s"
    except httpx.HTTPError as error:
        request.error = f"{type(error).__name__}: {error}"[:200] or type(error).__name__
    except json.JSONDecodeError as error:
        request.error = f"the server sent an event that is not JSON ({error.msg})"
    finally:
        request.ended = time.perf_counter()
    if not request.error and not request.chunk_times:
        request.error = "the server streamed no text"
    return request


async def stream_into(request: Request, client, url: str, body: dict) -> None:
    """POST `body` and read its server-sent events into `request` (an HTTP error status
    becomes its `error`)."""
    async with client.stream("POST", f"{url}/v1/completions", json=body) as answer:
        if answer.status_code != 200:
            detail = (await answer.aread()).decode(errors="replace")[:200]
            request.error = f"HTTP {answer.status_code}: {detail}"
            return
        async for line in answer.aiter_lines():
            read_event(line, request)


def read_event(line: str, request: Request) -> None:
    """Take one server-sent-events line into `request`: a text chunk (timed), usage, finish."""
    if not line.startswith("data:"):
        return
    payload = line[5:].strip()
    if payload == "[DONE]" or not payload:
        return
    event = json.loads(payload)
    for choice in event.get("choices") or []:
        text = choice.get("text") or ""
        if text:
            request.chunk_times.append(time.perf_counter())
            request.chunks.append(text)
        request.finish_reason = choice.get("finish_reason") or request.finish_reason
    usage = event.get("usage")
    if usage and usage.get("completion_tokens") is not None:
        request.usage_tokens = int(usage["completion_tokens"])


async def closed_loop(url, model, prompts, max_tokens, concurrency, requests, timeout, extra):
    """`concurrency` users share `requests` requests, prompts taken in turn."""
    import httpx

    counter = iter(range(requests))
    done: list[Request] = []

    async def user(client):
        for index in counter:
            body = completion_body(model, prompts[index % len(prompts)], max_tokens, extra)
            done.append(await send(client, url, body, index, timeout))

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        await asyncio.gather(*(user(client) for _ in range(concurrency)))
    return done


OPEN_LOOP_SECONDS = 8.0
OPEN_LOOP_MIN_REQUESTS = 12
MAX_REQUESTS = 4096
"""Most requests one load run may send (--requests, or an open loop's OPEN_LOOP_SECONDS of
arrivals: at most 512 requests/s): a bound on what one mistyped option can send."""


def open_loop_requests(rate: float) -> int:
    """Requests of an open-loop load run at `rate` requests/s when --requests is not given:
    OPEN_LOOP_SECONDS of arrivals, at least OPEN_LOOP_MIN_REQUESTS (six a half for the TTFT
    growth, lmgauge.serve.figures.ttft_growth)."""
    return max(OPEN_LOOP_MIN_REQUESTS, math.ceil(OPEN_LOOP_SECONDS * rate))


def arrival_times(rate: float, requests: int, burstiness: float = 1.0, seed: int = 0) -> list:
    """Seconds from the start of an open-loop run at which each of `requests` requests is
    sent: the first at 0, then gamma-distributed gaps of mean 1 / rate and shape burstiness."""
    import numpy as np

    gaps = np.random.default_rng(seed).gamma(burstiness, 1.0 / (rate * burstiness), requests)
    return [0.0, *np.cumsum(gaps[: requests - 1]).tolist()]


async def open_loop(url, model, prompts, max_tokens, arrivals, timeout, extra):
    """One request sent at each of `arrivals` (s from the start), prompts taken in turn."""
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        start, sent = time.perf_counter(), []
        for index, at in enumerate(arrivals):
            await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
            body = completion_body(model, prompts[index % len(prompts)], max_tokens, extra)
            sent.append(asyncio.create_task(send(client, url, body, index, timeout)))
        return list(await asyncio.gather(*sent))


def run_load(
    url: str, model: str, prompts: list[str], max_tokens: int, *, requests: int,
    concurrency: int | None = None, rate: float | None = None, burstiness: float = 1.0,
    extra: tuple = (), request_timeout: float = REQUEST_TIMEOUT_S,
    run_timeout: float = RUN_TIMEOUT_S, seed: int = 0,
) -> LoadRun:  # fmt: skip
    """One load run of `requests` requests: closed loop at `concurrency` users, or open loop at
    `rate` requests/s (arrival_times with `burstiness` and `seed`); `extra`: the fields of
    NEUTRAL and EXACT_LENGTH to send (completion_body); a run past `run_timeout` s raises
    TimeoutError."""
    if (concurrency is None) == (rate is None):
        raise ValueError("a load run is closed loop (concurrency) or open loop (rate), not both")
    if concurrency is not None:
        load = closed_loop(url, model, prompts, max_tokens, concurrency, requests,
                           request_timeout, extra)  # fmt: skip
        level = f"concurrency={concurrency}"
    else:
        arrivals = arrival_times(rate, requests, burstiness, seed)
        load = open_loop(url, model, prompts, max_tokens, arrivals, request_timeout, extra)
        level = f"rate={rate:g}"

    started = time.perf_counter()
    done = asyncio.run(asyncio.wait_for(load, run_timeout))
    done.sort(key=lambda request: request.sent)
    ends = [request.ended for request in done]
    return LoadRun(done, (max(ends) if ends else started) - started, level)
