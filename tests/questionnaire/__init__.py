"""Tests of questionnaire."""
