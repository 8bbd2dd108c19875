"""Root conftest: nbval waits 5 s per output message by default, a known flake on a busy
two-core machine (../shared/TESTING.md); give each message a minute instead."""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
