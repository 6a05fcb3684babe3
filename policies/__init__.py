"""redundo's CrossGuard policies: the rules live in `rules`; only `__main__` builds the pack."""
