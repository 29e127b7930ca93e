"""Every runtime a subject runs in, in one table, and the calls the benches make on a subject
whichever runtime it runs in.

A subject is a model (ModelSpec) in a configuration (RunConfig); `config.runtime` names its
runtime. RUNTIMES maps each runtime to its Runtime (lmgauge.runtimes.interface): how it loads a
subject with the configuration applied, and the calls it offers on the loaded subject, each
None where it has none: timed greedy generation, token ids, logits, greedy text. Every loaded
subject has `runtime` (its key here), `spec`, `name`, `task` and `describe()` (its entry in the
report's `models` section), and may have `close()` (a server stops). The bench fixtures call
`load_subject`, and so can plain Python:

    from lmgauge.runtimes import LoadSettings, load_subject, logits, token_ids
    from lmgauge.sources.configs import parse_config
    from lmgauge.sources.models import resolve

    loaded = load_subject(resolve("smollm2-135m"), parse_config("int8"), LoadSettings())
    ids = token_ids(loaded, ["A quiet, moving film."])
    first = next(logits(loaded, ids))        # float32, (tokens, vocabulary)

(`threads` reaches llama.cpp, ONNX Runtime GenAI and servers; torch's own thread count is the
caller's to set, as the benches set it from --threads.)

Adding a runtime (OpenVINO, say): one module here with its loaded-subject class (or one from
lmgauge.sources) and its calls, ending in `RUNTIME = Runtime(load, ...)`; one line in RUNTIMES;
its name in lmgauge.sources.configs (a runtime constant and a preset that names it). Each call
it offers puts it into the benches that use that call (the runtime marker of bench_generate's
test_generate is GENERATING, of perplexity and fidelity SCORING, of known answers and greedy
outputs CONTINUING); benches marked `runtime("<name>")` hold what only it has.
tests/test_runtimes.py holds each runtime's calls to the runtime's own way of doing the same
(transformers on a tiny GPT-2, llama.cpp on a tiny GGUF file, ONNX Runtime GenAI on a tiny
Llama folder against transformers). onnx_genai.py, the latest added, shows the whole path:
lmgauge.sources.onnx_genai exports and loads, lmgauge.measure.onnx_genai_timing stamps its
token loop, its subject carries the transformers tokenizer (so its token ids are
transformers' own), and benches/bench_onnx_genai.py holds its export, load and memory.
scoring.py computes quality figures of a subject in any runtime from these calls
(perplexity).
"""

from __future__ import annotations

from lmgauge.errors import NotApplicable
from lmgauge.runtimes import llamacpp, onnx_genai, served, transformers
from lmgauge.runtimes.interface import (
    LoadSettings,
    Runtime,
    TimedGenerate,
    check_counts,
    check_prompts,
)
from lmgauge.sources.configs import (
    LLAMACPP,
    ONNX_GENAI,
    SERVE,
    TRANSFORMERS,
    ConfigError,
    RunConfig,
)
from lmgauge.sources.models import ModelSpec

__all__ = ["LoadSettings", "Runtime", "TimedGenerate", "RUNTIMES", "GENERATING", "SCORING",
           "CONTINUING", "load_subject", "timed_generate", "token_ids", "logits",
           "greedy_texts"]  # fmt: skip

RUNTIMES: dict[str, Runtime] = {
    TRANSFORMERS: transformers.RUNTIME,
    LLAMACPP: llamacpp.RUNTIME,
    ONNX_GENAI: onnx_genai.RUNTIME,
    SERVE: served.RUNTIME,
}


def offering(call: str) -> tuple[str, ...]:
    """The runtimes that offer `call` (a field of Runtime)."""
    return tuple(name for name, runtime in RUNTIMES.items() if getattr(runtime, call))


GENERATING = offering("timed_generate")
"""The runtimes bench_generate times."""
SCORING = offering("logits")
"""The runtimes whose perplexity and fidelity are measured."""
CONTINUING = offering("greedy_texts")
"""The runtimes whose greedy text is judged (known answers, the course prompts)."""


CALLS = {"timed_generate": "timed generation", "token_ids": "token ids", "logits": "logits",
         "greedy_texts": "greedy text"}  # fmt: skip
"""What each call of a Runtime gives, as its one-sentence refusal names it."""


def offered(loaded, call: str):
    """`loaded`'s runtime's `call`; NotApplicable in one sentence when it has none, ConfigError
    when `loaded` names a runtime lmgauge does not have."""
    runtime = getattr(loaded, "runtime", None)
    if runtime not in RUNTIMES:
        raise ConfigError(f"the subject names the runtime {runtime!r}, which lmgauge does not "
                          f"have; runtimes: {', '.join(RUNTIMES)}.")  # fmt: skip
    found = getattr(RUNTIMES[runtime], call)
    if found is None:
        raise NotApplicable(f"the {loaded.runtime} runtime gives no {CALLS[call]} in lmgauge's "
                            f"process; runtimes that do: {', '.join(offering(call))}.")  # fmt: skip
    return found


def timed_generate(loaded, prompt_tokens: int, new_tokens: int) -> TimedGenerate:
    """The timed greedy generation of one shape by `loaded` (Runtime.timed_generate); ValueError
    for a count of tokens under 1."""
    check_counts(prompt_tokens=prompt_tokens, new_tokens=new_tokens)
    return offered(loaded, "timed_generate")(loaded, prompt_tokens, new_tokens)


def token_ids(loaded, texts: list[str]) -> list[list[int]]:
    """Each text's ids as the model's transformers tokenizer makes them (Runtime.token_ids)."""
    return offered(loaded, "token_ids")(loaded, texts)


def logits(loaded, ids: list[list[int]], batch_size: int = 1):
    """An iterator of float32 CPU logits (tokens x vocab), one per id list (Runtime.logits);
    ValueError for ids that are not a list of non-empty id lists of whole numbers within the
    model's vocabulary, or a batch_size under 1; NotApplicable for a text longer than the
    model's context."""
    check_counts(batch_size=batch_size)
    return offered(loaded, "logits")(loaded, ids, batch_size)


def greedy_texts(loaded, prompts: list[str], new_tokens: int) -> list[str]:
    """Each prompt's greedy continuation as text (Runtime.greedy_texts); ValueError for prompts
    that are not a list of non-empty texts or a count of tokens under 1, NotApplicable when a
    prompt and new_tokens do not fit the model's context."""
    check_counts(new_tokens=new_tokens)
    check_prompts(prompts)
    return offered(loaded, "greedy_texts")(loaded, prompts, new_tokens)


def load_subject(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """`spec` loaded in `config`'s runtime with the configuration applied. RuntimeMissing when
    the runtime is not installed, NotApplicable when it cannot run this model, ModelLoadError
    when loading fails, ConfigError for a runtime not in RUNTIMES: each one sentence."""
    runtime = RUNTIMES.get(config.runtime)
    if runtime is None:
        raise ConfigError(
            f"configuration '{config.name}' names the runtime '{config.runtime}', which lmgauge "
            f"does not have; runtimes: {', '.join(RUNTIMES)}."
        )
    return runtime.load(spec, config, settings)
