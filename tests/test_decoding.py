"""Greedy is greedy: a model folder's generation_config.json cannot change what lmgauge times
or prints (a repetition penalty and a no-repeat n-gram size, as real Hub folders ship)."""

import shutil

import torch
from transformers import AutoModelForCausalLM, GenerationConfig

from lmgauge.measure.generation import timed_generate
from lmgauge.quality.textgen import continue_texts
from tests.tiny_models import load_on_cpu

PENALTIES = {"repetition_penalty": 1.5, "no_repeat_ngram_size": 2}
NEW_TOKENS = 12


def penalised_folder(tiny_gpt2_dir, tmp_path):
    folder = tmp_path / "penalised"
    shutil.copytree(tiny_gpt2_dir, folder)
    GenerationConfig(**PENALTIES, eos_token_id=None).save_pretrained(folder)
    return folder


def hand_greedy(model, ids: torch.Tensor, steps: int) -> torch.Tensor:
    """argmax of the last position's logits, one token at a time, no cache."""
    with torch.inference_mode():
        for _ in range(steps):
            logits = model(input_ids=ids, use_cache=False).logits[:, -1, :]
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
    return ids


def test_a_folder_asking_for_penalties_still_generates_greedily(tiny_gpt2_dir, tmp_path):
    folder = penalised_folder(tiny_gpt2_dir, tmp_path)
    loaded = load_on_cpu(folder)
    assert loaded.generation_overridden == PENALTIES
    assert loaded.describe()["generation_overridden"] == PENALTIES
    ids = torch.tensor([[5, 6, 7, 5, 6, 7, 5, 6]])
    _, output = timed_generate(loaded.model, ids, torch.ones_like(ids), NEW_TOKENS, pad_token_id=0)
    assert output.tolist() == hand_greedy(loaded.model, ids, NEW_TOKENS).tolist()
    inheriting = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.inference_mode():
        penalised = inheriting.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                        do_sample=False, num_beams=1, max_new_tokens=NEW_TOKENS,
                                        min_new_tokens=NEW_TOKENS, pad_token_id=0)  # fmt: skip
    assert penalised.tolist() != output.tolist(), "the folder's settings do change generate"


def test_greedy_texts_ignore_the_folder_too(tiny_gpt2_dir, tmp_path):
    loaded = load_on_cpu(penalised_folder(tiny_gpt2_dir, tmp_path))
    plain = load_on_cpu(tiny_gpt2_dir)
    prompts = ["the the the the", "a b a b a b"]
    assert continue_texts(loaded, prompts, NEW_TOKENS) == continue_texts(plain, prompts, NEW_TOKENS)
