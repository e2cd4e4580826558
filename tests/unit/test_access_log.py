"""The access log never shows an access token."""

from __future__ import annotations

from yarl import URL

from api.access_log import redacted


def test_access_token_is_filtered_and_the_rest_kept() -> None:
    assert redacted(URL("/api/v1/accounts/1?access_token=1~secret&per_page=5")) == (
        "/api/v1/accounts/1?access_token=%5BFILTERED%5D&per_page=5"
    )
    assert redacted(URL("/api/v1/accounts/1?page=2")) == "/api/v1/accounts/1?page=2"
