"""Placeholder: GaussianMixture is being written (issue 3)."""


class GaussianMixture:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("GaussianMixture is not written yet (issue 3).")
