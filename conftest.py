"""Root of the test tree: the shared fixtures live in :mod:`tests.fixtures`."""

pytest_plugins = ["tests.fixtures"]
