"""The journal: every event on disk as it happens; a replay rebuilds the report; a killed run's
journal becomes a report with status killed; unwritable places give one sentence."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lmgauge.errors import LmgaugeError
from lmgauge.record.journal import Journal, abandoned_journals, read_events
from lmgauge.record.recording import RunRecorder
from lmgauge.record.recovery import check_writable, recover_folder, unique_report_path
from lmgauge.record.report import validate, write_atomic
from tests.conftest import PROJECT


def journalled_recorder(path):
    recorder = RunRecorder({"models": ["gpt2"]}, journal=Journal(path))
    recorder.start({"cpu_model": "x"}, name="t")
    recorder.model_loaded("gpt2", {"name": "gpt2", "weights": "synthetic"})
    recorder.record("generate", "gpt2", "ttft_seconds", samples=[0.3, 0.31, 0.29], test="a")
    recorder.flag_test("a", "busy")
    recorder.outcome("a", "passed", "call")
    return recorder


def test_a_replayed_journal_gives_the_same_report(tmp_path):
    recorder = journalled_recorder(tmp_path / "r.journal.jsonl")
    live = recorder.document("passed", 0, {"duration_s": 1.0})
    replayed = RunRecorder.replay(read_events(recorder.journal.path))
    again = replayed.document("passed", 0, {"duration_s": 1.0})
    assert again["results"] == live["results"] and again["models"] == live["models"]
    assert again["results"][0]["flags"] == ["busy"]
    assert validate(again)["environment"] == {"cpu_model": "x"}


def test_a_report_that_cannot_be_written_is_still_gated_in_memory(tmp_path, monkeypatch):
    """Found by review: with the disk full, `pytest benches --gate=BASE` said only that the
    report could not be written, never judged the run, and exited 0."""
    from lmgauge.judge.spread import single
    from lmgauge.runs import session_end

    base = journalled_recorder(tmp_path / "base.journal.jsonl").document("passed", 0, {})
    base["results"][0]["value"] = 0.1  # the new run's TTFT is 3x the base's
    recorder = journalled_recorder(tmp_path / "new.journal.jsonl")

    def disk_full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(session_end, "write_atomic", disk_full)
    monkeypatch.setattr(session_end, "write_text_tables", disk_full)
    finished = session_end.finish(recorder.journal, tmp_path / "new.json", 0, {},
                                  ("base.json", single(base)))  # fmt: skip
    assert finished.report is None and "No space left on device" in finished.failure
    assert finished.gate is not None and not finished.gate.passed
    assert "ttft_seconds" in finished.gate.message()


def test_a_line_cut_short_by_a_kill_is_dropped_but_a_broken_middle_is_named(tmp_path):
    path = tmp_path / "r.journal.jsonl"
    path.write_text('{"event": "start"}\n{"event": "resu')
    assert read_events(path) == [{"event": "start"}]
    path.write_text('{"event": "start"}\n\x00\x00\x00')  # a crashed machine's zero-filled tail
    assert read_events(path) == [{"event": "start"}]
    path.write_text('{"event": "start"}\nbroken\n{"event": "x"}\n')
    with pytest.raises(ValueError, match="line 2 is not a JSON event"):
        read_events(path)


@pytest.mark.parametrize("text", ["garbage\n", "garbage", '{"event": "start"}\n{"ev\n'])
def test_a_last_line_no_kill_could_leave_is_named_and_the_journal_kept(tmp_path, text):
    """Found by a new-user trial: a journal of one garbage line was taken for a line cut short
    by a kill, and `lmgauge recover` removed it, saying there was nothing to recover. A kill
    leaves a line that begins as an event and lacks its newline; nothing else is dropped."""
    path = tmp_path / "20261203T000000Z_run.journal.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match="is not a JSON event"):
        read_events(path)
    with pytest.raises(LmgaugeError, match="the journal is left as it is"):
        recover_folder(tmp_path)
    assert path.exists()


def test_a_journal_beside_an_empty_report_is_recovered_over_it(tmp_path):
    """Found by a new-user trial: the journal was deleted, as if its report had been written,
    and `lmgauge recover` said there was nothing to recover."""
    recorder = RunRecorder({"models": ["gpt2"]})
    recorder.journal = Journal(tmp_path / "20261203T000000Z_run.journal.jsonl")
    recorder.start({"python": "3"}, name="run")
    recorder.journal.close()
    report = tmp_path / "20261203T000000Z_run.json"
    report.write_text("")
    assert recover_folder(tmp_path) == [report]
    assert validate(json.loads(report.read_text()))["run"]["status"] == "killed"
    assert (tmp_path / "20261203T000000Z_run.json.broken").read_text() == "", "kept aside"


def test_a_journal_beside_a_report_this_lmgauge_cannot_read_leaves_both(tmp_path):
    """Found by review: a whole report of a newer schema (or an edited one) beside a journal
    was overwritten by the journal's report."""
    recorder = RunRecorder({"models": ["gpt2"]})
    recorder.journal = Journal(tmp_path / "20261203T000000Z_run.journal.jsonl")
    recorder.start({"python": "3"}, name="run")
    recorder.journal.close()
    report = tmp_path / "20261203T000000Z_run.json"
    newer = '{"format": "lmgauge-run-report", "schema_version": 99}'
    report.write_text(newer)
    with pytest.raises(LmgaugeError, match="sits beside its report, which this lmgauge does not "
                                           "read .*schema_version 99.*both are left"):
        recover_folder(tmp_path)
    assert report.read_text() == newer and recorder.journal.path.exists()
    other = RunRecorder({"models": ["gpt2"]})  # found by a trial: the journal was deleted
    other.start({"python": "3"}, name="other")
    write_atomic(other.document(environment={}, status="passed", exit_status=0, extra_run={}),
                 report)  # fmt: skip
    with pytest.raises(LmgaugeError, match="sits beside the report of another run"):
        recover_folder(tmp_path)
    assert recorder.journal.path.exists()
    text = recorder.journal.path.read_text()
    recorder.journal.path.write_text("[1]\n" + text)  # review: an AttributeError traceback
    with pytest.raises(LmgaugeError, match="left as (it is|they are)"):
        recover_folder(tmp_path)
    recorder.journal.path.write_text(text)
    report.write_text('{"format": "lmgauge-run-report", "x": 1e400}')  # JSON all the same
    with pytest.raises(LmgaugeError, match="too large for a float.*both are left"):
        recover_folder(tmp_path)
    assert "1e400" in report.read_text()


