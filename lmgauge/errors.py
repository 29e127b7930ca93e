"""Errors that reach a user as one sentence, never as a traceback."""


class LmgaugeError(Exception):
    """Base class: the message is a complete sentence saying what is wrong and what to do."""


class UnknownModelError(LmgaugeError):
    """A model name that is neither registered, a Hub id, nor an existing path."""


class AssetError(LmgaugeError):
    """An embedded asset that is missing, corrupt, or cannot be fetched."""


class ModelLoadError(LmgaugeError):
    """A model whose weights, config or tokenizer could not be loaded."""


class DatasetError(LmgaugeError):
    """A data set that cannot be read or lacks the expected columns."""


class ReportError(LmgaugeError):
    """A report file that is unreadable, broken, or of an unsupported schema version."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of a library's error message, at most `limit` characters: enough to name
    the cause in a one-sentence lmgauge error without its traceback."""
    return (str(error).strip().splitlines() or [""])[0][:limit]


class RuntimeMissing(LmgaugeError):
    """An optional runtime or quantization package is not installed (its message names the
    install command); the benches of that configuration skip."""


class NotApplicable(LmgaugeError):
    """A configuration that cannot apply to this model (llama.cpp on a model without a GGUF
    file); its benches skip."""
