"""Fixtures for the emulator's rule tests: one moto server for the session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from fanout.connection import Connection
from fanout.local.server import MotoEndpoint


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """One moto server for the session; tests use uniquely named resources."""
    with MotoEndpoint() as server:
        yield server.url


@pytest.fixture
def clients(endpoint: str) -> Connection:
    """boto3 clients bound to the moto server."""
    return Connection(endpoint_url=endpoint, region="us-east-1")


@pytest.fixture
def unique() -> str:
    """A short unique suffix for resource names."""
    return uuid.uuid4().hex[:10]
