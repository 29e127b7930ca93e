"""`python -m lmgauge.sources.llamacpp_smoke GGUF THREADS CONTEXT SCORER_CONTEXT PROMPT_TOKENS
[CPU_LEVEL]`:
llama.cpp's code paths in a child process, so that a crash in native code (an illegal
instruction, a segfault) kills the child, not the benchmark run. It opens the generator's and
the scorer's contexts as lmgauge.sources.llamacpp does, evaluates a prompt of PROMPT_TOKENS in
one batch in each, then samples a few greedy tokens, on the CPU level CPU_LEVEL when llama.cpp
was built with every level (lmgauge.sources.llamacpp_kernels). Imports nothing but llama_cpp
and that module."""

from __future__ import annotations

import sys

PROMPT = b"The movie was a quiet, patient film about a family that learns to listen. "


def main(path: str, threads: int, context: int, scorer_context: int, prompt_tokens: int,
         variant: str | None = None) -> None:  # fmt: skip
    import llama_cpp

    if variant:
        from lmgauge.sources.llamacpp_kernels import load_variant

        load_variant(variant)
    for size, logits_all in ((context, False), (scorer_context, True)):
        llama = llama_cpp.Llama(model_path=path, n_ctx=size, n_batch=size, n_threads=threads,
                                n_threads_batch=threads, logits_all=logits_all,
                                verbose=False)  # fmt: skip
        unit = llama.tokenize(PROMPT, add_bos=False, special=False)
        tokens = (unit * (prompt_tokens // max(1, len(unit)) + 1))[: min(prompt_tokens, size - 8)]
        llama.eval(tokens)
        for _, token in zip(range(4), llama.generate(tokens, temp=0.0, reset=True), strict=False):
            if token == llama.token_eos():
                break
        llama.close()


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:6]), *sys.argv[6:7])
