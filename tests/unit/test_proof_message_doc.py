"""The worked example of the handset's signed message in docs/api.md matches the code, so a
client written from the guide signs what the platform verifies."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trunkdrop.access.tokens import (
    PROOF_CONTEXT,
    PROXIMITY_CONTEXT,
    TRUNK_UNLOCK,
    b64u,
    proof_message,
    signature_valid,
)

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _section() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("### The signed message")
    end = text.find("\n## ", start)
    return text[start:] if end < 0 else text[start:end]


def _example() -> dict[str, str]:
    """The `text` block of the section as label → value (continuation lines joined)."""
    block = re.search(r"```text\n(.*?)```", _section(), re.DOTALL)
    assert block is not None, "docs/api.md lost its worked example"
    fields: dict[str, str] = {}
    label = ""
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        if line.startswith(" "):
            fields[label] += " " + line.strip()
            continue
        label, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        fields[label] = value
    return fields


def test_the_guides_worked_example_is_what_the_code_signs_and_verifies() -> None:
    """Key, message bytes and signature in docs/api.md are those the code derives from them."""
    ex = _example()
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ex["private key seed (hex)"]))
    public = b64u(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    assert public == ex["public key (base64url)"]
    assert ex["action"] == TRUNK_UNLOCK
    message = proof_message(nonce=ex["nonce"], action=ex["action"], attempt_id=ex["attempt_id"])
    assert message == bytes.fromhex(ex["message (hex)"].replace(" ", ""))
    signature = key.sign(message)
    assert b64u(signature) == ex["signature (base64url)"]
    assert signature.hex() == ex["signature (hex)"].replace(" ", "")
    assert signature_valid(public_key=public, message=message, signature=b64u(signature))


def test_the_guide_names_the_contexts_and_the_message_length_the_code_uses() -> None:
    """The context strings and the stated byte count in docs/api.md are the code's."""
    section = _section()
    assert f"`{PROOF_CONTEXT.decode()}` ({len(PROOF_CONTEXT)} bytes)" in section
    assert f"`{PROXIMITY_CONTEXT.decode()}`" in section
    ex = _example()
    message = proof_message(nonce=ex["nonce"], action=ex["action"], attempt_id=ex["attempt_id"])
    assert f"The message is {len(message)} bytes" in section
