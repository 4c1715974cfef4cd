"""Scraping /metrics over real HTTP and reading its samples."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 10.0


@dataclass(frozen=True)
class Scrape:
    status: int
    content_type: str
    text: str

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        return [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value (0 when absent: a counter not touched yet)."""
        return sum(
            value
            for found, found_labels, value in self.samples()
            if found == name and all(found_labels.get(k) == v for k, v in labels.items())
        )

    def label_names(self) -> set[str]:
        return {label for _, labels, _ in self.samples() for label in labels}


async def scrape(base_url: str, path: str = "/metrics", token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as client:
        response = await client.get(path, headers=headers)
    return Scrape(response.status_code, response.headers.get("content-type", ""), response.text)
