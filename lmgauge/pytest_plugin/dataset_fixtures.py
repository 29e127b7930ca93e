"""The data set fixture: the --dataset text/label DatasetDict, loaded once per session."""

from __future__ import annotations

import pytest

from lmgauge.errors import LmgaugeError
from lmgauge.pytest_plugin.state import run_state
from lmgauge.sources.data import load_polarity


@pytest.fixture(scope="session")
def polarity(request: pytest.FixtureRequest):
    """train/validation/test splits with `text` and `label` (0 negative, 1 positive)."""
    state = run_state(request.config)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled():
            data = load_polarity(state.dataset)
    except LmgaugeError as error:
        failure = str(error)
    else:
        failure = None
    if failure:
        pytest.fail(failure, pytrace=False)
    state.recorder.dataset_loaded(
        state.dataset,
        {
            "splits": {name: split.num_rows for name, split in data.items()},
            "columns": data["train"].column_names,
        },
    )
    return data
