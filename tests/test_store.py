"""The results store on SQLite and on a real PostgreSQL server: storing reports once, whole or
not at all, from several processes at once; history and its steps; bad input in one sentence."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from lmgauge.cli.main import main
from lmgauge.record.report import write_atomic
from lmgauge.store.engine import StoreError, open_store
from lmgauge.store.queries import figure_rows, split_series
from lmgauge.store.schema import results, runs, schema_version
from lmgauge.store.writing import store_report
from tests.postgres_server import server_binaries
from tests.reports_for_tests import ENVIRONMENT, make_report
from tests.test_report import old_document

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def commit(day: int) -> str:
    return f"{day:04d}" + "f" * 36


def dated(seed: int, day: int, slowdown: float = 1.0, host: str = "runner-1", **facts) -> dict:
    """A report created `day` days after START on `host`, at commit <day>fff...f."""
    environment = {**ENVIRONMENT, "hostname": host, "git": {"commit": commit(day)}, **facts}
    document = make_report(seed, slowdown=slowdown, environment=environment)
    document["created_utc"] = (START + timedelta(days=day)).isoformat()
    document["run"]["name"] = f"day{day}"
    return document


def counts(engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return (connection.execute(select(func.count()).select_from(runs)).scalar(),
                connection.execute(select(func.count()).select_from(results)).scalar())  # fmt: skip


def test_a_report_is_stored_once(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path}/s.db")
    document = dated(1, 0)
    first, again = store_report(engine, document), store_report(engine, document)
    assert first.new and not again.new and first.run_id == again.run_id
    assert counts(engine) == (1, len(document["results"]))


@pytest.mark.parametrize("version", [1, 2])
def test_old_report_versions_are_stored(tmp_path, capsys, version):
    path = write_atomic(old_document(version), tmp_path / f"v{version}.json")
    store = f"sqlite:///{tmp_path}/s.db"
    assert main(["store", str(path), "--store", store]) == 0
    assert main(["store", str(path), "--store", store]) == 0
    assert "already stored as run 1" in capsys.readouterr().out
    with open_store(store).connect() as connection:
        assert connection.execute(select(runs.c.report_schema)).scalar() == 4, "read as v4"


def test_bad_input_is_one_sentence_and_stores_nothing(tmp_path, capsys):
    store = f"sqlite:///{tmp_path}/s.db"
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "lmgauge-run-report", "schema_version": 3, "run"')
    good = write_atomic(dated(1, 0), tmp_path / "good.json")
    assert main(["store", str(broken), str(good), "--store", store]) == 2
    out = capsys.readouterr().out
    assert f"lmgauge: {broken} is not valid JSON" in out and "good.json: stored as run 1" in out
    assert counts(open_store(store))[0] == 1
    huge = tmp_path / "ab.json"  # found by a new-user trial: A/B reports were read unchecked
    huge.write_text('{"format": "lmgauge-ab-report", "status": "x", "sides": {}, "rows": [1e400]}')
    assert main(["store", str(huge), "--store", store]) == 2
    assert f"lmgauge: {huge} holds the number 1e400, too large for a float" in (
        capsys.readouterr().out)  # fmt: skip
    huge.write_text('{"format": "lmgauge-ab-report", "status": "x", "sides": {}, "rows": [], '
                    '"pairs": Infinity}')  # fmt: skip
    assert main(["store", str(huge), "--store", store]) == 2
    assert "holds NaN or Infinity, which lmgauge ab never writes" in capsys.readouterr().out
    edited = {"format": "lmgauge-ab-report", "schema_version": 2, "status": "FAILED",
              "passed": False, "reasons": ["x"], "sides": {"base": {}, "new": {}}, "pairs": 3,
              "rows": [], "created_utc": "2026-12-03T00:00:00+00:00", "runs": [{}],
              "judged": 1}  # fmt: skip
    for change, says in (({"rows": "nope"}, "rows is 'nope', not a list"),
                         ({"sides": None}, "sides is None, not a dict"),
                         ({"passed": "yes"}, "passed is 'yes', not a bool"),
                         ({"passed": True}, "it says passed, yet it gives reasons"),
                         ({"passed": True, "reasons": []},
                          "it says passed, yet its status is 'FAILED'"),
                         ({"passed": True, "reasons": [], "status": "complete", "judged": 0},
                          "it says passed, yet judged is 0"),
                         ({"passed": True, "reasons": [], "status": "complete", "runs": []},
                          "it says passed, yet it lists no runs"),
                         ({"schema_version": 99}, "schema_version 99 is not one"),
                         ({"pairs": -1}, "pairs is -1, not a count"),
                         ({"rows": [{}]}, "a row is not a figure"),
                         ({"created_utc": "yesterday"}, "created_utc 'yesterday' is not")):
        huge.write_text(json.dumps({**edited, **change}))  # found by a new-user trial
        assert main(["store", str(huge), "--store", store]) == 2
        assert f"{huge} is not an A/B report as lmgauge ab writes it: {says}" in (
            capsys.readouterr().out)  # fmt: skip
    for name in ("runs", "created_utc", "judged", "reasons"):  # review: a pass with none stored
        huge.write_text(json.dumps({key: v for key, v in edited.items() if key != name}))
        assert main(["store", str(huge), "--store", store]) == 2
        assert f"{name} is missing, which lmgauge ab writes in version 2" in (
            capsys.readouterr().out)  # fmt: skip
    dated_wrongly = dated(2, 0)
    dated_wrongly["created_utc"] = "2026-13-45T00:00:00+00:00"
    write_atomic(dated_wrongly, tmp_path / "wrong-date.json")
    assert main(["store", str(tmp_path / "wrong-date.json"), "--store", store]) == 2
    assert "created_utc '2026-13-45T00:00:00+00:00' is not an ISO 8601 time" in (
        capsys.readouterr().out)  # fmt: skip
    for arguments, says in (
        (["store", str(good), "--store", "nonsense"], "is not a database URL"),
        (["store", str(good), "--store", "postgresql://nobody@127.0.0.1:1/x"],
         "cannot open the store postgresql://nobody@127.0.0.1:1/x"),
        (["history", "--model", "m", "--metric", "x", "--store", f"sqlite:///{tmp_path}/no.db"],
         "no store at"),
        (["history", "--store", "mysql://x@y/z"], "its database driver (MySQLdb) is not"),
    ):  # fmt: skip
        assert main(arguments) == 2
        assert says in capsys.readouterr().err


def test_a_driver_import_error_without_a_module_name_still_says_what_is_missing(monkeypatch):
    """Found by review: an ImportError that names no module printed "driver (None)"."""
    import lmgauge.store.engine as engine

    def no_driver(*_, **__):
        raise ImportError("libpq.so.5: cannot open shared object file")

    monkeypatch.setattr(engine, "make_engine", no_driver)
    with pytest.raises(engine.StoreError, match=r"driver \(libpq.so.5: cannot open"):
        engine.open_store("postgresql://x@127.0.0.1/y")


def test_a_newer_schema_is_refused_untouched(tmp_path):
    """A newer store that lacks a table this version has: it is not created there."""
    from sqlalchemy import inspect as inspect_tables
    from sqlalchemy import text

    store = f"sqlite:///{tmp_path}/s.db"
    with open_store(store).begin() as connection:
        connection.execute(update(schema_version).values(version=99))
        connection.execute(text("DROP TABLE ab_runs"))
    with pytest.raises(StoreError, match="schema version 99, newer than this lmgauge's 1"):
        open_store(store)
    from lmgauge.store.engine import make_engine

    engine = make_engine(store, False)
    assert "ab_runs" not in inspect_tables(engine).get_table_names(), "refused untouched"


def store_files(store: str, paths: list[str]) -> None:
    engine = open_store(store)
    for path in paths:
        with open(path) as stream:
            store_report(engine, json.load(stream), path)


def concurrent_stores(store: str, tmp_path, writers: int = 4, reports: int = 6) -> None:
    paths = [
        str(write_atomic(dated(day, day), tmp_path / f"r{day}.json")) for day in range(reports)
    ]
    orders = [random.Random(seed).sample(paths, len(paths)) for seed in range(writers)]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=store_files, args=(store, order)) for order in orders]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0


def test_several_writers_at_once_lose_and_duplicate_nothing_sqlite(tmp_path):
    store = f"sqlite:///{tmp_path}/s.db"
    open_store(store)
    concurrent_stores(store, tmp_path)
    assert counts(open_store(store)) == (6, 6 * len(dated(0, 0)["results"]))


def step_series(store: str, tmp_path) -> None:
    """24 daily runs on runner-1, 20 % slower from day 14 on; 10 on runner-2, no step."""
    engine = open_store(store)
    for day in range(24):
        store_report(engine, dated(day, day, slowdown=1.2 if day >= 14 else 1.0))
    for day in range(10):
        store_report(engine, dated(100 + day, day, host="runner-2", cpu_model="Other CPU"))


def test_history_puts_an_injected_step_at_the_first_slower_run(tmp_path, capsys):
    store = f"sqlite:///{tmp_path}/s.db"
    step_series(store, tmp_path)
    rows = figure_rows(open_store(store), "decode_step_seconds", "gpt2")
    series = split_series(rows, {"prompt_tokens": 128})
    assert sorted(len(s) for s in series.values()) == [10, 24], "machines are never mixed"
    assert main(["history", "--model", "gpt2", "--metric", "decode_step_seconds",
                 "--store", store]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "24 runs, 1 step(s)" in out and "10 runs, 0 step(s)" in out
    assert f"first at run 15 2026-11-15 00:00 'day14' commit {commit(14)[:10]}" in out
    assert "step +1" in out or "step +2" in out
    assert "## Across machines" in out and "median roofline efficiency" in out


def test_a_change_of_dtype_or_threads_starts_its_own_series(tmp_path):
    """Runs of one machine with --dtype bfloat16 are not a step in the float32 series."""
    engine = open_store(f"sqlite:///{tmp_path}/s.db")
    for day in range(6):
        document = dated(day, day, slowdown=0.6 if day >= 3 else 1.0)
        if day >= 3:
            document["run"]["options"]["dtype"] = "bfloat16"
        store_report(engine, document)
    series = split_series(figure_rows(engine, "decode_step_seconds", "gpt2"))
    dtypes = sorted(json.loads(key[2])["dtype"] for key in series)
    assert dtypes == ["bfloat16", "float32"] and all(len(s) == 3 for s in series.values())


def test_history_without_a_figure_lists_the_runs_first(tmp_path, capsys):
    """As git log does: no arguments is not a usage error."""
    store = f"sqlite:///{tmp_path}/s.db"
    step_series(store, tmp_path)
    assert main(["history", "--store", store, "--last", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 newest stored runs:") and out.count("\n  run ") == 3
    assert "one figure: lmgauge history --model" in out
    assert main(["history", "--model", "gpt2", "--store", store]) == 2
    assert "needs both --model and --metric" in capsys.readouterr().err


def test_postgresql_stores_runs_and_answers_history(postgres_url, tmp_path, capsys):
    from sqlalchemy import text

    engine = open_store(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE runs, machines RESTART IDENTITY CASCADE"))
    concurrent_stores(postgres_url, tmp_path)
    assert counts(engine) == (6, 6 * len(dated(0, 0)["results"]))
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE runs, machines RESTART IDENTITY CASCADE"))
    step_series(postgres_url, tmp_path)
    assert main(["history", "--model", "gpt2", "--metric", "decode_step_seconds",
                 "--param", "prompt_tokens=128", "--store", postgres_url]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "24 runs, 1 step(s)" in out and "first at run 15 2026-11-15" in out


@pytest.mark.slow
def test_a_bench_run_is_stored_at_its_end_unless_told_not_to(pytester, tiny_gpt2_dir):
    from tests.conftest import PROJECT
    from tests.test_plugin import run_benches

    params = str(PROJECT / "benches" / "bench_params.py")
    result, (report,) = run_benches(pytester, "--models", str(tiny_gpt2_dir), target=params)
    database = pytester.path / "reports" / "lmgauge.db"
    result.stdout.fnmatch_lines([f"lmgauge store: run 1 in sqlite:///{database}"])
    with open_store(f"sqlite:///{database}").connect() as connection:
        assert connection.execute(select(runs.c.name, runs.c.status)).one() == (None, "passed")
    unstored, _ = run_benches(pytester, "--models", str(tiny_gpt2_dir), "--no-store",
                              target=params)  # fmt: skip
    assert "lmgauge store" not in unstored.stdout.str()
    assert counts(open_store(f"sqlite:///{database}"))[0] == 1
    bad, _ = run_benches(pytester, "--models", str(tiny_gpt2_dir), "--store", "x", target=params)
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["*--store 'x' is not a database URL*"])


def test_the_store_exports_as_a_hugging_face_dataset_folder(tmp_path, capsys):
    from datasets import load_dataset

    store = f"sqlite:///{tmp_path}/s.db"
    engine = open_store(store)
    for day in range(3):
        store_report(engine, dated(day, day))
    out = tmp_path / "dataset"
    assert main(["export-dataset", "--store", store, "--out", str(out), "--model", "gpt2"]) == 0
    rows = load_dataset("parquet", data_files=str(out / "data" / "results.parquet"))["train"]
    assert rows.num_rows == 3 * sum(r["model"] == "gpt2" for r in dated(0, 0)["results"])
    assert (
        set(rows["model"]) == {"gpt2"}
        and "data_files: data/results.parquet" in (out / "README.md").read_text()
    )
    capsys.readouterr()
    assert main(["export-dataset", "--store", store, "--out", str(out), "--model", "none"]) == 2
    assert "no results to export" in capsys.readouterr().err


def test_the_scale_measurement_stores_synthetic_runs_and_finds_their_step(tmp_path):
    from lmgauge.runs.store_scale import measure

    template = dated(0, 0)
    figures = measure(f"sqlite:///{tmp_path}/s.db", template, runs=48, machines=2, model="gpt2")
    assert figures["runs"] == 48 and figures["series"] == 2 and figures["bytes_per_run"] > 0
    assert figures["steps"] == {"runner-0": [15], "runner-1": []}, "runner-0 is slower from run 29"


def test_the_side_runs_of_an_ab_run_are_not_stored(pytester, tiny_gpt2_dir, monkeypatch):
    from tests.conftest import PROJECT
    from tests.test_plugin import run_benches

    monkeypatch.setenv("LMGAUGE_NO_STORE", "1")
    result, _ = run_benches(pytester, "--models", str(tiny_gpt2_dir),
                            target=str(PROJECT / "benches" / "bench_params.py"))  # fmt: skip
    assert "lmgauge store" not in result.stdout.str()
    assert not (pytester.path / "reports" / "lmgauge.db").exists()


SERVER_UNTIL_KILLED = """
import sys, time
from pathlib import Path
from tests.postgres_server import PostgresServer, server_binaries
server = PostgresServer(server_binaries())
server.start()
print(server.folder, server.port, flush=True)
time.sleep(600)
"""


def test_a_test_servers_postgresql_goes_when_its_test_process_is_killed(tmp_path):
    """pg_ctl detaches the server, so a pytest killed before its teardown (SIGKILL, or the
    SIGTERM of a stopped CI job) used to leave it running; its watchdog stops and removes it."""
    if server_binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-c", SERVER_UNTIL_KILLED], cwd=root,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    folder, port = child.stdout.readline().split()
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
        pass
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 30
    while Path(folder).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(folder).exists(), "the watchdog removes the server's folder"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()


def test_an_a_b_verdicts_reasons_name_each_failing_figure_with_its_ratio():
    """The stored reasons and `lmgauge ab`'s verdict line find a reason's figure alike
    (lmgauge.record.ab_format); a reason about a test has no figure."""
    from lmgauge.runs.ab_report import verdict_line
    from lmgauge.store.writing import ab_reasons

    row = {"model": "gpt2", "metric": "decode_step_seconds", "params": "prompt_tokens=128",
           "fails_gate": True, "ratio": 1.31, "verdict": "worse", "gated": True, "base": 0.02,
           "new": 0.0262, "unit": "s", "ci_low": 1.2, "ci_high": 1.4, "p_value": 0.01}  # fmt: skip
    document = {"reasons": ["gpt2 decode_step_seconds prompt_tokens=128: worse",
                            "test a.py::t: failed in call"], "rows": [row], "passed": False,
                "pairs": 3}  # fmt: skip
    assert ab_reasons(document) == ["gpt2 decode_step_seconds prompt_tokens=128: worse "
                                    "(ratio 1.31)", "test a.py::t: failed in call"]  # fmt: skip
    line = verdict_line(document).splitlines()
    assert line[1] == ("  gpt2 decode_step_seconds prompt_tokens=128: worse (0.02 -> 0.0262 s, "
                       "ratio 1.310 [1.200, 1.400], p = 0.01)")  # fmt: skip
    assert line[2] == "  test a.py::t: failed in call"
    worse_to_zero = {**row, "metric": "known_answer_accuracy", "params": "", "ratio": None,
                     "base": 0.25, "new": 0.0, "unit": "ratio", "ci_low": None, "p_value": None}
    document = {"reasons": ["gpt2 known_answer_accuracy : worse"], "rows": [worse_to_zero],
                "passed": False, "pairs": 3}  # fmt: skip
    assert verdict_line(document).splitlines()[1].endswith("worse (0.25 -> 0 ratio)"), \
        "a figure judged worse with no ratio (it fell to zero) is not called 'not judged'"


@pytest.mark.parametrize(
    ("reasons", "passed", "expected"),
    [
        (None, False, ["gpt2 decode_step_seconds {}: failed (ratio 1.2)"]),
        ("not a list", False, ["gpt2 decode_step_seconds {}: failed (ratio 1.2)"]),
        ([3, "gpt2 decode_step_seconds {}: worse"], False,
         ["3", "gpt2 decode_step_seconds {}: worse (ratio 1.2)"]),
    ],
)  # fmt: skip
def test_an_a_b_verdict_from_any_version_gives_its_reasons(reasons, passed, expected):
    """A report from before `reasons` gives its failing figures; a reason that is not text is
    kept as text; a row that does not fail the gate is no reason."""
    from lmgauge.store.writing import ab_reasons

    rows = [{"model": "gpt2", "metric": "decode_step_seconds", "params": "{}", "ratio": 1.2,
             "fails_gate": True, "verdict": "worse"},
            {"model": "gpt2", "metric": "ttft_seconds", "params": "{}", "ratio": 1.01}]  # fmt: skip
    document = {"rows": rows, "passed": passed}
    if reasons is not None:
        document["reasons"] = reasons
    assert ab_reasons(document) == expected
    assert ab_reasons({"rows": [], "passed": False}) == [
        "an A/B report from before lmgauge recorded its reasons: see its ab.md"
    ]
