"""Fuzzing of the runtime's model and input checks (hypothesis). ``python -m tests.fuzz --help``."""
