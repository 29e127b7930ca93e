"""A stand-in for vLLM in lmgauge's tests (tests/fake_vllm): only its OpenAI server module."""

__version__ = "0.0.1+fake"
