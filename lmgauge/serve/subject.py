"""A model behind a server, as a bench subject: the server started (or reached), the model id it
serves, the model's own tokenizer, and what the report says of it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmgauge.errors import ModelLoadError, NotApplicable
from lmgauge.serve.load import accepted_fields
from lmgauge.serve.served_folder import served_folder
from lmgauge.serve.servers import (
    RunningServer,
    ServerError,
    endpoint,
    served_model_ids,
    served_setup,
    start_server,
)
from lmgauge.sources import loading
from lmgauge.sources.configs import ENDPOINT, SERVE, RunConfig
from lmgauge.sources.llamacpp import gguf_file_type, gguf_path
from lmgauge.sources.models import CAUSAL_LM, ModelSpec


@dataclass
class ServedModel:
    """`server` serves the model as `model_id`; `tokenizer` is the model's transformers
    tokenizer (the figures count tokens with it and check the server's counts against it)."""

    spec: ModelSpec
    config: RunConfig
    server: RunningServer
    model_id: str
    tokenizer: Any
    threads: int
    exact_fields: tuple = ()
    """The request fields (lmgauge.serve.load.EXACT_LENGTH) that this server accepts."""
    neutral_fields: tuple = ()
    """The repetition-penalty fields (lmgauge.serve.load.NEUTRAL) that this server accepts."""
    generation_overridden: dict = field(default_factory=dict)
    """What the model folder's generation_config.json asked for that the served copy of the
    folder leaves out (lmgauge.serve.served_folder)."""
    task: str = CAUSAL_LM
    runtime: str = SERVE
    named_like_model: bool = True
    """True for a server lmgauge started on the model's own files; for an --endpoint, false when
    the server's one model id does not name the model of --models (an endpoint serving another
    model than the tokenizer's would miscount tokens: served_usage_agreement_share shows it)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def request_fields(self) -> tuple:
        """The fields beyond OpenAI's that every request sends (lmgauge.serve.load)."""
        return (*self.exact_fields, *self.neutral_fields)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's own tokenizer."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def output_tokens(self, request) -> int:
        """A served answer's length in tokens: the server's `usage` where it gave one (checked
        against count_tokens by the bench), else the larger of its streamed text chunks and the
        model's own tokenizer's count of the text. Both can undercount: a chunk may carry
        several tokens, and byte tokens that decode to one character re-tokenize as fewer."""
        if request.usage_tokens is not None:
            return request.usage_tokens
        return max(len(request.chunks), self.count_tokens(request.text))

    def describe(self) -> dict:
        return {
            **self.spec.describe(),
            "task": self.task,
            "architecture": f"served by {self.server.kind}",
            "description": f"{self.spec.name} behind the {self.server.kind} server "
            f"{self.server.version} at {self.server.url}",
            "device": "server",
            **self.precision(),
            "served": {
                **self.server.describe(),
                "model_id": self.model_id,
                "exact_length_fields": list(self.exact_fields),
                "neutral_fields": list(self.neutral_fields),
                "generation_overridden": self.generation_overridden,
                "model_id_names_the_model": self.named_like_model,
            },
        }

    def precision(self) -> dict:
        """`dtype` the server runs the model in (a GGUF file's own weight type for llama.cpp,
        the server's --dtype otherwise) and llama.cpp's `cpu_kernels`; neither for an
        --endpoint, whose setup lmgauge cannot see."""
        setup = served_setup(self.server.kind, self.server.argv)
        if self.server.kind == "llamacpp":
            setup["dtype"] = gguf_file_type(gguf_path(self.spec))
        return setup

    def close(self) -> None:
        self.server.stop()


def serve_subject(spec: ModelSpec, config: RunConfig, threads: int, log_prefix: Path,
                  endpoint_url: str | None = None) -> ServedModel:  # fmt: skip
    """Start `config.server` on the model's files (or reach --endpoint) and wait until it
    serves, its output in `<log_prefix>.<subject>.server.log` (the run's report stem, so that
    no run overwrites another's log); ModelLoadError in one sentence when the server cannot
    serve it (the server is stopped then)."""
    files = gguf_path(spec) if config.server == "llamacpp" else None
    overridden = {}
    tokenizer = loading.reference_tokenizer(spec)
    if tokenizer is None:
        raise NotApplicable(f"model '{spec.name}' has no tokenizer to count served tokens with "
                            "(synthetic weights), so it is not served.")  # fmt: skip
    try:
        if config.server == ENDPOINT:
            server = endpoint(endpoint_url or "")
        else:
            if files is None:
                files, overridden = served_folder(loading.prepare(spec)[0].resolve())
            safe = re.sub(r"[^\w.@-]+", "_", f"{spec.name}@{config.name}").strip("_")
            log = log_prefix.with_name(f"{log_prefix.name}.{safe}.server.log")
            server = start_server(config.server, files, threads, log)
    except ServerError as error:
        raise ModelLoadError(str(error)) from None
    try:
        if config.server == "transformers":
            model_id = str(files)
        else:
            ids = served_model_ids(server)
            if not ids:
                raise ServerError(f"the {server.kind} server at {server.url} lists no model.")
            named = [served for served in ids if named_like(served, spec.name)]
            if not named and len(ids) > 1:
                raise ServerError(f"it serves {', '.join(ids)}, none of them named like "
                                  f"'{spec.name}'")  # fmt: skip
            model_id = (named or ids)[0]
        exact, neutral = accepted_fields(server.url, model_id)
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        server.stop()
        raise ModelLoadError(f"the {server.kind} server did not serve model '{spec.name}': "
                             f"{type(error).__name__}: {error}") from None  # fmt: skip
    named = config.server != ENDPOINT or named_like(model_id, spec.name)
    return ServedModel(spec, config, server, model_id, tokenizer, threads, exact, neutral,
                       overridden, named_like_model=named)  # fmt: skip


def named_like(served_id: str, model: str) -> bool:
    """Whether a served model id and a model name name each other (one contains the other)."""
    return model in served_id or served_id in model
