"""Psychograph: psychographic segmentation through Telegram quizzes."""

__version__ = "0.1.0"
