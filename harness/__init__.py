"""harness: an LLM evaluation harness for model analysts."""

__version__ = "0.1.0"
