"""Prompt templates shipped with refedit (read with ``importlib.resources``)."""
