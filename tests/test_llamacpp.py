"""The llama.cpp runtime on a tiny GGUF file, and what happens when it is not installed."""

from __future__ import annotations

import sys

import pytest

from lmgauge.errors import ModelLoadError, NotApplicable, RuntimeMissing
from lmgauge.sources import llamacpp
from lmgauge.sources.llamacpp import gguf_path, load_llamacpp, require_binding
from lmgauge.sources.models import resolve
from tests.conftest import PROJECT
from tests.test_plugin import run_benches

LLAMACPP_BENCH = str(PROJECT / "benches" / "bench_llamacpp.py")


def test_without_the_binding_the_sentence_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(RuntimeMissing, match=r"pip install -e \.\[llamacpp\]"):
        require_binding()


def test_a_model_without_a_gguf_file_is_not_for_llamacpp():
    with pytest.raises(NotApplicable, match="llama.cpp runs GGUF files, and model 'gpt2'"):
        gguf_path(resolve("gpt2"))


def test_a_gguf_files_weight_type_is_read_without_loading_it(tmp_path, tiny_llamacpp_gguf):
    import gguf

    from tests.tiny_models import tiny_llama_gguf

    assert llamacpp.gguf_file_type(tiny_llamacpp_gguf) is None, "the file does not say"
    q4 = tiny_llama_gguf(tmp_path / "q.gguf", file_type=gguf.LlamaFileType.MOSTLY_Q4_1)
    assert llamacpp.gguf_file_type(q4) == "Q4_1"
    f32 = tiny_llama_gguf(tmp_path / "f.gguf", file_type=gguf.LlamaFileType.ALL_F32)
    assert llamacpp.gguf_file_type(f32) == "F32", "as llama.cpp's own description names it"
    unnamed = tiny_llama_gguf(tmp_path / "u.gguf", file_type=1024 + 34)
    assert llamacpp.gguf_file_type(unnamed) == "file type 1058", "said, not a traceback"


def test_a_server_command_says_its_dtype_and_cpu_level():
    from lmgauge.serve.servers import served_setup

    levels = ["python", "-m", "lmgauge.sources.llamacpp_server", "haswell", "--model", "m.gguf"]
    assert served_setup("llamacpp", levels) == {"cpu_kernels": "haswell"}
    assert served_setup("llamacpp", ["python", "-m", "llama_cpp.server", "--model", "m.gguf"]) == {
        "cpu_kernels": "linked in"
    }
    transformers = ["transformers", "serve", "folder", "--dtype", "float32", "--port", "1"]
    assert served_setup("transformers", transformers) == {"dtype": "float32"}
    assert served_setup("endpoint", []) == {}, "an endpoint's setup is not lmgauge's to see"


def test_a_llamacpp_that_crashes_fails_its_subject_in_one_sentence(tiny_llamacpp_gguf,
                                                                   monkeypatch):  # fmt: skip
    """Found on an Intel Xeon VM: a native build ran an AMX instruction the VM does not allow
    and SIGILL killed the whole pytest run. llama.cpp runs in a child process first (here a
    build with its CPU backend linked in, as pip builds it)."""
    from lmgauge.sources import llamacpp_kernels

    pytest.importorskip("llama_cpp")
    monkeypatch.chdir(PROJECT)
    monkeypatch.setattr(llamacpp, "SMOKE_MODULE", "tests.crashing_child")
    monkeypatch.setattr(llamacpp_kernels, "cpu_variants", lambda folder=None: {})
    with pytest.raises(ModelLoadError) as caught:
        load_llamacpp(resolve(str(tiny_llamacpp_gguf)), threads=1)
    message = str(caught.value)
    assert "killed by SIGILL (illegal instruction" in message and "\n" not in message
    assert "rebuild llama.cpp with every CPU level" in message
    assert "GGML_CPU_ALL_VARIANTS" in message


def every_level_build(monkeypatch, levels: list[str], loaded: str | None = None) -> None:
    """Make lmgauge see a llama.cpp built with every CPU level, `levels` listed by this CPU
    best first, whose child process (tests/crashing_child.py) survives only on haswell."""
    from lmgauge.sources import llamacpp_kernels

    built = {name: f"libggml-cpu-{name}.so" for name in ("x64", "haswell", "icelake",
                                                         "sapphirerapids")}  # fmt: skip
    monkeypatch.setattr(llamacpp_kernels, "cpu_variants", lambda folder=None: built)
    monkeypatch.setattr(llamacpp_kernels, "ranked", lambda variants: levels)
    monkeypatch.setattr(llamacpp_kernels, "_loaded", loaded)
    monkeypatch.chdir(PROJECT)
    monkeypatch.setattr(llamacpp, "SMOKE_MODULE", "tests.crashing_child")


def test_a_build_with_every_cpu_level_runs_the_best_level_that_does_not_crash(monkeypatch):
    """CPUID ranks sapphirerapids (AMX) first on the Intel VM that traps AMX; it crashes in a
    child, and the next level listed runs."""
    every_level_build(monkeypatch, ["sapphirerapids", "icelake", "haswell", "x64"])
    assert llamacpp.surviving_kernels("model.gguf", 1, "tiny") == "haswell"


