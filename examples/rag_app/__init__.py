"""A small RAG + tool-calling demo application for indirect prompt-injection tests (see README.md)."""
