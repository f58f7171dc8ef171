"""Tests of followups."""
