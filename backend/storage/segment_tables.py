"""Tables of segmentation runs, segments and assignments."""
