"""Unit tests run with the network disabled: anything that opens a socket fails."""

import pytest


@pytest.fixture(autouse=True)
def _no_network(socket_disabled: None) -> None:
    return None
