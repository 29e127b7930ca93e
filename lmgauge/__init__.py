"""lmgauge: a pytest benchmark suite for Hugging Face transformer models.

The subpackages follow the data flow, lowest layer first (each may import only those above it
in this list, enforced by import-linter, see pyproject.toml):

    errors, runtime  one-sentence errors; device, dtype and thread settings
    sources          models, data and inputs: registry, offline assets, cache, loading
    measure, model   timing, memory, rounds, calibration; parameter anatomy and roofline bounds
    quality          features, baselines, fine-tuning, perplexity, generated text, thresholds
    record           metric catalogue, journal, recorder, the versioned report
    store            the results database (SQLite or PostgreSQL): schema, writing, queries
    judge            significance, verdicts, drift, compare, gate, steps in a history
    render           tables, summary, plots, exports
    runs             the end of a session; A/B runs and gate-check in fresh processes
    cli, pytest_plugin   the `lmgauge` command; the pytest plugin and session fixtures
"""

__version__ = "0.1.0"
