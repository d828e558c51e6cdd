"""Deciding what to suggest: rules, prompt templates, post-processing, the typed-ahead cache."""
