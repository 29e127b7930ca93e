"""The cold-load process: stray output, a failure and a hang are one sentence each."""

import json
import subprocess

import pytest

from lmgauge.errors import ModelLoadError
from lmgauge.measure import cold_load as coldload

RESULT = {"import_s": 1.0, "load_s": 2.0, "tokenizer_s": 0.0, "rss_before_bytes": 1,
          "rss_growth_bytes": 2, "peak_growth_bytes": 3, "resident_growth_bytes": 2,
          "peak_method": "vmhwm"}  # fmt: skip


def fake_run(stdout="", returncode=0, stderr="", hang=False):
    def run(command, **kwargs):
        if hang:
            raise subprocess.TimeoutExpired(command, kwargs["timeout"])
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)

    return run


def cold_load():
    return coldload.run_cold_load("m", "folder", None, "cpu", "float32", 1, timeout_s=5)


def test_stray_output_around_the_result_is_ignored(monkeypatch):
    noisy = f"a library warning\n{coldload.RESULT_MARK}{json.dumps(RESULT)}\ngoodbye\n"
    monkeypatch.setattr(subprocess, "run", fake_run(noisy))
    assert cold_load().load_s == 2.0


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (fake_run("just chatter\n"), "printed no valid result line (last line: 'just chatter')"),
        (fake_run(returncode=1, stderr="Traceback\nOSError: no file"), "failed: OSError: no file"),
        (fake_run(hang=True), "did not finish within 5 s"),
    ],
)
def test_failures_and_hangs_are_one_sentence(monkeypatch, run, message):
    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(ModelLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cold_load()