def test_one_journal_that_cannot_be_recovered_does_not_stop_the_others(tmp_path):
    """Found by review: the first journal that failed stopped recovery of the folder, and
    with it every bench session writing there; and a second broken report overwrote the
    first one's .broken copy."""
    from lmgauge.record.recovery import RecoveryError

    for name in ("20261203T000000Z_a", "20261203T000001Z_b", "20261203T000002Z_c"):
        recorder = RunRecorder({"models": ["gpt2"]})
        recorder.journal = Journal(tmp_path / f"{name}.journal.jsonl")
        recorder.start({"python": "3"}, name=name)
        recorder.journal.close()
        (tmp_path / f"{name}.json").write_text("{truncated")
    (tmp_path / "20261203T000000Z_a.journal.jsonl").write_text("not an event\n")
    (tmp_path / "20261203T000001Z_b.json.broken").write_text("older")
    with pytest.raises(RecoveryError, match="20261203T000000Z_a.journal.jsonl") as raised:
        recover_folder(tmp_path)
    assert [path.name for path in raised.value.made] == ["20261203T000001Z_b.json",
                                                         "20261203T000002Z_c.json"]
    assert (tmp_path / "20261203T000001Z_b.json.broken").read_text() == "older"
    assert (tmp_path / "20261203T000001Z_b.json.broken-2").read_text() == "{truncated"
    assert (tmp_path / "20261203T000000Z_a.json").read_text() == "{truncated", "left as it is"


def lines_of_a_result_whose_value_is(value) -> list[str]:
    """The journal lines of a model load and one result, the result's value replaced."""
    recorder = RunRecorder({"models": ["gpt2"]})
    events = []
    recorder.apply = events.append
    recorder.model_loaded("gpt2", {"name": "gpt2", "weights": "synthetic"})
    recorder.record("generate", "gpt2", "ttft_seconds", samples=[0.3, 0.31, 0.29], test="a")
    events[-1]["value"] = value
    return [json.dumps(event, default=str) for event in events]


def test_a_journal_lmgauge_did_not_write_is_one_sentence_and_kept(tmp_path):
    """Found by a new-user trial: each of these stopped `lmgauge recover`, and every bench
    session using the folder, with a traceback (ValueError, AttributeError, TypeError,
    KeyError)."""
    good = tmp_path / "good"
    journalled_recorder(good / "20261124T000000Z_t.journal.jsonl").journal._stream.close()
    start = (good / "20261124T000000Z_t.journal.jsonl").read_text().splitlines()[0]
    for lines, said in (
        (['{"event": "result"}'], "must begin with the session's start event"),
        ([start, '{"event": "bogus"}'], 'its event 2 ({"event": "bogus"}) is not one lmgauge'),
        ([start, '{"event": "result"}'], "its event 2"),
        ([start, '{"event": "outcome", "test": 3}'], "KeyError"),
        (['{"event": "start"}'], "its event 1"),
        ([start, *lines_of_a_result_whose_value_is("abc")], "is not of type 'number'"),
    ):  # fmt: skip
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        journal = folder / "20261124T000000Z_t.journal.jsonl"
        journal.write_text("\n".join(lines) + "\n")
        with pytest.raises(LmgaugeError, match="left as it is") as caught:
            recover_folder(folder)
        assert said in str(caught.value) and journal.exists()


def test_a_live_journal_is_never_recovered_and_an_abandoned_one_is(tmp_path):
    recorder = journalled_recorder(tmp_path / "20261124T000000Z_t.journal.jsonl")
    assert abandoned_journals(tmp_path) == [], "locked by its live session"
    assert recover_folder(tmp_path) == []
    recorder.journal._stream.close()
    (report,) = recover_folder(tmp_path)
    document = json.loads(report.read_text())
    assert document["run"]["status"] == "killed" and len(document["results"]) == 1
    assert not list(tmp_path.glob("*.jsonl")), "the journal is gone once its report exists"


