"""A model behind an OpenAI-compatible server as a runtime (lmgauge.serve.subject): started on
127.0.0.1 by --servers, or reached at --endpoint. It is timed under load by bench_serve, so it
has no in-process calls here."""

from __future__ import annotations

from lmgauge.runtimes.interface import LoadSettings, Runtime
from lmgauge.sources.configs import RunConfig
from lmgauge.sources.models import ModelSpec


def load(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """The model behind its server, started and serving (or the --endpoint, reached)."""
    from lmgauge.serve.subject import serve_subject

    return serve_subject(spec, config, settings.threads, settings.server_log_prefix,
                         settings.endpoint)  # fmt: skip


RUNTIME = Runtime(load)
