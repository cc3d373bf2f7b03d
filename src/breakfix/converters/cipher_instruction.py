"""Cipher instruction: teach the target an encoding in the prompt, then talk to it in that encoding.

CipherChat (Yuan et al. 2024, "GPT-4 Is Too Smart To Be Safe: Stealthy Chat with LLMs via Cipher")
frames the model as an expert in a cipher, shows a few enciphered demonstrations, sends the request
enciphered and asks for the answer enciphered — so neither the request nor the answer is ever in
plain language. Any reversible converter can be the cipher; the answer is decoded with it.
Texts are in ``data/prompts.yaml`` (``cipher_instruction``).
"""

from __future__ import annotations

from typing import Any

from ..core.registry import converter, create, get
from .base import Converter, load_data


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


@converter("cipher-instruction", tags=("AML.T0051", "AML.T0054", "cipher", "cipherchat"))
class CipherInstruction(Converter):
    """Teach the target a cipher, send the request in it and ask for the answer in it (CipherChat).

    The instructions explain the cipher and show ``examples`` enciphered demonstrations.
    Decodes answers with the cipher.

    Args:
        cipher: name of a reversible converter (``caesar``, ``atbash``, ``morse``, ``base64``…).
        cipher_params: that converter's parameters (e.g. ``{shift: 3}``).
        examples: number of demonstrations (0–3, default 2).
    """

    reversible = True

    def __init__(self, cipher: str = "caesar", cipher_params: dict[str, Any] | None = None,
                 examples: int = 2) -> None:
        texts = load_data("prompts")["cipher_instruction"]
        if not isinstance(examples, int) or not 0 <= examples <= len(texts["examples"]):
            raise ValueError(f"cipher-instruction: 'examples' must be an integer from 0 to "
                             f"{len(texts['examples'])}, got {examples!r}")
        if cipher == "cipher-instruction":
            raise ValueError("cipher-instruction: 'cipher' cannot be cipher-instruction itself")
        # cipher_params may come back from a stored spec as a tuple of pairs (scorers' decoding cache).
        params = dict(cipher_params or {})
        inner = create("converter", cipher, **params)
        if not getattr(inner, "reversible", False):
            raise ValueError(f"cipher-instruction: converter {cipher!r} is not reversible; choose one that "
                             f"decodes (e.g. caesar, atbash, morse, base64)")
        self.cipher, self.cipher_params, self.examples, self.inner = cipher, params, examples, inner
        self.cipher_name = texts["names"].get(cipher) or cipher.replace("-", " ")
        info = get("converter", cipher)
        desc = texts["descriptions"].get(cipher) or info.summary or texts["default_description"]
        self.description = desc.format_map(_Blank(vars(inner)))

    def convert(self, text: str) -> str:
        t = load_data("prompts")["cipher_instruction"]
        fmt = {"cipher_name": self.cipher_name, "cipher_description": self.description}
        parts = [t["system"].format(**fmt)]
        if self.examples:
            parts.append(t["examples_header"].format(**fmt))
            for plain in t["examples"][: self.examples]:
                parts.append(t["example"].format(plain=plain, encoded=self.inner.convert(plain), **fmt))
        parts.append(t["request"].format(encoded=self.inner.convert(text), **fmt))
        return "\n\n".join(parts)

    def decode(self, text: str) -> str | None:
        return self.inner.decode(text)