def test_a_journal_is_locked_from_the_moment_it_has_its_name(tmp_path):
    """Created under a hidden name, locked, then linked in: recovery never sees it unlocked,
    and nothing but the journal is left in the folder."""
    from lmgauge.record.recovery import recover_journal

    path = tmp_path / "20261124T000000Z_t.journal.jsonl"
    journal = Journal(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert recover_journal(path) is None and path.exists(), "a live journal is never taken"
    with pytest.raises(FileExistsError):
        Journal(path)
    journal.close(remove=True)
    assert not path.exists()


def test_recovery_holds_the_lock_while_it_works(tmp_path):
    import fcntl

    from lmgauge.record.journal import locked_abandoned

    path = tmp_path / "20261124T000000Z_t.journal.jsonl"
    journalled_recorder(path).journal._stream.close()
    with locked_abandoned(path) as held:
        assert held
        descriptor = os.open(path, os.O_RDONLY)
        with pytest.raises(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(descriptor)
        assert recover_folder(tmp_path) == [], "a second recovery waits its turn"
    assert len(recover_folder(tmp_path)) == 1


def test_same_name_in_the_same_second_gets_a_new_file(tmp_path):
    from datetime import datetime, timezone

    started = datetime(2026, 11, 24, tzinfo=timezone.utc)
    first = unique_report_path(tmp_path, started, "x")
    first.write_text("{}")
    assert unique_report_path(tmp_path, started, "x").name == "20261124T000000Z_x-2.json"


def test_an_unwritable_folder_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LmgaugeError, match=r"cannot write run reports to .*--report-dir"):
        check_writable(blocker / "reports")


@pytest.mark.slow
def test_a_bench_run_killed_halfway_keeps_every_recorded_result(tmp_path, tiny_gpt2_dir):
    """SIGKILL in the middle of a real bench run; the next run in the folder recovers it."""
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", str(PROJECT / "benches"), "-m", "not slow",
               "--models", str(tiny_gpt2_dir), "--report-dir", str(reports),
               "--threads", "1", "-p", "no:cacheprovider", "-q"]  # fmt: skip
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    recorded = 0
    while time.monotonic() < deadline and recorded < 12:
        time.sleep(0.2)
        journals = list(reports.glob("*.journal.jsonl")) if reports.exists() else []
        if journals:
            lines = journals[0].read_text().splitlines()
            recorded = sum('"event": "result"' in line for line in lines)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert recorded >= 12, "the run recorded too little before the deadline"
    (journal,) = reports.glob("*.journal.jsonl")
    before_kill = sum('"event": "result"' in line for line in journal.read_text().splitlines())
    done = subprocess.run(
        [sys.executable, "-m", "lmgauge.cli.main", "recover", str(reports)],
        cwd=PROJECT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "recovered" in done.stdout, done.stderr
    (report,) = reports.glob("*.json")
    document = validate(json.loads(report.read_text()))
    assert document["run"]["status"] == "killed"
    assert len(document["results"]) >= before_kill >= 12
    assert document["environment"]["python"]


@pytest.mark.slow
def test_ctrl_c_in_a_bench_writes_the_report_with_what_teardown_recorded(tmp_path, tiny_gpt2_dir):
    """Found by review: after Ctrl-C pytest tears the session's fixtures down in its own
    session-finish hook, and the noise reading and model release they record hit a journal the
    report writer had already closed (an ExceptionGroup of "I/O operation on closed file")."""
    reports, log = tmp_path / "reports", tmp_path / "pytest.log"
    command = [sys.executable, "-m", "pytest", str(PROJECT / "benches" / "bench_generate.py"),
               "-m", "not slow", "--models", str(tiny_gpt2_dir), "--report-dir", str(reports),
               "--threads", "1", "--inject-slowdown", "9", "--prompt-tokens", "16",
               "--new-tokens", "224", "-p", "no:cacheprovider", "-q"]  # fmt: skip
    # 224 new tokens, each forward pass 10x its time: the bench runs for about 20 s after the
    # model is loaded (with 32 tokens, 4 s, and one CI run finished before Ctrl-C came)
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT)
        deadline, started = time.monotonic() + 240, False
        while time.monotonic() < deadline and not started:
            time.sleep(0.2)
            journals = list(reports.glob("*.journal.jsonl")) if reports.exists() else []
            started = bool(journals) and '"event": "model_loaded"' in journals[0].read_text()
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
    text = log.read_text()
    assert started, text[-2000:]
    assert "KeyboardInterrupt" in text and "closed file" not in text, text[-3000:]
    (report,) = reports.glob("*.json")
    document = validate(json.loads(report.read_text()))
    assert document["run"]["status"] == "interrupted"
    assert any("test_generate" in reading["test"] for reading in document["noise"]), \
        "the interrupted bench's noise reading is in the report"


def test_cli_write_failures_are_one_sentence(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lmgauge.cli.main", "recover", str(tmp_path / "missing")],
        cwd=PROJECT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
