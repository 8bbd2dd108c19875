"""Placeholder: KernelDensity is being written (issue 3)."""


class KernelDensity:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("KernelDensity is not written yet (issue 3).")
