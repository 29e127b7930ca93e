"""What a load run's requests add up to: latency percentiles, throughput, goodput, agreement.

Per request: TTFT (send to first text chunk), ITL (every gap between text chunks), TPOT
((last chunk - first chunk) / (tokens - 1)), end to end (send to end of stream). Per load run:
those at p50 / p90 / p99 over its requests (ITL over all its gaps), output tokens/s and
requests/s over the run's wall time, and goodput: requests/s that met the SLO (TTFT and every
ITL within their limits), with the share of the run's requests that met it. A failed request
counts against goodput and in `failed_requests`. The statistical unit is the load run: the
requests of one run share the server's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lmgauge.serve.load import LoadRun, Request

QUANTILES = (50, 90, 99)


@dataclass(frozen=True)
class Slo:
    """Latency targets a request must meet to count in goodput, in seconds."""

    ttft_s: float = 1.0
    itl_s: float = 0.2

    @classmethod
    def parse(cls, text: str) -> Slo:
        """`ttft=0.5,itl=0.1` (seconds; `ms` suffix allowed) -> Slo; ValueError in one sentence."""
        values = {}
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            name, _, number = part.partition("=")
            if name.strip() not in ("ttft", "itl") or not number:
                raise ValueError(f"--slo takes ttft=SECONDS,itl=SECONDS, got '{text}'.")
            number = number.strip()
            scale = 1e-3 if number.endswith("ms") else 1.0
            try:
                values[f"{name.strip()}_s"] = float(number.removesuffix("ms").removesuffix("s")) \
                    * scale  # fmt: skip
            except ValueError:
                raise ValueError(f"--slo value '{number}' is not a number of seconds.") from None
        if not all(math.isfinite(v) and v > 0 for v in values.values()):
            raise ValueError(f"--slo takes positive numbers of seconds, got '{text}'.")
        return cls(**values)

    def met(self, request: Request) -> bool:
        if not request.ok:
            return False
        gaps = np.diff(request.chunk_times)
        return bool(ttft(request) <= self.ttft_s and (gaps.size == 0 or gaps.max() <= self.itl_s))


def ttft(request: Request) -> float:
    return request.chunk_times[0] - request.sent


def tpot(request: Request, tokens: int) -> float:
    """Mean time per output token after the first (s); nan with fewer than two tokens."""
    if tokens < 2:
        return math.nan
    return (request.chunk_times[-1] - request.chunk_times[0]) / (tokens - 1)


def percentiles(values) -> dict[str, float]:
    values = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if values.size == 0:
        return {f"p{q}": math.nan for q in QUANTILES}
    return {f"p{q}": float(np.percentile(values, q)) for q in QUANTILES}


def run_figures(run: LoadRun, slo: Slo, tokens_of) -> dict[str, float]:
    """The figures of one load run, by name (see the module docstring); `tokens_of(request)`
    counts a request's output tokens (the server's usage, checked elsewhere, or the model's
    own tokenizer)."""
    ok = [request for request in run.requests if request.ok]
    tokens = {id(request): tokens_of(request) for request in ok}
    wall = run.wall_seconds if run.wall_seconds > 0 else math.nan
    figures = {}
    for name, values in (
        ("ttft", [ttft(r) for r in ok]),
        ("itl", [gap for r in ok for gap in np.diff(r.chunk_times)]),
        ("tpot", [tpot(r, tokens[id(r)]) for r in ok]),
        ("e2e", [r.ended - r.sent for r in ok]),
    ):
        for quantile, value in percentiles(values).items():
            figures[f"{name}_{quantile}"] = value
    figures["output_tokens_per_second"] = sum(tokens.values()) / wall
    figures["requests_per_second"] = len(ok) / wall
    met = sum(slo.met(r) for r in run.requests)
    figures["goodput_requests_per_second"] = float(met) / wall
    figures["slo_met_share"] = met / len(run.requests) if run.requests else math.nan
    figures["failed_requests"] = float(len(run.requests) - len(ok))
    figures["ttft_growth"] = ttft_growth(ok)
    return figures


def ttft_growth(answered: list[Request]) -> float:
    """Median time to first token of the later half of the answered requests (by send time)
    over that of the earlier half; nan with fewer than four. Near 1 while the server keeps up;
    a server past saturation queues every new request behind more of the earlier ones, so
    its later requests wait ever longer."""
    if len(answered) < 4:
        return math.nan
    ordered = sorted(answered, key=lambda request: request.sent)
    half = len(ordered) // 2
    early, late = (np.median([ttft(r) for r in part]) for part in (ordered[:half], ordered[-half:]))
    return float(late / early) if early > 0 else math.nan


def agreement(answers: dict[int, str], solo: dict[int, str]) -> tuple[float, float]:
    """(share of prompts whose answer differs from the solo answer, median first differing
    character position among those; nan when none differ) over prompts answered both ways."""
    shared = [index for index in answers if index in solo]
    if not shared:
        return math.nan, math.nan
    positions = [first_difference(answers[i], solo[i]) for i in shared]
    differing = [p for p in positions if p is not None]
    share = len(differing) / len(shared)
    return share, float(np.median(differing)) if differing else math.nan


def first_difference(left: str, right: str, prefix_agrees: bool = False) -> int | None:
    """The first character position where two answers differ; None when they are equal, or
    with `prefix_agrees` when one is the start of the other (an answer that stopped at its
    end-of-sequence token against one asked to go on)."""
    for position, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return position
    if len(left) == len(right) or prefix_agrees:
        return None
    return min(len(left), len(right))
