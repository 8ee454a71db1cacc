"""Typed, validated configuration of a dlpipe model family."""
