"""What the tests share: fixtures (registered in ``tests/conftest.py``), seeders and scripts."""
