"""Cold loads: a model loaded in a fresh Python process, timed and measured there.

A fresh process has no torch allocator pools, no imported model code and no warmed kernels,
so its load time and memory growth are what a user's first load costs. The operating
system's page cache is not flushed (that needs root and stops the machine's other work): the
weight files are usually in it after the first run, which is said in the report.

Run as
`python -m lmgauge.measure.cold_load MODEL FOLDER [GGUF_FILE] --device D --dtype T --threads N
--config C` (the configuration's dtype, attention and quantization are applied; it is not compiled):
prints one line `RESULT_MARK` + a JSON object (a ColdLoad); whatever else the libraries print
is ignored. The parent gives up after `TIMEOUT_S`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lmgauge.errors import ModelLoadError
from lmgauge.sources.configs import DEFAULT

RESULT_MARK = "lmgauge-coldload-result: "
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ColdLoad:
    """One load in a fresh process. Seconds and bytes.

    import_s: importing torch and transformers. load_s: from_pretrained plus the move to the
    device. tokenizer_s: loading the tokenizer (0 without one). rss_growth_bytes: resident
    memory after the load minus before it (model, tokenizer and what loading left behind).
    peak_growth_bytes: the highest resident memory during the load minus the level before it.
    resident_growth_bytes: resident memory once every weight has been read (weights loaded
    lazily from memory-mapped files become resident only when first touched) minus the level
    before the load: what the loaded model occupies in use.
    """

    import_s: float
    load_s: float
    tokenizer_s: float
    rss_before_bytes: int
    rss_growth_bytes: int
    peak_growth_bytes: int
    resident_growth_bytes: int
    peak_method: str


def run_cold_load(
    model: str,
    folder: Path,
    gguf_file: str | None,
    device: str,
    dtype: str,
    threads: int,
    timeout_s: float = TIMEOUT_S,
    config: str = DEFAULT,
) -> ColdLoad:
    """Start a fresh interpreter that loads `model` once, and return what it measured;
    ModelLoadError in one sentence when it fails, hangs past `timeout_s` or prints no result."""
    command = [
        sys.executable,
        "-m",
        "lmgauge.measure.cold_load",
        model,
        str(folder),
        gguf_file or "",
        "--device",
        device,
        "--dtype",
        dtype,
        "--threads",
        str(threads),
        "--config",
        config,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ModelLoadError(
            f"the cold-load process for {model} did not finish within {timeout_s:g} s."
        ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelLoadError(f"the cold-load process for {model} failed: {last}")
    return parse_result(model, done.stdout)


def parse_result(model: str, stdout: str) -> ColdLoad:
    """The ColdLoad of the last result line in a cold-load process's output."""
    marked = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    try:
        return ColdLoad(**json.loads(marked[-1].removeprefix(RESULT_MARK)))
    except (IndexError, ValueError, TypeError):
        last = (stdout.strip().splitlines() or ["nothing"])[-1][:200]
        raise ModelLoadError(
            f"the cold-load process for {model} printed no valid result line (last line: {last!r})."
        ) from None


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    import torch  # noqa: F401 - timed: part of what a cold start costs
    import transformers  # noqa: F401

    import_s = time.perf_counter() - started
    from lmgauge import compute
    from lmgauge.measure.memory import current_rss, track_memory
    from lmgauge.sources import loading, models
    from lmgauge.sources.configs import parse_config
    from lmgauge.sources.transforms import quantize

    parser = argparse.ArgumentParser(prog="python -m lmgauge.measure.cold_load")
    parser.add_argument("model")
    parser.add_argument("folder", type=Path)
    parser.add_argument("gguf_file")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default=DEFAULT)
    arguments = parser.parse_args(argv)
    compute.set_threads(arguments.threads)
    device = compute.resolve_device(arguments.device)
    spec = models.resolve(arguments.model)
    config = parse_config(arguments.config)
    with track_memory(device) as tracker:
        loaded = loading.load_prepared(
            spec,
            arguments.folder,
            arguments.gguf_file or None,
            device,
            compute.resolve_dtype(arguments.dtype),
            config,
        )
        if config.quantization:
            loaded.model = quantize(loaded.model, config.quantization)
    reading = tracker.reading
    with torch.inference_mode():
        for tensor in [*loaded.model.parameters(), *loaded.model.buffers()]:
            if type(tensor) in (torch.Tensor, torch.nn.Parameter):  # quantized ones are fresh
                tensor.sum()
    print(
        RESULT_MARK
        + json.dumps(
            asdict(
                ColdLoad(
                    import_s=import_s,
                    load_s=loaded.load_seconds,
                    tokenizer_s=loaded.tokenizer_seconds,
                    rss_before_bytes=reading.rss_before_bytes,
                    rss_growth_bytes=reading.rss_after_bytes - reading.rss_before_bytes,
                    peak_growth_bytes=reading.peak_growth_bytes,
                    resident_growth_bytes=current_rss() - reading.rss_before_bytes,
                    peak_method=reading.method,
                )
            )
        )
    )


if __name__ == "__main__":
    main()
