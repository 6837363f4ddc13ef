"""Test helpers for refedit (tiny offline models)."""
