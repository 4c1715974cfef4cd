"""The Prometheus text exposition format (version 0.0.4), read without a dependency: the
soak needs a few gauges, and a client of another version of prometheus_client must not
change what it reads."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class Metrics:
    samples: list[Sample] = field(default_factory=list)

    def value(self, name: str) -> float | None:
        """The sum over every label set of `name`, or None when the server has no such series."""
        found = [s.value for s in self.samples if s.name == name]
        return math.fsum(found) if found else None

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def parse(text: str) -> Metrics:
    metrics = Metrics()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            metrics.samples.append(_sample(line))
        except ParseError as exc:
            raise ParseError(f"line {number}: {exc}: {raw!r}") from None
    return metrics


def _sample(line: str) -> Sample:
    match = _NAME.match(line)
    if match is None:
        raise ParseError("no metric name")
    name, rest = match.group(), line[match.end() :]
    labels: tuple[tuple[str, str], ...] = ()
    if rest.startswith("{"):
        labels, rest = _labels(rest[1:])
    parts = rest.split()
    if not parts or len(parts) > 2:
        raise ParseError("expected a value and at most a timestamp")
    return Sample(name, labels, _float(parts[0]))


def _labels(text: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """The label pairs up to the closing brace, and what follows it."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if text.startswith("}", i):
            return tuple(pairs), text[i + 1 :]
        match = _LABEL_NAME.match(text, i)
        if match is None or not text.startswith('="', match.end()):
            raise ParseError("bad label")
        i = match.end() + 2
        value: list[str] = []
        while True:
            if i >= len(text):
                raise ParseError("unterminated label value")
            char = text[i]
            if char == "\\" and i + 1 < len(text):
                value.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
                i += 2
            elif char == '"':
                i += 1
                break
            else:
                value.append(char)
                i += 1
        pairs.append((match.group(), "".join(value)))
        while i < len(text) and text[i] in " \t":
            i += 1
        if text.startswith(",", i):
            i += 1
        elif not text.startswith("}", i):
            raise ParseError("expected , or } after a label")


def _float(text: str) -> float:
    try:
        return float(text)  # also +Inf, -Inf and NaN, as the format spells them
    except ValueError:
        raise ParseError(f"bad value {text!r}") from None
