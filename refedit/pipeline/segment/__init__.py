"""Segmenters: find the referred object(s) and return their mask."""
