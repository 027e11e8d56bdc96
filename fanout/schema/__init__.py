"""``fanout schema check``: an entity contract's changes, checked for compatibility in CI."""
