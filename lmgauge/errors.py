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


SIGNAL_CAUSES = {
    "SIGILL": "illegal instruction: native code built for CPU features this machine does not "
    "allow, such as a -march=native build on a host whose hypervisor hides AMX or AVX-512",
    "SIGSEGV": "segmentation fault: a crash inside native code",
    "SIGBUS": "bus error: a crash inside native code, or a memory-mapped file that changed",
    "SIGABRT": "abort: a failed assertion or an uncaught C++ exception inside native code",
    "SIGKILL": "killed: often the kernel's out-of-memory killer",
    "SIGFPE": "arithmetic fault inside native code",
}


def describe_signal(number: int) -> str:
    """"SIGILL (illegal instruction: ...)" for a process killed by signal `number` (a
    subprocess's negative return code, negated)."""
    import signal

    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    cause = SIGNAL_CAUSES.get(name)
    return f"{name} ({cause})" if cause else name


class RuntimeMissing(LmgaugeError):
    """An optional runtime or quantization package is not installed (its message names the
    install command); the benches of that configuration skip."""


class NotApplicable(LmgaugeError):
    """A configuration that cannot apply to this model (llama.cpp on a model without a GGUF
    file); its benches skip."""
