"""The subjects of a run and what the session fixtures of fixtures/ call: `model_name` is
parametrized over the subjects (each model of --models in each configuration of --configs);
`load_for_session`, `cold_load_taker`, `skip_other_task` and `load_polarity_for_session` are
the bodies of the `loaded_model`, `cold_loads`, autouse task-skip and `polarity` fixtures.

`model_name` is a session-scoped parameter, so pytest groups every bench of one subject together
and finishes `loaded_model` for one subject before loading the next: one model is resident at a
time. A model that fails to load fails its own tests with one sentence; the others run on.
Benches marked `causal_lm` or `encoder` are parametrized only over models of that task (models
whose task only the loaded config can tell are kept and skip at run time if they differ).
Benches marked `runtime("llamacpp")` take only llama.cpp subjects, `runtime("serve")` only
models behind servers (--servers, --endpoint), `runtime("transformers", "llamacpp")` both (as
bench_generate's test_generate does); all others take only the transformers ones.
"""

from __future__ import annotations

import gc

import pytest

from lmgauge import runtimes
from lmgauge.compute import dtype_name
from lmgauge.errors import LmgaugeError, ModelLoadError, NotApplicable, RuntimeMissing
from lmgauge.measure.cold_load import run_cold_load
from lmgauge.measure.slowdown import inject as inject_slowdown
from lmgauge.pytest_plugin.state import run_state
from lmgauge.sources.configs import TRANSFORMERS
from lmgauge.sources.data import load_polarity
from lmgauge.sources.models import CAUSAL_LM, ENCODER

TASK_MARKERS = {"causal_lm": CAUSAL_LM, "encoder": ENCODER}


def wanted_task(node) -> str | None:
    for marker, task in TASK_MARKERS.items():
        if node.get_closest_marker(marker):
            return task
    return None


def wanted_runtimes(node) -> tuple[str, ...]:
    """The runtimes named by the node's runtime marker (transformers without one)."""
    marker = node.get_closest_marker("runtime")
    return marker.args if marker else (TRANSFORMERS,)


