"""DC-09 encryption: AES-128/192/256 in CBC mode with an all-zero IV.

The encrypted part of a frame is everything after the ``[`` up to the <CR>:
``<pad>|<data>][<extended>]..._<timestamp>``. The pad is 1-16 random
characters, none of them ``|``, ``[`` or ``]``, so that the plaintext is a
multiple of 16 bytes (DC-09 fixes the IV at zero; the random pad is what makes
two encryptions of the same message differ). The ciphertext is sent as
upper-case hex.
"""

from __future__ import annotations

import secrets
import string

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from broker.protocols.dc09.errors import Dc09ConfigError

KEY_SIZES = (16, 24, 32)
_ZERO_IV = bytes(16)
_PAD_ALPHABET = string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@^_{}~"


def parse_key(text: str, encoding: str = "hex") -> bytes:
    """Turn a configured key into bytes.

    ``hex``: 32, 48 or 64 hex digits (AES-128/192/256), the usual way a
    receiving centre hands out a key. ``ascii``: the 16, 24 or 32 characters
    themselves are the key bytes (what several panels and pysiaalarm do).
    """
    if encoding == "hex":
        try:
            key = bytes.fromhex(text)
        except ValueError as exc:
            raise Dc09ConfigError("the DC-09 key must be hex digits") from exc
    elif encoding == "ascii":
        if not text.isascii():
            raise Dc09ConfigError("an ascii DC-09 key must be ASCII characters")
        key = text.encode("ascii")
    else:
        raise Dc09ConfigError(f"unknown key encoding {encoding!r} (hex or ascii)")
    if len(key) not in KEY_SIZES:
        raise Dc09ConfigError(
            f"a DC-09 key is 16, 24 or 32 bytes (AES-128/192/256); this one is {len(key)}"
        )
    return key


def make_pad(length: int) -> str:
    """Random pad characters (never ``|``, ``[`` or ``]``)."""
    return "".join(secrets.choice(_PAD_ALPHABET) for _ in range(length))


def pad_length(plain_length: int) -> int:
    """How many pad characters bring ``plain_length`` to a multiple of 16 (1 to 16)."""
    return 16 - plain_length % 16


def encrypt(plaintext: str, key: bytes) -> str:
    """Encrypt an already padded ASCII plaintext; return upper-case hex."""
    data = plaintext.encode("ascii")
    if len(data) % 16:
        raise ValueError("DC-09 plaintext must be padded to a multiple of 16 bytes")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).encryptor()
    return (encryptor.update(data) + encryptor.finalize()).hex().upper()


def decrypt(ciphertext: bytes, key: bytes) -> bytes:
    """Decrypt raw ciphertext (a multiple of 16 bytes); the caller checks the result."""
    if not ciphertext or len(ciphertext) % 16:
        raise ValueError("DC-09 ciphertext must be a non-empty multiple of 16 bytes")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()
