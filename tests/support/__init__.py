"""What the tests share beyond fixtures (tests/conftest.py holds the fixtures only)."""
