"""Data wing: download, parse each format into prepared arrays, draw the splits.

May import: the shared modules and numpy (Pillow and scipy for their formats),
numpy only inside the functions that use arrays: downloading and listing a
format's files run in Snakemake's own process. Never torch, nor another wing.
"""
