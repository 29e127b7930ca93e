"""Tiny random models and tokenizers saved as ordinary transformers folders, for fast tests."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "is",
    "was",
    "good",
    "bad",
    "great",
    "awful",
    "plot",
    "actors",
    "and",
    "but",
    "not",
    "very",
    "fun",
    "dull",
    ".",
]


VOCAB_SIZE = 64


def save_tokenizer(folder: Path, bert_style: bool) -> None:
    """A word-level tokenizer over WORDS with the special tokens the model family expects,
    filled up with words w0, w1, ... so that every one of the VOCAB_SIZE ids decodes to text."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] if bert_style else ["<pad>", "<unk>", "<eos>"]
    fillers = [f"w{index}" for index in range(VOCAB_SIZE - len(specials) - len(WORDS))]
    vocab = {token: index for index, token in enumerate(specials + WORDS + fillers)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=specials[1]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if bert_style:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
        )
    else:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>"
        )
    tokenizer.save_pretrained(folder)


def tiny_gpt2(folder: Path, with_tokenizer: bool = True) -> Path:
    """A 2-layer GPT-2 with 32-wide embeddings; vocabulary large enough for the tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=VOCAB_SIZE,
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=2,
        eos_token_id=2,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    if with_tokenizer:
        save_tokenizer(folder, bert_style=False)
    return folder


def tiny_bert(folder: Path) -> Path:
    """A 2-layer BERT encoder with 32-wide hidden states."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(folder)
    save_tokenizer(folder, bert_style=True)
    return folder


def tiny_llama_gguf(
    path: Path, hidden: int = 16, ffn: int = 32, heads: int = 2, merges: tuple[str, ...] = (),
    file_type: int | None = None,
) -> Path:
    """A 1-layer Llama in GGUF (float32 tensors) with a byte-level BPE vocabulary of 257 tokens;
    `general.file_type` is written only when `file_type` is given.

    Parameters: embedding and untied output 2 x 257 x 16, one block (2 norms of 16, four 16x16
    attention projections, three 16x32 MLP matrices) and a final norm: 10,832 in all.
    """
    import gguf
    import numpy as np
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    tokens = [*bytes_to_unicode().values(), "<|endoftext|>"]
    tokens[-1:-1] = ["".join(merge.split()) for merge in merges]
    vocab = len(tokens)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (vocab - 1) + [3])
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_merges(list(merges))
    writer.add_bos_token_id(vocab - 1)
    writer.add_eos_token_id(vocab - 1)
    if file_type is not None:
        writer.add_file_type(file_type)
    random = np.random.default_rng(0)
    shapes = {
        "token_embd.weight": (vocab, hidden),
        "output.weight": (vocab, hidden),
        "blk.0.ffn_gate.weight": (ffn, hidden),
        "blk.0.ffn_up.weight": (ffn, hidden),
        "blk.0.ffn_down.weight": (hidden, ffn),
    }
    shapes.update(
        {f"blk.0.attn_{name}.weight": (hidden, hidden) for name in ("q", "k", "v", "output")}
    )
    for name, shape in shapes.items():
        writer.add_tensor(name, (random.standard_normal(shape) * 0.02).astype(np.float32))
    for name in ("blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight"):
        writer.add_tensor(name, np.ones(hidden, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def hub_cache_entry(cache: Path, repo_id: str, model_folder: Path) -> Path:
    """Lay `model_folder` out in a Hugging Face cache at `cache` as `repo_id`'s main revision,
    as a download would; returns the snapshot folder."""
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(model_folder, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def load_on_cpu(path: Path):
    """A tiny model folder or GGUF file loaded by lmgauge, on the CPU in float32."""
    from lmgauge import compute
    from lmgauge.sources import loading, models

    return loading.load(
        models.resolve(str(path)), compute.resolve_device("cpu"), compute.resolve_dtype("float32")
    )
