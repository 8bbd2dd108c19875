"""Shared test set-up."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