def test_when_every_cpu_level_crashes_each_is_named_with_its_signal(monkeypatch):
    every_level_build(monkeypatch, ["sapphirerapids", "icelake"])
    with pytest.raises(ModelLoadError) as caught:
        llamacpp.surviving_kernels("model.gguf", 1, "tiny")
    message = str(caught.value)
    assert message.startswith("every CPU level of llama.cpp that this CPU lists was killed when "
                              "a child process ran model 'tiny' (model.gguf), so it is not run "
                              "in this process: sapphirerapids by SIGILL (")  # fmt: skip
    assert "; icelake by SIGILL (" in message and "\n" not in message
    every_level_build(monkeypatch, [])
    with pytest.raises(ModelLoadError, match="this CPU lacks the instructions of every CPU level"):
        llamacpp.surviving_kernels("model.gguf", 1, "tiny")


def test_a_process_that_runs_one_cpu_level_tries_no_other(monkeypatch):
    """ggml keeps one CPU backend per process: once icelake is loaded, a file it crashes on
    fails, though haswell would run it."""
    every_level_build(monkeypatch, ["icelake", "haswell"], loaded="icelake")
    with pytest.raises(ModelLoadError, match=r"^llama.cpp's 'icelake' CPU kernels, which this "
                                              r"process runs already, were killed by SIGILL"):
        llamacpp.surviving_kernels("model.gguf", 1, "tiny")
    every_level_build(monkeypatch, ["icelake", "haswell"], loaded="haswell")
    assert llamacpp.surviving_kernels("model.gguf", 1, "tiny") == "haswell"


def test_cpu_levels_are_read_from_the_library_folder_and_one_process_loads_one(
    tmp_path, monkeypatch
):
    from lmgauge.sources import llamacpp_kernels

    for name in ("libggml-cpu-haswell.so", "libggml-cpu-x64.so", "libggml-base.so", "libggml.so"):
        (tmp_path / name).write_bytes(b"")
    assert list(llamacpp_kernels.cpu_variants(tmp_path)) == ["haswell", "x64"]
    assert llamacpp_kernels.cpu_variants(tmp_path / "missing") == {}
    monkeypatch.setattr(llamacpp_kernels, "_loaded", "haswell")
    llamacpp_kernels.load_variant("haswell", tmp_path)
    with pytest.raises(RuntimeError, match="runs llama.cpp's 'haswell' CPU kernels already"):
        llamacpp_kernels.load_variant("x64", tmp_path)
    monkeypatch.setattr(llamacpp_kernels, "_loaded", None)
    with pytest.raises(RuntimeError, match="no 'zen4' CPU kernels; its levels here: haswell, x64."):
        llamacpp_kernels.load_variant("zen4", tmp_path)


def test_a_failing_child_is_named_by_its_error_line_not_its_last_log_line():
    stderr = "Traceback ...\nValueError: the real cause\nllama_model_loader: done\n"
    assert llamacpp.error_line(stderr) == "ValueError: the real cause"
    assert llamacpp.error_line("") == "no output"
    assert llamacpp.error_line("x" * 400, limit=10) == "x" * 9 + "…"


def test_generation_is_timed_per_token_and_by_llamacpps_own_counters(tiny_llamacpp_gguf):
    pytest.importorskip("llama_cpp")
    from lmgauge.measure.llamacpp_timing import llamacpp_logits, timed_llamacpp_generate

    model = load_llamacpp(resolve(str(tiny_llamacpp_gguf)), threads=1)
    assert model.describe()["dtype"] == "F32 (guessed)", "the file does not say: llama.cpp guessed"
    assert model.load_seconds > 0
    prompt = model.tokenize("the theatre")
    assert 256 in prompt, "the merge 't h' makes token 256"
    timing, perf, tokens = timed_llamacpp_generate(model.llama, prompt, 6)
    assert (timing.prompt_tokens, timing.new_tokens, len(timing.step_s)) == (len(prompt), 6, 5)
    assert len(tokens) == 6 and perf.evals == 5 and perf.decode_step_s > 0
    again, _, same = timed_llamacpp_generate(model.llama, prompt, 6)
    assert same == tokens, "greedy from an empty cache is deterministic"
    (logits,) = llamacpp_logits(model.scorer(), [prompt])
    assert tuple(logits.shape) == (len(prompt), 258)
    assert int(logits[-1].argmax()) == tokens[0], "the scorer's last position picks the first token"


def hidden_binding(pytester) -> tuple[str, str]:
    """A plugin module that makes `import llama_cpp` fail in the pytest subprocess."""
    pytester.makepyfile(hide_llama_cpp="import sys\nsys.modules['llama_cpp'] = None\n")
    return "-p", "hide_llama_cpp"


def test_the_llamacpp_configuration_skips_in_one_sentence_when_not_installed(
    pytester, tiny_llamacpp_gguf, tiny_gpt2_dir
):
    models = f"{tiny_llamacpp_gguf},{tiny_gpt2_dir}"
    result, (report,) = run_benches(
        pytester, *hidden_binding(pytester), "-m", "not slow", "--models", models,
        "--configs", "llamacpp", "--rounds", "2", "--round-budget", "0", target=LLAMACPP_BENCH,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-2000:]
    skips = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "skipped"]
    assert skips and all("pip install -e .[llamacpp]" in message for message in skips)


