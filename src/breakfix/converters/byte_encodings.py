"""Byte encodings: the prompt's UTF-8 bytes written in another alphabet (base32, hex, binary, URL).

Like base64, these hide the request's words from safety training that only ever saw plain text
(Wei et al. 2023, "Jailbroken: How Does LLM Safety Training Fail?" — mismatched generalisation).
Every member decodes, so a scorer can read an answer given in the same encoding.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

from ..core.registry import converter
from .base import Converter


class ByteCodec(Converter):
    """Family base: a member maps bytes to text (``encode_bytes``) and back (``decode_bytes``,
    raising ``ValueError`` on text that is not in its alphabet)."""

    reversible = True
    # Shortest text worth trying to decode: a two-letter answer is almost never an encoding.
    min_length: int = 2

    def encode_bytes(self, data: bytes) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode_bytes(self, text: str) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def convert(self, text: str) -> str:
        return self.encode_bytes(text.encode("utf-8"))

    def decode(self, text: str) -> str | None:
        s = text.strip()
        if len(s) < self.min_length:
            return None
        try:
            return self.decode_bytes(s).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


@converter("base32", tags=("AML.T0051", "encoding"))
class Base32(ByteCodec):
    """Encode the prompt as RFC 4648 base32 (upper-case, ``=`` padded). Decodes base32 answers."""

    min_length = 8

    def encode_bytes(self, data: bytes) -> str:
        return base64.b32encode(data).decode("ascii")

    def decode_bytes(self, text: str) -> bytes:
        s = "".join(text.split()).upper()
        s += "=" * (-len(s) % 8)  # models often drop the padding
        return base64.b32decode(s)


@converter("hex", tags=("AML.T0051", "encoding"))
class Hex(ByteCodec):
    """Encode the prompt as base16 / hexadecimal (RFC 4648). Decodes hex answers.

    Upper-case, as RFC 4648 §8; answers are read with or without spaces, in either case."""

    min_length = 4  # "42" or "be" in an answer is not hex

    def encode_bytes(self, data: bytes) -> str:
        return base64.b16encode(data).decode("ascii")

    def decode_bytes(self, text: str) -> bytes:
        s = re.sub(r"\s+", "", text)
        if s[:2].lower() == "0x":
            s = s[2:]
        return bytes.fromhex(s)


_BITS_RE = re.compile(r"^[01]{8}(?:\s+[01]{8})*$")


@converter("binary", tags=("AML.T0051", "encoding"))
class Binary(ByteCodec):
    """Write each UTF-8 byte of the prompt as 8 binary digits, bytes separated by spaces."""

    min_length = 8

    def encode_bytes(self, data: bytes) -> str:
        return " ".join(f"{b:08b}" for b in data)

    def decode_bytes(self, text: str) -> bytes:
        if not _BITS_RE.match(text):
            raise ValueError("not space-separated octets of bits")
        return bytes(int(tok, 2) for tok in text.split())


@converter("url", tags=("AML.T0051", "encoding"))
class UrlEncode(ByteCodec):
    """Percent-encode every byte of the prompt (``%68%6F%77``). Decodes URL-encoded answers.

    URL-encoding evasion of web filters, carried over to LLM input filters."""

    min_length = 3

    def encode_bytes(self, data: bytes) -> str:
        return "".join(f"%{b:02X}" for b in data)

    def decode_bytes(self, text: str) -> bytes:
        if "%" not in text:
            raise ValueError("no percent escapes")
        return urllib.parse.unquote_to_bytes(text)
