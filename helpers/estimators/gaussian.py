"""Placeholder: GaussianMLE is being written (issue 3)."""


class GaussianMLE:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("GaussianMLE is not written yet (issue 3).")
