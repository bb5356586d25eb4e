"""One module per CLI command; each defines `command`, a click command of 10 to 30 lines."""
