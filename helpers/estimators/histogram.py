"""Placeholder: Histogram is being written (issue 3)."""


class Histogram:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("Histogram is not written yet (issue 3).")