def check_runtime_markers(items) -> None:
    """A runtime marker naming a runtime lmgauge does not have stops the run with one sentence
    (pytest's usage error), rather than leaving its bench out in silence."""
    for item in items:
        wanted = wanted_runtimes(item)
        if not wanted or not all(isinstance(name, str) for name in wanted):
            raise pytest.UsageError(
                f"{item.nodeid}: its runtime marker must name runtimes as strings, as in "
                f"runtime(\"transformers\", \"llamacpp\"); it has {wanted!r}."
            )
        if unknown := [name for name in wanted if name not in runtimes.RUNTIMES]:
            raise pytest.UsageError(
                f"{item.nodeid}: its runtime marker names {', '.join(map(repr, unknown))}, "
                f"which lmgauge does not have; runtimes: {', '.join(runtimes.RUNTIMES)}."
            )


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """A bench that asks its subject for what the subject's runtime or model cannot do
    (NotApplicable, from lmgauge.runtimes or the model's own checks) skips with that sentence.
    Only benches (tests of `loaded_model`): in lmgauge's own tests NotApplicable stays an
    error."""
    if "loaded_model" not in pyfuncitem.fixturenames:
        return (yield)
    try:
        return (yield)
    except NotApplicable as reason:
        pytest.skip(str(reason))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "runtime(name, ...): the bench measures subjects of these runtimes (e.g. "
        "llamacpp; lmgauge.runtimes.RUNTIMES)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "model_name" not in metafunc.fixturenames:
        return
    task = wanted_task(metafunc.definition)
    wanted = wanted_runtimes(metafunc.definition)
    subjects = run_state(metafunc.config).subjects.values()
    names = [
        subject.name
        for subject in subjects
        if (task is None or subject.spec.task in (None, task))
        and subject.config.runtime in wanted
    ]
    if names:
        metafunc.parametrize("model_name", names, scope="session")
        return
    reason = no_subject_reason(task, wanted, subjects)
    metafunc.parametrize("model_name", [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                         ids=["no-model"], scope="session")  # fmt: skip


TASK_WORDS = {CAUSAL_LM: "a causal LM", ENCODER: "an encoder"}


def no_subject_reason(task: str | None, wanted: tuple[str, ...], subjects) -> str:
    """Why no model of the run is measured by a bench for `task` models in `wanted` runtimes:
    one sentence naming what each model of the run is (instead of pytest's "got empty
    parameter set")."""
    kinds = ", ".join(
        f"{subject.name} is {TASK_WORDS.get(subject.spec.task, 'of another kind')} in "
        f"{subject.config.runtime}"
        for subject in subjects
    )  # fmt: skip
    needs = TASK_WORDS.get(task, "a model")
    return (f"this bench measures {needs} in {' or '.join(wanted)}, and no model of the run is "
            f"one ({kinds or 'the run has no models'})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the benches of runtimes that no configuration of the run uses (llama.cpp
    benches without --configs llamacpp), rather than report each as an empty skip."""
    used = {subject.config.runtime for subject in run_state(config).subjects.values()}
    measures = [item for item in items if "model_name" in getattr(item, "fixturenames", ())]
    check_runtime_markers(measures)
    unused = [item for item in measures if used.isdisjoint(wanted_runtimes(item))]
    if unused:
        config.hook.pytest_deselected(items=unused)
        dropped = {id(item) for item in unused}
        items[:] = [item for item in items if id(item) not in dropped]


def load_for_session(model_name: str, request: pytest.FixtureRequest):
    """The body of the `loaded_model` fixture (fixtures/models.py): load the subject once, with
    output shown; a subject whose runtime is missing skips, one that cannot load fails its own
    tests with one sentence; yields the loaded model and releases it (and the GPU cache) after
    the last bench of the subject."""
    state = run_state(request.config)
    subject = state.subjects[model_name]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    failure = None
    try:
        with capture.global_and_fixture_disabled():
            loaded = load_subject(subject, state)
    except (RuntimeMissing, NotApplicable) as error:
        pytest.skip(str(error))
    except ModelLoadError as error:
        failure = str(error)
    if failure is not None:  # failed outside the except block: one sentence, no chained error
        state.recorder.model_failed(model_name, subject_facts(subject), failure)
        pytest.fail(failure, pytrace=False)
    slowdown = state.slowdown_of(subject.spec.name)
    if slowdown and subject.config.runtime == TRANSFORMERS:
        inject_slowdown(loaded.model, slowdown, state.device)
    state.recorder.model_loaded(
        model_name, {**loaded.describe(), "config": subject.config.describe(),
                     "slowdown": slowdown},
    )  # fmt: skip
    try:
        yield loaded
    finally:
        if hasattr(loaded, "close"):
            loaded.close()
    state.recorder.model_released(model_name)
    del loaded
    gc.collect()
    if state.device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


def load_subject(subject, state):
    """Prepare (untimed, output shown) and load one subject in its runtime with its
    configuration (lmgauge.runtimes); RuntimeMissing or ModelLoadError. A served subject
    is its server, started (or reached) and serving."""
    run_stem = state.report_path.stem if state.report_path else "run"
    settings = runtimes.LoadSettings(
        device=state.device, dtype=state.dtype, threads=state.threads,
        server_log_prefix=state.report_dir / "servers" / run_stem, endpoint=state.serving.endpoint,
    )  # fmt: skip
    return runtimes.load_subject(subject.spec, subject.config, settings)


def subject_facts(subject) -> dict:
    """What the report says of a subject that could not be loaded."""
    return {**subject.spec.describe(), "config": subject.config.describe()}


def cold_load_taker(loaded_model, request: pytest.FixtureRequest, shared: dict, threads: int):
    """The body of the `cold_loads` fixture: `take(count)` returns `count` fresh-process loads
    of the model (lmgauge.measure.cold_load.ColdLoad), started on demand and kept in `shared`
    (one list per model, configuration and thread count), so each process starts only once."""
    state = run_state(request.config)

    def take(count: int) -> list:
        runs = shared[loaded_model.name, loaded_model.config.name, threads]
        while len(runs) < count:
            try:
                runs.append(
                    run_cold_load(
                        loaded_model.name,
                        loaded_model.folder,
                        loaded_model.gguf_file,
                        str(state.device),
                        dtype_name(state.dtype),
                        threads,
                        config=loaded_model.config.name,
                    )
                )
            except ModelLoadError as error:
                pytest.fail(str(error), pytrace=False)
        return runs[:count]

    return take


def skip_other_task(request: pytest.FixtureRequest) -> None:
    """Skip a task-marked bench for a model whose task only its loaded config told (Hub ids)."""
    task = wanted_task(request.node)
    if task is None or "loaded_model" not in request.fixturenames:
        return
    loaded = request.getfixturevalue("loaded_model")
    if loaded.task != task:
        pytest.skip(f"{loaded.name} is a '{loaded.task}' model; this bench is for '{task}' models")


def load_polarity_for_session(request: pytest.FixtureRequest):
    """The body of the `polarity` fixture (fixtures/datasets.py): the --dataset DatasetDict
    (train/validation/test with `text` and `label`), loaded with output shown; a data set that
    cannot load fails the tests that need it with one sentence."""
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
