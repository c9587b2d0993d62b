"""The plugin object as QGIS loads it: classFactory, initProcessing (qgis_process), initGui, unload."""
from __future__ import annotations

from qgis.core import QgsApplication


def test_init_gui_registers_provider_and_toolbar_and_unload_removes_them(qgis_iface, qgis_processing):
    import smts_cloudfill_plugin
    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("smts_cloudfill")
    if existing is not None:
        registry.removeProvider(existing)
    plugin = smts_cloudfill_plugin.classFactory(qgis_iface)
    plugin.initGui()
    provider = registry.providerById("smts_cloudfill")
    assert provider is not None and provider.name() == "SMTS CloudFill"
    assert sorted(a.id() for a in provider.algorithms()) == ["smts_cloudfill:prepare",
                                                             "smts_cloudfill:reconstruct",
                                                             "smts_cloudfill:train"]
    assert plugin.toolbar is not None and len(plugin.actions) == 3
    plugin.initProcessing()  # qgis_process may call it again: still one provider
    assert [p.id() for p in registry.providers()].count("smts_cloudfill") == 1
    plugin.unload()
    assert registry.providerById("smts_cloudfill") is None


def test_qgis_process_path_needs_no_gui():
    """qgis_process calls classFactory(None) and initProcessing() only."""
    import smts_cloudfill_plugin
    plugin = smts_cloudfill_plugin.classFactory(None)
    plugin.initProcessing()
    assert QgsApplication.processingRegistry().providerById("smts_cloudfill") is not None
    plugin.unload()


def test_toolbar_tooltips_survive_the_shortcut_manager(qgis_iface, qgis_processing):
    """Issue 11, item 14: QgsShortcutsManager strips "(...)" from a registered action's tooltip."""
    from qgis.gui import QgsGui
    import smts_cloudfill_plugin
    plugin = smts_cloudfill_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        for action in plugin.actions:
            before = action.toolTip()
            QgsGui.shortcutsManager().registerAction(action, "Ctrl+Alt+F12")
            assert before in action.toolTip(), (before, action.toolTip())
            QgsGui.shortcutsManager().unregisterAction(action)
        assert "left of the divider" in plugin.actions[1].toolTip()
    finally:
        plugin.unload()
