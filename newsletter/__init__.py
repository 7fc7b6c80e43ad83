"""Regional daily email editions: assemble, render once, dispatch exactly once."""

__version__ = "0.1.0"
