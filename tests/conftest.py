"""Registers the shared fixtures of ``tests/helpers`` for the whole suite.

pytest accepts ``pytest_plugins`` only in the root conftest; a folder's own fixtures live in
its conftest.
"""

pytest_plugins = [
    "tests.helpers.databases",
    "tests.helpers.sandbox",
]
