"""OAuth 1.0a credential sets: the one piece of the suite's model the reference server shares."""

from __future__ import annotations

from dataclasses import dataclass, field

CREDENTIAL_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
CREDENTIAL_LEVELS = ("read", "write", "admin")  # the [credentials.LEVEL] tables a target config may have


@dataclass(frozen=True)
class Credentials:
    """One OAuth 1.0a credential set; ``repr`` never shows the secrets."""

    level: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str
    access_token_secret: str = field(repr=False)
    # Where each secret came from ("env:NAME" or "file"), so reproductions can point at it.
    secret_sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def secrets(self) -> list[str]:
        return [s for s in (self.consumer_secret, self.access_token_secret) if s]

    def as_table(self) -> dict[str, str]:
        """The four values as a ``[credentials.LEVEL]`` table of the target config."""
        return {key: getattr(self, key) for key in CREDENTIAL_KEYS}
