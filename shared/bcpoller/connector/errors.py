"""Errors the connector raises. None of them ever carries a secret."""

from __future__ import annotations


class StoreError(Exception):
    """The store answered with an error (or could not be reached) after any retries.

    ``status`` is the HTTP status when there was one; ``message`` is BigCommerce's own
    message (its ``title`` / ``error`` field), never the request's credentials.
    """

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path

    def __str__(self) -> str:
        where = f" on {self.path}" if self.path else ""
        code = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.message}{code}{where}"


class AuthenticationError(StoreError):
    """401/403: the credentials were refused. The poller records this on the instance and
    stops polling it until its credentials change, so it is never retried here."""


class RateLimited(StoreError):
    """The store kept answering 429 after the governor waited as told."""


class DeadlineExceeded(StoreError):
    """Waiting (backoff, rate-limit reset) would pass the poll's deadline: stop here and let
    the next tick continue from the last checkpoint."""


class CredentialsError(ValueError):
    """The instance configuration lacks or garbles what is needed to reach the store.

    ``problems`` is a list of (field, problem) pairs, the API's error shape.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in problems))
