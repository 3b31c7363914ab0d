"""Keep secrets out of checkpoints, logs and API responses (contract item 8)."""

from __future__ import annotations

from typing import Any

REDACTED = ""


def redact_secrets(message_json: Any) -> Any:
    """A copy of a dumped message with every ``Secret.value.data`` emptied."""
    if isinstance(message_json, list):
        return [redact_secrets(item) for item in message_json]
    if not isinstance(message_json, dict):
        return message_json
    redacted = {key: redact_secrets(value) for key, value in message_json.items()}
    secret = redacted.get("secret")
    if isinstance(secret, dict) and isinstance(secret.get("value"), dict):
        secret["value"] = {"data": REDACTED}
    return redacted
