"""Tiny untrained Hugging Face models saved to a directory, for the scanner's input checks and
plumbing tests (no zoo knowledge, no download): a random GPT-2 with a byte-level BPE tokenizer
trained here, with or without a chat template, and a tiny BertModel (encoder-only)."""

from __future__ import annotations

from pathlib import Path

TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}<|user|>\n{{ m['content'] }}<|end|>\n"
            "{% else %}<|assistant|>\n{{ m['content'] }}<|end|>\n{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")

_TEXT = ["What is two plus three?", "Hello, how are you?", "Translate cat into German.", "The sun is a star.",
         "Give me a tip for cooking.", "Was ist zwei plus drei?", "Hola, como estas?"] * 20


def tokenizer(chat: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"]
    tok.train_from_iterator(_TEXT, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|end|>",
                                   pad_token="<|endoftext|>", additional_special_tokens=specials[1:3])
    if chat:
        fast.chat_template = TEMPLATE
    return fast


def random_gpt2(path: Path, chat: bool = True, seed: int = 0) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tok = tokenizer(chat)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_bert(path: Path) -> Path:
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(path)
    return path
