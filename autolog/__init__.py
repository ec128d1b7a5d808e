"""Automatic spans for LLM clients and agent frameworks."""

from __future__ import annotations
