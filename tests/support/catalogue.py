"""The message catalogue of spec §10 (plus this service's documented bounds): shared/error_catalogue.py."""

from __future__ import annotations

from shared.error_catalogue import classify


def is_catalogue_message(message: str) -> bool:
    return classify(message) is not None