def test_the_llamacpp_benches_run_on_a_gguf_file_and_skip_other_models(
    pytester, tiny_llamacpp_gguf, tiny_gpt2_dir
):
    pytest.importorskip("llama_cpp")
    models = f"{tiny_llamacpp_gguf},{tiny_gpt2_dir}"
    result, (report,) = run_benches(
        pytester, "-k", "generate or load", "--models", models, "--configs", "llamacpp",
        "--rounds", "2", "--round-budget", "0", "--prompt-tokens", "8", "--new-tokens", "4",
        str(PROJECT / "benches" / "bench_generate.py"), target=LLAMACPP_BENCH,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-2000:]
    subject = f"{tiny_llamacpp_gguf}@llamacpp"
    assert report["models"][subject]["config"]["runtime"] == "llamacpp"
    figures = {r["metric"]: r for r in report["results"] if r["model"] == str(tiny_llamacpp_gguf)}
    assert figures["decode_step_seconds"]["params"]["config"] == "llamacpp"
    assert {"ttft_seconds", "llamacpp_perf_ratio", "warm_load_seconds",
            "prefill_tokens_per_second"} <= set(figures)  # fmt: skip
    step = figures["decode_step_seconds"]
    assert len(step["probe_seconds"]) == 2 and step["stopped"], "timed as bench_generate times"
    skips = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "skipped"]
    assert any("llama.cpp runs GGUF files" in message for message in skips)


@pytest.mark.slow
def test_the_quality_benches_score_and_continue_in_llamacpp(pytester, tiny_llamacpp_gguf):
    """Perplexity, known answers and greedy outputs are bench_quality's, for every runtime that
    gives logits or text (lmgauge.runtimes): the tiny GGUF's figures come from llama.cpp."""
    pytest.importorskip("llama_cpp")
    result, (report,) = run_benches(
        pytester, "-k", "perplexity or known_answers or greedy_outputs", "--models",
        str(tiny_llamacpp_gguf), "--configs", "llamacpp",
        target=str(PROJECT / "benches" / "bench_quality.py"),
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-2000:]
    figures = {r["metric"]: r for r in report["results"]}
    assert figures["perplexity"]["bench"] == "quality"
    assert figures["perplexity"]["params"]["config"] == "llamacpp"
    assert figures["perplexity_tokens"]["value"] > 0
    assert {"known_answer_accuracy", "control_perplexity"} <= set(figures)


def test_the_every_level_build_is_made_once_and_a_failed_build_keeps_pips(
    tmp_path, monkeypatch, capsys
):
    import subprocess

    from lmgauge.sources import llamacpp_levels_wheel as levels

    calls = []
    monkeypatch.setenv("LMGAUGE_CACHE", str(tmp_path))
    monkeypatch.setattr(levels.metadata, "version", lambda name: "9.9.9")
    monkeypatch.setattr(levels, "cpu_variants", lambda: {"haswell": "libggml-cpu-haswell.so"})
    monkeypatch.setattr(levels.subprocess, "run", lambda command, **_: calls.append(command))
    assert levels.main() == 0 and calls == [], "a build with every level is left as it is"

    monkeypatch.setattr(levels, "cpu_variants", lambda: {})
    folder = levels.wheel_folder("9.9.9")
    assert folder == tmp_path / "wheels" / "llama-cpp-python-9.9.9-every-cpu-level"
    folder.mkdir(parents=True)
    wheel = folder / "llama_cpp_python-9.9.9-py3-none-linux_x86_64.whl"
    wheel.write_bytes(b"")
    assert levels.main() == 0
    assert [command[3:6] for command in calls] == [["install", "-q", "--no-deps"]], "cached"

    def failing(command, **_):
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(levels.subprocess, "run", failing)
    assert levels.main() == 0
    err = capsys.readouterr().err
    assert f"the wheel {wheel} could not be installed (pip install exited with status 1); it " \
           "is removed from the cache" in err  # fmt: skip
    assert not folder.exists(), "a broken cached wheel is not reused"

    folder.mkdir()
    (folder / "stray.txt").write_text("")
    folder.with_name(folder.name + ".partial").mkdir()
    assert levels.main() == 0
    err = capsys.readouterr().err
    assert "could not be built with every CPU level (pip wheel exited with status 1), so pip's " \
           "build for this machine's CPU stays installed; `python -m " \
           "lmgauge.sources.llamacpp_levels_wheel` tries again" in err  # fmt: skip
    assert not folder.exists() and not folder.with_name(folder.name + ".partial").exists()

    def building(command, **_):
        if command[3] == "wheel":
            built = tmp_path / "wheels" / command[-1].rsplit("/", 1)[-1]
            built.mkdir()
            (built / wheel.name).write_bytes(b"")

    folder.mkdir()
    monkeypatch.setattr(levels.subprocess, "run", building)
    assert levels.main() == 0 and (folder / wheel.name).exists(), "a folder without a wheel builds"
