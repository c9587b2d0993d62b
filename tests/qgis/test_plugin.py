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
    assert sorted(a.id() for a in provider.algorithms()) == ["smts_cloudfill:parcel_series",
                                                             "smts_cloudfill:prepare",
                                                             "smts_cloudfill:reconstruct",
                                                             "smts_cloudfill:train"]
    assert plugin.toolbar is not None and len(plugin.actions) == 7
    plugin.actions[5].trigger()   # the parcel profile dock, removed again by unload
    assert plugin.profile_dock is not None and plugin.profile_dock.pick.isChecked()
    plugin.initProcessing()  # qgis_process may call it again: still one provider
    assert [p.id() for p in registry.providers()].count("smts_cloudfill") == 1
    plugin.unload()
    assert registry.providerById("smts_cloudfill") is None and plugin.profile_dock is None


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
        assert "left of the divider" in plugin.actions[3].toolTip()
    finally:
        plugin.unload()


def test_the_algorithms_load_without_torch(tmp_path):
    """Where PyTorch is missing the provider still loads (and offers to install it): the
    algorithms' shared defaults (devices among them) come from torch-free core modules."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    script = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from qgis.core import QgsApplication\n"
        "app = QgsApplication([], False)\n"
        "app.initQgis()\n"
        "from smts_cloudfill_plugin.algorithms.provider import SmtsProvider\n"
        "from smts_cloudfill_plugin.algorithms.reconstruct_msi import ReconstructMsiAlgorithm\n"
        "alg = ReconstructMsiAlgorithm()\n"
        "alg.initAlgorithm()\n"
        "print(alg.parameterDefinition('DEVICE').options(), 'torch' in sys.modules)\n")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "HOME": str(tmp_path),
           "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", script], cwd=str(root), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "['Auto', 'CPU', 'CUDA'] False" in done.stdout
