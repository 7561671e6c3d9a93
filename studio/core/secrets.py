"""LLM provider credentials: read from environment variables first, else the OS keyring.

Secrets are never written to settings, workspace, run or trace files. On a headless
machine without a keyring (no Secret Service, no macOS Keychain, no Windows Credential
Locker) ``keyring_status()`` explains that and points to environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SERVICE = "tensor-studio"

#: provider id → environment variable litellm reads for it
PROVIDER_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}


class SecretsUnavailable(Exception):
    """No usable OS keyring; the message says how to provide the secret instead."""


@dataclass(frozen=True)
class KeyringStatus:
    available: bool
    backend: str
    explanation: str


def keyring_status() -> KeyringStatus:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception as exc:  # broken keyring install: report, don't crash
        return KeyringStatus(False, "none", f"The keyring library could not start ({exc}). {_env_hint()}")
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    usable = not isinstance(backend, fail.Keyring) and getattr(backend, "priority", 1) > 0
    if usable and type(backend).__name__ == "ChainerBackend":
        usable = bool(getattr(backend, "backends", []))
    if usable:
        return KeyringStatus(True, name, f"Keys are stored in the OS keyring ({name}).")
    return KeyringStatus(
        False,
        name,
        "No OS keyring is available on this machine (common on headless Linux without a "
        f"Secret Service such as GNOME Keyring or KWallet). {_env_hint()}",
    )


def _env_hint() -> str:
    return (
        "Set the provider's environment variable instead, for example "
        "OPENAI_API_KEY=… before starting tensor-studio; keys are never written to files."
    )


def env_var(provider: str) -> str:
    return PROVIDER_ENV.get(provider, f"{provider.upper()}_API_KEY")


def get_secret(provider: str) -> tuple[str | None, str]:
    """Return (key, where it came from): 'environment', 'keyring' or 'not set'."""
    value = os.environ.get(env_var(provider))
    if value:
        return value, "environment"
    status = keyring_status()
    if status.available:
        import keyring

        try:
            value = keyring.get_password(SERVICE, provider)
        except Exception:
            value = None
        if value:
            return value, "keyring"
    return None, "not set"


def set_secret(provider: str, value: str) -> None:
    status = keyring_status()
    if not status.available:
        raise SecretsUnavailable(status.explanation)
    import keyring

    if value:
        keyring.set_password(SERVICE, provider, value)
    else:
        try:
            keyring.delete_password(SERVICE, provider)
        except keyring.errors.PasswordDeleteError:
            pass
