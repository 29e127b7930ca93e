"""Tiny random models and tokenizers saved as ordinary transformers folders, for fast tests."""

from __future__ import annotations

from pathlib import Path

WORDS = ["the", "a", "movie", "film", "is", "was", "good", "bad", "great", "awful", "plot",
         "actors", "and", "but", "not", "very", "fun", "dull", "."]


def save_tokenizer(folder: Path, bert_style: bool) -> None:
    """A word-level tokenizer over WORDS with the special tokens the model family expects."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] if bert_style else ["<pad>", "<unk>", "<eos>"]
    vocab = {token: index for index, token in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=specials[1]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if bert_style:
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]",
                                            unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]")
    else:
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                            unk_token="<unk>", eos_token="<eos>")
    tokenizer.save_pretrained(folder)


def tiny_gpt2(folder: Path, with_tokenizer: bool = True) -> Path:
    """A 2-layer GPT-2 with 32-wide embeddings; vocabulary large enough for the tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=2, eos_token_id=2)
    GPT2LMHeadModel(config).save_pretrained(folder)
    if with_tokenizer:
        save_tokenizer(folder, bert_style=False)
    return folder


def tiny_bert(folder: Path) -> Path:
    """A 2-layer BERT encoder with 32-wide hidden states."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    save_tokenizer(folder, bert_style=True)
    return folder
