"""Fixtures shared by the whole suite live in plugins, one module per real part."""

pytest_plugins = (
    "tests.plugins.controlplane",
    "tests.plugins.emulator",
    "tests.plugins.operator",
    "tests.plugins.node",
    "tests.plugins.argo",
)
