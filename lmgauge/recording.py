"""RunRecorder: collects what one benchmark session produced and turns it into a report document.

Benches add figures through `record`; the model and data set fixtures add what they loaded;
the pytest plugin adds test outcomes and writes the document at session end.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone

from lmgauge import __version__
from lmgauge.metrics import get_metric
from lmgauge.report import Result, build_document
from lmgauge.stats import CV_LIMIT, summarize


class RunRecorder:
    """Everything one session records. Not thread-safe; one per pytest session."""

    def __init__(self, options: dict):
        self.options = options
        self.started = datetime.now(timezone.utc)
        self._started_clock = time.perf_counter()
        self.results: list[Result] = []
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

    def record(
        self,
        bench: str,
        model: str,
        metric: str,
        value=None,
        *,
        test: str = "",
        samples=(),
        **params,
    ) -> Result:
        """Add one figure; unit and direction come from the metric catalogue.

        `value` defaults to the median of `samples`. A figure from three or more samples whose
        coefficient of variation exceeds stats.CV_LIMIT is flagged "noisy".
        """
        entry = get_metric(metric)
        samples = [float(sample) for sample in samples]
        summary = summarize(samples) if samples else {}
        if value is None:
            value = summary["median"]
        noisy = len(samples) >= 3 and summary["cv"] > CV_LIMIT
        result = Result(
            bench=bench,
            model=model,
            metric=metric,
            value=value,
            unit=entry.unit,
            direction=entry.direction,
            params=dict(params),
            samples=samples,
            summary=summary,
            flags=["noisy"] if noisy else [],
            test=test,
        )
        self.results.append(result)
        return result

    def add_text(
        self, bench: str, model: str, table: str, text: str, *, test: str = "", **params
    ) -> None:
        """Add one generated text to `table` (written beside the report by lmgauge.text_tables)."""
        self.texts.append(
            {
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
        self.results = [
            replace(result, flags=[*result.flags, flag]) if result.test == test else result
            for result in self.results
        ]

    def model_loaded(self, name: str, facts: dict) -> None:
        """Note that `name` was loaded (and is now resident), with the facts of its load."""
        self.load_counts[name] += 1
        self.resident.add(name)
        self.max_resident = max(self.max_resident, len(self.resident))
        self.models[name] = {**facts, "load_count": self.load_counts[name], "error": None}

    def model_released(self, name: str) -> None:
        self.resident.discard(name)

    def model_failed(self, name: str, facts: dict, message: str) -> None:
        self.load_counts[name] += 1
        self.models[name] = {**facts, "load_count": self.load_counts[name], "error": message}

    def dataset_loaded(self, name: str, facts: dict) -> None:
        count = self.datasets.get(name, {}).get("load_count", 0) + 1
        self.datasets[name] = {**facts, "load_count": count}

    def outcome(self, nodeid: str, outcome: str, when: str, message: str = "") -> None:
        self.outcomes.append({"test": nodeid, "outcome": outcome, "when": when, "message": message})

    def document(self, environment: dict, status: str, exit_status: int, extra_run: dict) -> dict:
        """The report document for this session so far."""
        tally = Counter(item["outcome"] for item in self.outcomes)
        return build_document(
            lmgauge_version=__version__,
            created_utc=self.started.isoformat(),
            run={
                "status": status,
                "exit_status": exit_status,
                "duration_s": round(time.perf_counter() - self._started_clock, 3),
                "options": self.options,
                "max_models_resident": self.max_resident,
                **extra_run,
            },
            environment=environment,
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
            },
            texts=self.texts,
            results=self.results,
        )
