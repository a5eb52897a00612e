"""bd2music: turn a comic page into a soundtrack."""

__version__ = "0.1.0"
