"""Tests of quiz."""
