"""lmgauge: a pytest benchmark suite for Hugging Face transformer models."""

__version__ = "0.1.0"
