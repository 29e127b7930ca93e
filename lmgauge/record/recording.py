"""RunRecorder: collects what one benchmark session produced and turns it into a report document.

Benches add figures through `record`; the model and data set fixtures add what they loaded;
the pytest plugin adds test outcomes and writes the document at session end.

Every change is an event (a dict with an "event" key) applied by one method, `apply`, and
appended to the run's journal (lmgauge.record.journal) first when the recorder has one. Replaying a
journal's events into a fresh recorder (`RunRecorder.replay`) rebuilds the same state: that is
how a report is assembled at session end and how a killed run's journal becomes a report.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import asdict, replace
from datetime import datetime, timezone

from lmgauge import __version__
from lmgauge.record.keys import figure_words, result_key
from lmgauge.record.metrics import get_metric
from lmgauge.record.report import NON_FINITE, Result, build_document
from lmgauge.record.stats import CV_LIMIT, summarize


class RunRecorder:
    """Everything one session records. Not thread-safe; one per pytest session.

    journal: an lmgauge.record.journal.Journal (or anything with `append(event)`) that receives
    every event before it is applied, or None to keep the session in memory only.
    """

    def __init__(self, options: dict, journal=None, started: datetime | None = None):
        self.options = options
        self.journal = journal
        self.started = started or datetime.now(timezone.utc)
        self._started_clock = time.perf_counter()
        self.elapsed_s = 0.0
        self.environment: dict = {}
        self.results: list[Result] = []
        self._recorded: set[tuple] = set()
        self.texts: list[dict] = []
        self.models: dict[str, dict] = {}
        self.datasets: dict[str, dict] = {}
        self.outcomes: list[dict] = []
        self.noise: list[dict] = []
        self.calibration: dict | None = None
        self.calibration_end: dict | None = None
        self.load_counts: Counter[str] = Counter()
        self.resident: set[str] = set()
        self.max_resident = 0
        self.run_facts: dict = {}

    @classmethod
    def replay(cls, events: list[dict], journal=None) -> RunRecorder:
        """A recorder holding the state the journal `events` describe; the first event must be
        the session's `start`. ValueError in one sentence naming the first event that does not
        replay (a journal lmgauge did not write, or edited)."""
        if not events or not isinstance(events[0], dict) or events[0].get("event") != "start":
            raise ValueError("a journal must begin with the session's start event")
        recorder = None
        for number, event in enumerate(events, start=1):
            try:
                if recorder is None:
                    recorder = cls(event["options"],
                                   started=datetime.fromisoformat(event["started"]))  # fmt: skip
                recorder.apply(event)
            except (KeyError, TypeError, AttributeError, ValueError) as error:
                shown = json.dumps(event, default=str)
                raise ValueError(f"its event {number} ({shown[:80]}) is not one lmgauge writes "
                                 f"({type(error).__name__}: {error})") from None  # fmt: skip
        recorder.journal = journal
        return recorder

    def elapsed_now(self) -> float:
        """Seconds since this recorder was created (s)."""
        return time.perf_counter() - self._started_clock

    def start(self, environment: dict, **run_facts) -> None:
        """The first event of a session: its options, start time, machine and run facts."""
        self.apply(
            {
                "event": "start",
                "started": self.started.isoformat(),
                "options": self.options,
                "environment": environment,
                "run": run_facts,
            }
        )

    def apply(self, event: dict) -> None:
        """Journal `event` (when there is a journal) and change the state by it."""
        if self.journal is not None:
            event = {**event, "t": round(time.perf_counter() - self._started_clock, 3)}
            self.journal.append(event)
        self.elapsed_s = max(self.elapsed_s, event.get("t", 0.0))
        getattr(self, f"_on_{event['event']}")(event)

    def record(
        self,
        bench: str,
        model: str,
        metric: str,
        value=None,
        *,
        test: str = "",
        samples=(),
        rounds=(),
        probe_seconds=(),
        stopped: str = "",
        threshold: dict | None = None,
        **params,
    ) -> Result:
        """Add one figure; unit and direction come from the metric catalogue.

        samples: the raw measurements; rounds: one value per timed round, the independent units
        a verdict judges (default: the samples, when each sample is a round); probe_seconds:
        the speed probe's times around the rounds (lmgauge.measure.probe); stopped: why the
        rounds stopped; threshold: the figure's verdict against a quality threshold
        (lmgauge.quality.thresholds.verdict). summary["normalized_median"] is the rounds' median
        over the probes'. `value` defaults to the median of the rounds. A figure from three or
        more rounds whose coefficient of variation exceeds stats.CV_LIMIT is flagged "noisy".
        """
        entry = get_metric(metric)
        key = result_key({"model": model, "bench": bench, "metric": metric, "params": params})
        if key in self._recorded:
            raise ValueError(
                f"{figure_words(key)} is already recorded in this run: a judge would see only "
                f"one of the two; record each measurement under its own params."
            )
        samples = [float(sample) for sample in samples]
        rounds = [float(value) for value in rounds] or samples
        summary = summarize(samples) if samples else {}
        if rounds and rounds is not samples:
            summary["rounds"] = summarize(rounds)
        if probe_seconds:
            probe = summarize(probe_seconds)["median"]
            summary["normalized_median"] = float(summarize(rounds)["median"] / probe)
        if value is None:
            value = summarize(rounds)["median"]
        noisy = len(rounds) >= 3 and summarize(rounds)["cv"] > CV_LIMIT
        flags = ["noisy"] if noisy else []
        if not math.isfinite(float(value)):
            flags.append(NON_FINITE)
        result = Result(
            bench=bench,
            model=model,
            metric=metric,
            value=value,
            unit=entry.unit,
            direction=entry.direction,
            params=dict(params),
            samples=samples,
            rounds=rounds if rounds is not samples else [],
            probe_seconds=[float(p) for p in probe_seconds],
            stopped=stopped,
            threshold=threshold,
            summary=summary,
            flags=flags,
            test=test,
        )
        self.apply({"event": "result", **asdict(result)})
        return result

    def add_text(
        self, bench: str, model: str, table: str, text: str, *, test: str = "", **params
    ) -> None:
        """Add one generated text to `table`, written beside the report by
        lmgauge.render.text_tables."""
        self.apply(
            {
                "event": "text",
                "bench": bench,
                "model": model,
                "table": table,
                "params": dict(params),
                "text": text,
                "test": test,
            }
        )

    def flag_test(self, test: str, flag: str) -> None:
        """Add `flag` to every result recorded by the pytest node `test`."""
        self.apply({"event": "flag", "test": test, "flag": flag})

    def model_loaded(self, name: str, facts: dict) -> None:
        """Note that `name` was loaded (and is now resident), with the facts of its load."""
        self.apply({"event": "model_loaded", "name": name, "facts": facts})

    def model_released(self, name: str) -> None:
        self.apply({"event": "model_released", "name": name})

    def model_failed(self, name: str, facts: dict, message: str) -> None:
        self.apply({"event": "model_failed", "name": name, "facts": facts, "message": message})

    def dataset_loaded(self, name: str, facts: dict) -> None:
        self.apply({"event": "dataset", "name": name, "facts": facts})

    def outcome(self, nodeid: str, outcome: str, when: str, message: str = "",
                measured: bool = False) -> None:  # fmt: skip
        """A test's outcome in one phase; `measured`: a skip on what it measured
        (lmgauge.pytest_plugin.skips)."""
        self.apply(
            {
                "event": "outcome",
                "test": nodeid,
                "outcome": outcome,
                "when": when,
                "message": message,
                **({"measured": True} if measured else {}),
            }  # fmt: skip
        )

    def noise_reading(self, reading: dict) -> None:
        self.apply({"event": "noise", "reading": reading})

    def set_calibration(self, calibration: dict, at_end: bool = False) -> None:
        self.apply({"event": "calibration", "at_end": at_end, "calibration": calibration})

    def set_speed_probe(self, identity: dict) -> None:
        """What the speed probe runs (lmgauge.measure.probe.SpeedProbe.identity), kept in the
        report's `run.speed_probe`."""
        self.apply({"event": "speed_probe", "identity": identity})

    def _on_speed_probe(self, event: dict) -> None:
        self.run_facts = {**self.run_facts, "speed_probe": event["identity"]}

    def _on_start(self, event: dict) -> None:
        self.environment = event["environment"]
        self.run_facts = event.get("run", {})

    def _on_result(self, event: dict) -> None:
        fields = {key: value for key, value in event.items() if key not in ("event", "t")}
        self.results.append(Result(**fields))
        self._recorded.add(result_key(fields))

    def _on_text(self, event: dict) -> None:
        self.texts.append({key: event[key] for key in TEXT_KEYS})

    def _on_flag(self, event: dict) -> None:
        self.results = [
            replace(result, flags=[*result.flags, event["flag"]])
            if result.test == event["test"]
            else result
            for result in self.results
        ]

    def _on_model_loaded(self, event: dict) -> None:
        name = event["name"]
        self.load_counts[name] += 1
        self.resident.add(name)
        self.max_resident = max(self.max_resident, len(self.resident))
        self.models[name] = {**event["facts"], "load_count": self.load_counts[name], "error": None}

    def _on_model_released(self, event: dict) -> None:
        self.resident.discard(event["name"])

    def _on_model_failed(self, event: dict) -> None:
        name = event["name"]
        self.load_counts[name] += 1
        self.models[name] = {
            **event["facts"],
            "load_count": self.load_counts[name],
            "error": event["message"],
        }

    def _on_dataset(self, event: dict) -> None:
        count = self.datasets.get(event["name"], {}).get("load_count", 0) + 1
        self.datasets[event["name"]] = {**event["facts"], "load_count": count}

    def _on_outcome(self, event: dict) -> None:
        self.outcomes.append({key: event[key] for key in ("test", "outcome", "when", "message",
                                                          "measured") if key in event})  # fmt: skip

    def _on_noise(self, event: dict) -> None:
        self.noise.append(event["reading"])

    def _on_calibration(self, event: dict) -> None:
        if event["at_end"]:
            self.calibration_end = event["calibration"]
        else:
            self.calibration = event["calibration"]

    def document(
        self, status: str, exit_status: int | None, extra_run: dict, environment: dict | None = None
    ) -> dict:
        """The report document for this session so far (`environment` replaces the one the
        start event recorded)."""
        tally = Counter(item["outcome"] for item in self.outcomes)
        duration = self.elapsed_s if status == "killed" else self.elapsed_now()
        return build_document(
            lmgauge_version=__version__,
            created_utc=self.started.isoformat(),
            run={
                "status": status,
                "exit_status": exit_status,
                "duration_s": round(duration, 3),
                "options": self.options,
                "max_models_resident": self.max_resident,
                **self.run_facts,
                **extra_run,
            },
            environment=environment if environment is not None else self.environment,
            calibration=self.calibration,
            calibration_end=self.calibration_end,
            noise=self.noise,
            models=self.models,
            datasets=self.datasets,
            metrics={
                name: get_metric(name).to_dict()
                for name in sorted({result.metric for result in self.results})
            },
            tests={
                "counts": dict(tally),
                "not_passed": [item for item in self.outcomes if item["outcome"] != "passed"],
                "passed": sorted({item["test"] for item in self.outcomes
                                  if item["outcome"] == "passed"}),  # fmt: skip
            },
            texts=self.texts,
            results=self.results,
        )


TEXT_KEYS = ("bench", "model", "table", "params", "text", "test")
