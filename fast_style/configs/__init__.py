"""The Hydra configs of every command, one group per concern (a Python package so that Hydra finds them in an installed fast_style)."""
