"""Tests for the segmentation core."""
