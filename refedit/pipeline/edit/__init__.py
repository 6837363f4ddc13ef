"""Editors: change only what the mask covers."""
