"""Errors the segmentation core raises."""


class SegmentationError(ValueError):
    """Input that cannot be segmented; the message says what to change."""
