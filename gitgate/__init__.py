"""gitgate: a gate between AI coding agents and GitHub."""

__version__ = "0.1.0"
