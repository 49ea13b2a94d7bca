"""Datasets of sketch/color pairs, sketch extraction and hint simulation."""
