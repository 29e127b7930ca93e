"""`python -m lmgauge.sources.llamacpp_smoke GGUF THREADS`: llama.cpp's code paths in a child
process, so that a crash in native code (an illegal instruction, a segfault) kills the child,
not the benchmark run. It opens the generator's and the scorer's contexts as lmgauge does and
runs a prompt through each, then a few greedy tokens. Imports nothing but llama_cpp."""

from __future__ import annotations

import sys

PROMPT = b"The movie was"
SMOKE_CONTEXT_TOKENS = 128


def main(path: str, threads: int) -> None:
    import llama_cpp

    for logits_all in (False, True):
        llama = llama_cpp.Llama(model_path=path, n_ctx=SMOKE_CONTEXT_TOKENS, n_batch=64,
                                n_threads=threads, n_threads_batch=threads,
                                logits_all=logits_all, verbose=False)  # fmt: skip
        tokens = llama.tokenize(PROMPT, add_bos=False, special=False)
        llama.eval(tokens)
        for _, token in zip(range(4), llama.generate(tokens, temp=0.0, reset=True), strict=False):
            if token == llama.token_eos():
                break
        llama.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
