"""breakfix: break, measure and fix language models."""
__version__ = "0.1.0"
