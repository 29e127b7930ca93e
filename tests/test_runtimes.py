"""Every runtime of lmgauge.runtimes behind the same calls, on tiny models: the calls agree
with the runtime's own ways of doing the same thing, and a call a runtime lacks is one
sentence."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lmgauge import runtimes
from lmgauge.errors import NotApplicable
from lmgauge.measure.llamacpp_timing import timed_llamacpp_generate
from lmgauge.quality.textgen import continue_texts
from lmgauge.runtimes import LoadSettings, load_subject
from lmgauge.runtimes.scoring import subject_perplexity
from lmgauge.sources.configs import LLAMACPP, ONNX_GENAI, SERVE, TRANSFORMERS, parse_config
from lmgauge.sources.models import resolve
from tests.conftest import PROJECT
from tests.tiny_models import VOCAB_SIZE

TEXTS = ["the film was good .", "a very dull plot and awful actors .", "fun"]


def test_the_table_says_which_runtime_offers_which_call():
    assert set(runtimes.RUNTIMES) == {TRANSFORMERS, LLAMACPP, ONNX_GENAI, SERVE}
    for offered in (runtimes.GENERATING, runtimes.SCORING, runtimes.CONTINUING):
        assert offered == (TRANSFORMERS, LLAMACPP, ONNX_GENAI)


@pytest.mark.parametrize("call", ["timed_generate", "logits", "greedy_texts", "token_ids"])
def test_a_call_the_runtime_lacks_is_one_sentence(call):
    served = SimpleNamespace(runtime=SERVE)
    arguments = {"timed_generate": (8, 4), "logits": ([[1, 2]],), "greedy_texts": (["a"], 2),
                 "token_ids": (["a"],)}[call]  # fmt: skip
    expected = f"the serve runtime gives no {runtimes.CALLS[call]} in lmgauge's process; "
    with pytest.raises(NotApplicable, match=expected + "runtimes that do: transformers, llamacpp"):
        getattr(runtimes, call)(served, *arguments)


def test_a_subject_of_a_runtime_lmgauge_does_not_have_is_one_sentence():
    from lmgauge.sources.configs import ConfigError

    with pytest.raises(ConfigError, match="names the runtime 'onnx', which lmgauge does not have"):
        runtimes.logits(SimpleNamespace(runtime="onnx"), [[1, 2]])


def test_transformers_batched_logits_match_one_text_at_a_time(tiny_gpt2_dir):
    loaded = load_subject(resolve(str(tiny_gpt2_dir)), parse_config("eager"), LoadSettings())
    ids = runtimes.token_ids(loaded, TEXTS)
    assert ids == [loaded.tokenizer(text)["input_ids"] for text in TEXTS]
    alone = list(runtimes.logits(loaded, ids))
    padded = list(runtimes.logits(loaded, ids, batch_size=3))
    assert [tuple(t.shape) for t in padded] == [(len(row), VOCAB_SIZE) for row in ids]
    for one, batched in zip(alone, padded, strict=True):
        assert torch.allclose(one, batched, atol=1e-4), "padding changed a real position's logits"
    with torch.inference_mode():
        own = loaded.model(input_ids=torch.tensor([ids[1]])).logits[0]
    assert torch.allclose(alone[1], own, atol=1e-5)
    assert runtimes.greedy_texts(loaded, TEXTS, 4) == continue_texts(loaded, TEXTS, 4)


def test_a_transformers_model_without_a_tokenizer_cannot_read_text(tiny_gpt2_dir):
    loaded = load_subject(resolve(str(tiny_gpt2_dir)), parse_config("default"), LoadSettings())
    loaded.tokenizer = None
    with pytest.raises(NotApplicable, match="has no tokenizer, so it cannot read or write text"):
        runtimes.greedy_texts(loaded, TEXTS, 4)


def test_llamacpp_scores_and_continues_as_its_token_loop_does(tiny_llamacpp_gguf):
    pytest.importorskip("llama_cpp")
    loaded = load_subject(resolve(str(tiny_llamacpp_gguf)), parse_config("llamacpp"),
                          LoadSettings())  # fmt: skip
    prompt = loaded.tokenize("the theatre")
    _, _, tokens = timed_llamacpp_generate(loaded.llama, prompt, 5)
    (logits,) = runtimes.logits(loaded, [prompt])
    assert tuple(logits.shape) == (len(prompt), 258)
    assert int(logits[-1].argmax()) == tokens[0], "the scorer and the token loop disagree"
    eos = loaded.llama.token_eos()
    expected = loaded.detokenize(tokens[: tokens.index(eos)] if eos in tokens else tokens)
    assert runtimes.greedy_texts(loaded, ["the theatre"], 5) == [expected]
    with pytest.raises(NotApplicable, match="longer than llama.cpp's scoring context of 512"):
        runtimes.logits(loaded, [[1] * 600])
    with pytest.raises(NotApplicable, match="or the file's trained context of 64"):
        runtimes.timed_generate(loaded, 60, 8)


def test_onnx_genai_scores_generates_and_continues_as_transformers_does(tmp_path, cache):
    """The builder's export of a tiny Llama folder (head size 16, the least its attention
    kernel takes), against the same folder in transformers: the same logits, the same greedy
    text, every decode step stamped; exported once."""
    pytest.importorskip("onnxruntime_genai")
    from lmgauge.sources import builders
    from tests.tiny_models import tiny_llama_gguf

    gguf_file = tiny_llama_gguf(tmp_path / "llama.gguf", hidden=32, ffn=64, heads=2)
    folder = builders.convert_gguf(gguf_file, tmp_path / "llama", about={"model": "t"})
    spec = resolve(str(folder))
    loaded = load_subject(spec, parse_config("onnx-genai"), LoadSettings())
    reference = load_subject(spec, parse_config("eager"), LoadSettings())
    assert loaded.export_seconds > 0 and loaded.describe()["dtype"] == "float32"
    facts = loaded.describe()["tokenizer"]
    assert facts == {**reference.describe()["tokenizer"], "load_seconds": facts["load_seconds"]}
    ids = runtimes.token_ids(loaded, TEXTS)
    assert ids == runtimes.token_ids(reference, TEXTS)
    for ours, theirs in zip(runtimes.logits(loaded, ids), runtimes.logits(reference, ids),
                            strict=True):  # fmt: skip
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert runtimes.greedy_texts(loaded, TEXTS, 4) == runtimes.greedy_texts(reference, TEXTS, 4)
    timing = runtimes.timed_generate(loaded, 8, 5).call()
    assert (timing.prompt_tokens, timing.new_tokens, len(timing.step_s)) == (8, 5, 4)
    assert timing.prefill_s > 0 and timing.end_to_end_s >= timing.prefill_s + sum(timing.step_s)
    with pytest.raises(NotApplicable, match="exceed the exported model's context of 64"):
        runtimes.timed_generate(loaded, 60, 8)
    again = load_subject(spec, parse_config("onnx-genai"), LoadSettings())
    assert again.export_seconds is None and again.folder == loaded.folder, "exported once"
    (loaded.folder / "model.onnx.data").write_bytes(b"damaged")
    repaired = load_subject(spec, parse_config("onnx-genai"), LoadSettings())
    assert repaired.export_seconds > 0, "an export that no longer matches its manifest is redone"
    (logits,) = runtimes.logits(repaired, ids[:1])
    torch.testing.assert_close(logits, next(runtimes.logits(reference, ids[:1])), rtol=1e-4,
                               atol=1e-4)  # fmt: skip


def test_onnx_genai_on_an_architecture_its_builder_lacks_is_not_applicable(
    tiny_gpt2_dir, cache, monkeypatch
):
    """Found out once per builder version by running the builder, then remembered."""
    pytest.importorskip("onnxruntime_genai")
    from lmgauge.sources import onnx_genai

    with pytest.raises(NotApplicable, match="does not export the GPT2LMHeadModel architecture"):
        load_subject(resolve(str(tiny_gpt2_dir)), parse_config("onnx-genai"), LoadSettings())
    monkeypatch.setattr(onnx_genai, "run_builder", lambda *a: pytest.fail("the builder ran again"))
    with pytest.raises(NotApplicable, match="does not export the GPT2LMHeadModel architecture"):
        load_subject(resolve(str(tiny_gpt2_dir)), parse_config("onnx-genai"), LoadSettings())
    with pytest.raises(NotApplicable, match="is of type lmgauge-scratch-gpt, which transformers"):
        load_subject(resolve("scratch-gpt2"), parse_config("onnx-genai"), LoadSettings())


def test_perplexity_is_the_same_figure_batched_or_one_text_at_a_time(tiny_gpt2_dir):
    loaded = load_subject(resolve(str(tiny_gpt2_dir)), parse_config("default"), LoadSettings())
    alone, batched = subject_perplexity(loaded, TEXTS, 1), subject_perplexity(loaded, TEXTS, 3)
    assert alone.tokens == batched.tokens == sum(len(row) - 1 for row in
                                                 runtimes.token_ids(loaded, TEXTS))  # fmt: skip
    assert alone.perplexity == pytest.approx(batched.perplexity, rel=1e-5)


def test_a_misspelt_runtime_marker_stops_the_run_in_one_sentence(
    pytester, monkeypatch, tiny_gpt2_dir
):
    pytester.makepyfile(
        bench_misspelt="""
        import pytest

        @pytest.mark.runtime("transformers", "llamacp")
        def test_x(loaded_model):
            pass
        """
    )
    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]')
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    result = pytester.runpytest_subprocess(
        "bench_misspelt.py", "-p", "no:cacheprovider", "-o", "python_files=bench_*.py",
        "--models", str(tiny_gpt2_dir), "--report-dir", "out",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(
        ["ERROR: *bench_misspelt.py::test_x*: its runtime marker names 'llamacp', which lmgauge "
         "does not have; runtimes: transformers, llamacpp, onnx-genai, serve."]
    )  # fmt: skip


def test_a_bench_for_another_kind_of_model_skips_saying_what_the_run_holds(
    pytester, monkeypatch, tiny_bert_dir
):
    """Found by a new-user pass: a causal-LM bench on an encoder skipped with pytest's "got
    empty parameter set for (model_name)"."""
    pytester.makepyfile(
        bench_causal="""
        import pytest

        @pytest.mark.causal_lm
        def test_x(loaded_model):
            pass
        """
    )
    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]')
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    result = pytester.runpytest_subprocess(
        "bench_causal.py", "-p", "no:cacheprovider", "-o", "python_files=bench_*.py", "-rs",
        "--models", str(tiny_bert_dir), "--report-dir", "out", "--no-store",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(
        [f"SKIPPED * this bench measures a causal LM in transformers, and no model of the run is "
         f"one ({tiny_bert_dir} is an encoder in transformers)"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("call", "arguments", "message"),
    [
        ("logits", ([[5, 6], []],), "id list 1 is empty; a text to score needs at least one"),
        ("logits", ([[5, VOCAB_SIZE]],), f"id list 0 holds {VOCAB_SIZE}, which is not a token id "
                                         f"of this model \\(0 to {VOCAB_SIZE - 1}\\)."),
        ("logits", ([[5, -1]],), "id list 0 holds -1, which is not a token id"),
        ("logits", ([[5, 6]], 0), "batch_size must be a whole number of at least 1, not 0."),
        ("greedy_texts", (["a", ""], 4), "prompt 1 is empty; a greedy continuation needs a"),
        ("greedy_texts", (["a"], 0), "new_tokens must be a whole number of at least 1, not 0."),
        ("timed_generate", (0, 4), "prompt_tokens must be a whole number of at least 1, not 0."),
        ("timed_generate", (8, 2.5), "new_tokens must be a whole number of at least 1, not 2.5."),
        ("logits", ([[5.7]],), "id list 0 holds 5.7, which is not a token id \\(ids are whole"),
        ("logits", ([[True]],), "id list 0 holds True, which is not a token id \\(a bool\\)."),
        ("logits", ([5, 6],), "id list 0 is 5 \\(int\\), not a list of token ids"),
        ("logits", ("hello",), "ids must be a list of id lists, one per text, not str."),
        ("greedy_texts", ("ab", 2), "prompts must be a list of texts, not str."),
        ("greedy_texts", ([None], 2), "prompt 0 is None \\(NoneType\\), not text."),
    ],
)  # fmt: skip
def test_input_no_runtime_can_take_is_one_sentence(tiny_gpt2_dir, call, arguments, message):
    loaded = load_subject(resolve(str(tiny_gpt2_dir)), parse_config("default"), LoadSettings())
    with pytest.raises(ValueError, match=message):
        getattr(runtimes, call)(loaded, *arguments)


def test_numpy_counts_and_ids_are_whole_numbers_and_a_text_past_the_context_is_not_applicable(
    tiny_gpt2_dir,
):
    import numpy as np

    loaded = load_subject(resolve(str(tiny_gpt2_dir)), parse_config("default"), LoadSettings())
    (one,) = runtimes.logits(loaded, [np.array([5, 6])], np.int64(1))
    assert tuple(one.shape) == (2, VOCAB_SIZE)
    assert list(runtimes.logits(loaded, [])) == [], "no texts, no logits"
    positions = loaded.model.config.max_position_embeddings
    with pytest.raises(NotApplicable, match=f"holds {positions} positions"):
        runtimes.logits(loaded, [[5] * (positions + 1)])
    with pytest.raises(NotApplicable, match=f"holds {positions} positions"):
        runtimes.greedy_texts(loaded, ["the film"], positions)


def test_llamacpp_refuses_an_id_outside_its_vocabulary(tiny_llamacpp_gguf):
    pytest.importorskip("llama_cpp")
    loaded = load_subject(resolve(str(tiny_llamacpp_gguf)), parse_config("llamacpp"),
                          LoadSettings())  # fmt: skip
    with pytest.raises(ValueError, match="id list 0 holds 258, which is not a token id"):
        runtimes.logits(loaded, [[1, 258]])
    with pytest.raises(NotApplicable, match="or the file's trained context of 64"):
        runtimes.greedy_texts(loaded, ["the theatre"], 60)
