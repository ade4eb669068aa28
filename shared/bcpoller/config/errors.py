"""Configuration problems, each naming the field (a dotted path) and what is wrong.

The API turns a ConfigError into a 400 whose ``errors`` list is ``problems``, so every
problem a body has is reported at once instead of one per round trip.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel


class FieldProblem(BaseModel):
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem


class ConfigError(ValueError):
    """One or more configuration problems; ``str(e)`` lists them all."""

    def __init__(self, problems: Iterable[FieldProblem] | str, field: str = "") -> None:
        if isinstance(problems, str):
            problems = [FieldProblem(field=field, problem=problems)]
        self.problems: list[FieldProblem] = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def prefixed(self, prefix: str) -> ConfigError:
        """The same problems, their fields placed under ``prefix`` (a dotted path)."""
        return ConfigError(
            FieldProblem(field=join_path(prefix, p.field), problem=p.problem) for p in self.problems
        )


def join_path(*parts: str) -> str:
    return ".".join(p for p in parts if p)
