"""SMTS CloudFill QGIS plugin.

Importing this package must stay cheap and free of QGIS and torch: the engine in ``core`` is
used without QGIS (command line, tests), and QGIS loads the plugin before torch may be installed.
"""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """QGIS entry point (desktop and qgis_process)."""
    from .plugin import SmtsCloudFillPlugin
    return SmtsCloudFillPlugin(iface)
