"""Typed consumers of user items, one per contract version (tests/e2e/test_item_contracts.py)."""
