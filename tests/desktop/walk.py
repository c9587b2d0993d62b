"""Drives the real QGIS desktop the way a user clicks, for tests/qgis/test_desktop.py.

Run by ``qgis --code walk.py`` (under Xvfb). The scenario, its parameters and the status file
come from the environment:

- ``SMTS_WALK_SCENARIO``: ``toolbar`` (the plugin's toolbar button, Run), ``toolbar_close``
  (toolbar, Run, close the dialog with the window's X mid-run), ``toolbox`` (the Processing
  toolbox's way: ``ProcessingPlugin.executeAlgorithm``), ``history`` (Processing History's
  re-run: ``processing.execAlgorithmDialog`` with the logged parameters) and ``history_close``
  (history re-run closed mid-run);
- ``SMTS_WALK_ALGORITHM``: the algorithm id (default ``smts_cloudfill:reconstruct``);
- ``SMTS_WALK_PARAMS``: the dialog's parameters as JSON;
- ``SMTS_WALK_STATUS``: a JSON file this script writes when it is done: the steps reached, the
  layers of the project, and the run's outcome. A QGIS that crashed writes nothing.

Python's garbage collector is run at every step: a dialog that only Python's collector keeps
alive (or that it frees) shows at once instead of at random.
"""
from __future__ import annotations

import gc
import json
import os
import time
import traceback

from qgis.core import QgsApplication, QgsProject
from qgis.gui import QgsProcessingAlgorithmDialogBase
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication
from qgis.utils import iface, plugins

SCENARIO = os.environ.get("SMTS_WALK_SCENARIO", "toolbar")
ALGORITHM = os.environ.get("SMTS_WALK_ALGORITHM", "smts_cloudfill:reconstruct")
PARAMS = json.loads(os.environ.get("SMTS_WALK_PARAMS", "{}"))
STATUS = os.environ.get("SMTS_WALK_STATUS", "walk_status.json")
TIMEOUT_S = float(os.environ.get("SMTS_WALK_TIMEOUT", "240"))

status: dict = {"scenario": SCENARIO, "steps": []}


def step(name: str) -> None:
    status["steps"].append(name)
    print(f"walk: {name}", flush=True)


def finish() -> None:
    """Write the status, then leave QGIS without its save-project prompt."""
    status["layers"] = sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())
    status["layer_sources"] = sorted(layer.source() for layer in
                                     QgsProject.instance().mapLayers().values())
    status["tasks_left"] = QgsApplication.taskManager().countActiveTasks()
    with open(STATUS, "w") as f:
        json.dump(status, f, indent=1)
    step("status written")
    QgsProject.instance().setDirty(False)
    os._exit(0)


def algorithm_dialogs() -> list:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QgsProcessingAlgorithmDialogBase) and w.isVisible()
            and w.algorithm() is not None and w.algorithm().id() == ALGORITHM]


def wait(condition, timeout: float = TIMEOUT_S):
    """Yield (keep the event loop turning) until ``condition()`` is true; raise on timeout."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting in step {status['steps'][-1:]}")
        yield


def select_in_toolbox(tree) -> None:
    """Make ALGORITHM the toolbox tree's current item, as a click on it does."""
    model = tree.model()
    pending = [model.index(r, 0) for r in range(model.rowCount())]
    while pending:
        index = pending.pop()
        algorithm = tree.algorithmForIndex(index)
        if algorithm is not None and algorithm.id() == ALGORITHM:
            tree.setCurrentIndex(index)
            return
        pending += [model.index(r, 0, index) for r in range(model.rowCount(index))]
    raise LookupError(f"{ALGORITHM} is not in the Processing Toolbox")


def open_dialog():
    """Open the scenario's dialog and set its parameters; hold no reference to it after."""
    if SCENARIO.startswith("toolbar"):
        plugin = plugins["smts_cloudfill_plugin"]
        label = {"reconstruct": "Reconstruct", "train": "Train",
                 "parcel_series": "Parcel time series"}[ALGORITHM.split(":")[1]]
        action = next(a for a in plugin.actions if a.text().startswith(label))
        action.trigger()
        del plugin, action
        step("toolbar action triggered")
    elif SCENARIO.startswith("toolbox"):
        # Select the algorithm in the Processing Toolbox and do what a double click does; that
        # blocks in exec_(), so the rest of the walk runs from the timer inside its event loop.
        toolbox = plugins["processing"].toolbox
        toolbox.show()
        select_in_toolbox(toolbox.algorithmTree)
        QTimer.singleShot(0, toolbox.executeAlgorithm)
        del toolbox
        step("toolbox double click scheduled")
    elif SCENARIO.startswith("history"):
        import processing
        QTimer.singleShot(0, lambda: processing.execAlgorithmDialog(ALGORITHM, PARAMS))
        step("history execAlgorithmDialog scheduled")
    yield from wait(algorithm_dialogs, 30)
    step("dialog shown")
    if not SCENARIO.startswith("history"):
        algorithm_dialogs()[0].setParameters(PARAMS)


def collect(ticks: int):
    """Turn the event loop ``ticks`` times, running Python's garbage collector each time."""
    for _ in range(ticks):
        gc.collect()
        yield


def walk():
    # The walk keeps no Python reference to the dialog between steps (a user holds none):
    # whatever keeps it alive must be QGIS's or the plugin's.
    yield from open_dialog()
    yield
    algorithm_dialogs()[0].runButton().click()
    step("run clicked")
    # A short run (a parcel table on the sample) may be over before a tick sees its task.
    yield from wait(lambda: QgsApplication.taskManager().countActiveTasks() > 0
                    or (algorithm_dialogs() and algorithm_dialogs()[0].results()), 30)
    step("task running")
    if SCENARIO.endswith("_close"):
        yield from collect(10)  # let the run get going, then close with the window's X
        status["closed_while_running"] = QgsApplication.taskManager().countActiveTasks() > 0
        algorithm_dialogs()[0].close()
        step("dialog closed mid-run")
    while QgsApplication.taskManager().countActiveTasks() > 0:
        yield from collect(1)
    step("task finished")
    yield from collect(20)  # layers load after the task, on the main thread
    step("after run")


def main() -> None:
    routine = walk()

    def tick():
        try:
            next(routine)
        except StopIteration:
            finish()
            return
        except Exception:  # noqa: BLE001 (the test reads the failure from the status)
            status["error"] = traceback.format_exc()
            finish()
            return
        QTimer.singleShot(100, tick)

    QTimer.singleShot(1000, tick)


main()
