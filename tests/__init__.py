"""Psychograph's tests, a package so collection never clashes with an installed ``tests``."""
