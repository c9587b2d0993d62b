"""First-run installer: puts PyTorch into the profile's dependency folder from inside QGIS.

pip runs in a ``QProcess`` (QGIS stays responsive) with its output streamed into a read-only
log. Success is confirmed by importing torch from the folder in a fresh interpreter; the folder
is then prepended to ``sys.path`` so the running QGIS can use it without a restart.
"""
from __future__ import annotations

import sys

from qgis.PyQt.QtCore import QCoreApplication, QProcess, Qt, pyqtSignal
from qgis.PyQt.QtGui import QFont, QFontDatabase, QTextCursor
from qgis.PyQt.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QGroupBox, QLabel,
                                 QPlainTextEdit, QProgressBar, QPushButton, QRadioButton,
                                 QVBoxLayout)

from .. import dependencies as deps

TITLE = "SMTS CloudFill: install PyTorch"
OK_STYLE = "color: #1b7a2f; font-weight: bold;"
FAIL_STYLE = "color: #b3261e; font-weight: bold;"



def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: InstallDialog)."""
    return QCoreApplication.translate("InstallDialog", text)


# Open dialogs, so that a non-modal dialog is not garbage collected while pip runs.
_OPEN: list["InstallDialog"] = []


class InstallDialog(QDialog):
    """Install / Close, a CPU or CUDA choice, and pip's log.

    ``folder`` and ``python`` default to the profile's dependency folder and QGIS's real
    interpreter; ``command`` (a function ``(folder, cuda) -> argv``) defaults to
    :func:`dependencies.pip_install_command`. Tests pass their own.
    """

    #: Emitted once at the end: True when torch imports from the folder.
    finished_install = pyqtSignal(bool)

    def __init__(self, parent=None, folder: str | None = None, python: str | None = None,
                 command=None) -> None:
        super().__init__(parent)
        self.folder = folder or deps.dependency_folder()
        self.python = python or deps.real_python()
        self.command = command or (lambda f, cuda: deps.pip_install_command(f, cuda, self.python))
        self.process: QProcess | None = None
        self.succeeded: bool | None = None
        self._verify_out = ""
        self._capture = False  # True while the check runs: its output is parsed, not logged
        self.setWindowTitle(tr(TITLE))
        self.setMinimumWidth(640)
        self._build()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        present = deps.installed_torch_version()
        if present:
            text = tr("PyTorch {present} is installed for QGIS's Python {python}. You can "
                      "reinstall {torch} here (for example to switch between the CPU and CUDA "
                      "builds).")
        else:
            text = tr("<b>PyTorch is not installed</b> for QGIS's Python {python}, so SMTS "
                      "CloudFill cannot run its model. This installs {torch} with pip. QGIS's "
                      "own numpy and GDAL are left untouched.")
        text = text.format(present=present, python=f"{sys.version_info.major}."
                           f"{sys.version_info.minor}",
                           torch=deps.TORCH_REQUIREMENT.replace("==", " "))
        self.intro = QLabel(text)
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)

        self.where = QLabel(tr("Install folder (kept across plugin upgrades):<br><code>"
                               "{folder}</code>").format(folder=self.folder))
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.where)

        box = QGroupBox(tr("Build"))
        box_layout = QVBoxLayout(box)
        self.cpu = QRadioButton(tr("CPU only (about 200 MB download; works everywhere)"))
        self.cuda = QRadioButton(tr("CUDA, for an NVIDIA GPU (Linux; about 3 GB download)"))
        self.cpu.setChecked(True)
        if not sys.platform.startswith("linux"):
            self.cuda.setEnabled(False)
            self.cuda.setToolTip(tr("PyPI's PyTorch for this system is CPU-only; see "
                                    "pytorch.org for GPU builds."))
        self.build_group = QButtonGroup(self)
        for button in (self.cpu, self.cuda):
            self.build_group.addButton(button)
            box_layout.addWidget(button)
        layout.addWidget(box)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlaceholderText(tr("pip's output appears here."))
        self.log.setLineWrapMode(QPlainTextEdit.WidgetWidth)
        font = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        font.setStyleHint(QFont.Monospace)
        self.log.setFont(font)
        self.log.setMinimumHeight(220)
        layout.addWidget(self.log, 1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator while pip runs
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.progress.hide()
        layout.addWidget(self.progress)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status)

        self.buttons = QDialogButtonBox()
        self.install_button = QPushButton(tr("Install"))
        self.install_button.setDefault(True)
        self.buttons.addButton(self.install_button, QDialogButtonBox.AcceptRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.install_button.clicked.connect(self.start_install)
        self.close_button.clicked.connect(self.close)
        layout.addWidget(self.buttons)

    # -- running pip ---------------------------------------------------------------------------
    def append_log(self, text: str) -> None:
        self.log.moveCursor(QTextCursor.End)
        self.log.insertPlainText(text)
        self.log.ensureCursorVisible()

    def _set_running(self, running: bool) -> None:
        self.install_button.setEnabled(not running)
        self.cpu.setEnabled(not running)
        self.cuda.setEnabled(not running and sys.platform.startswith("linux"))
        self.close_button.setText(tr("Cancel") if running else tr("Close"))
        self.progress.setVisible(running)

    def _start(self, argv: list[str], on_finished, capture: bool = False) -> None:
        self._capture = capture
        proc = QProcess(self)
        proc.setProcessChannelMode(QProcess.MergedChannels)
        proc.readyReadStandardOutput.connect(lambda: self._read(proc))
        proc.finished.connect(lambda code, _status: on_finished(proc, code))
        proc.errorOccurred.connect(lambda err: self._process_error(proc, err))
        self.process = proc
        proc.start(argv[0], argv[1:])

    def _read(self, proc: QProcess) -> str:
        text = bytes(proc.readAllStandardOutput()).decode("utf-8", "replace")
        if self._capture:
            self._verify_out += text
        else:
            self.append_log(text)
        return text

    def start_install(self) -> None:
        """Run pip (the button's slot)."""
        if self.process is not None:
            return
        self.succeeded = None
        self.status.setText(tr("Installing... this takes a few minutes."))
        self.status.setStyleSheet("")
        self._set_running(True)
        try:
            argv = self.command(self.folder, self.cuda.isChecked())
        except Exception as exc:  # e.g. the profile folder cannot be written
            self._fail(tr("Could not prepare the installation: {error}").format(error=exc))
            return
        self.append_log("$ " + " ".join(argv) + "\n")
        self._start(argv, self._pip_finished)

    def _pip_finished(self, proc: QProcess, code: int) -> None:
        if proc is not self.process:  # cancelled
            return
        self._read(proc)
        if proc.exitStatus() != QProcess.NormalExit or code != 0:
            self._fail(tr("Installation failed (pip exit code {code}). The log above shows why.")
                       .format(code=code))
            return
        self.append_log("\n" + tr("Checking that PyTorch imports from the install folder...")
                        + "\n")
        self._verify_out = ""
        self._start(deps.verify_command(self.folder, self.python), self._verify_finished,
                    capture=True)

    def _verify_finished(self, proc: QProcess, code: int) -> None:
        if proc is not self.process:  # cancelled
            return
        self._read(proc)
        self._capture = False
        found = deps.parse_verify_output(self._verify_out) if code == 0 else None
        if not found:
            self.append_log(self._verify_out)
            self._fail(tr("pip finished, but PyTorch does not import from the install folder. "
                          "The log above shows why."))
            return
        version, path = found
        self.append_log(tr("PyTorch {version} imports from {path}").format(version=version,
                                                                           path=path) + "\n")
        if not deps.is_inside(path, self.folder):
            self._fail(tr("pip finished, but PyTorch does not import from the install folder "
                          "(it comes from {path}). The log above shows why.").format(path=path))
            return
        deps.add_dependency_folder(self.folder)
        if "torch" in sys.modules:
            message = tr("PyTorch {version} installed. Restart QGIS to use it (another PyTorch "
                         "is already loaded).").format(version=version)
        else:
            message = tr("PyTorch {version} installed. SMTS CloudFill is ready; no restart "
                         "needed.").format(version=version)
        self.intro.setText(tr("PyTorch {version} is installed for QGIS's Python, in the folder "
                              "below.").format(version=version))
        self._finish(True, message)

    def _process_error(self, proc: QProcess, error) -> None:
        if error == QProcess.FailedToStart and proc is self.process:
            self.append_log(tr("Could not start {program}: {error}").format(
                program=proc.program(), error=proc.errorString()) + "\n")
            self._fail(tr("Installation failed: Python could not be started."))

    def _fail(self, message: str) -> None:
        self._finish(False, message)

    def _finish(self, ok: bool, message: str) -> None:
        self.process = None
        self._capture = False
        self.succeeded = ok
        self._set_running(False)
        self.status.setText(message)
        self.status.setStyleSheet(OK_STYLE if ok else FAIL_STYLE)
        if ok:
            self.install_button.setText(tr("Reinstall"))
        self.finished_install.emit(ok)

    def cancel(self) -> None:
        proc = self.process
        if proc is not None:
            self.process = None
            proc.kill()
            proc.waitForFinished(5000)
            self._fail(tr("Installation cancelled."))

    def close(self) -> bool:
        if self.process is not None:  # the button reads "Cancel" while pip runs
            self.cancel()
            return False
        return super().close()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.cancel()
        if self in _OPEN:
            _OPEN.remove(self)
        super().closeEvent(event)

    def reject(self) -> None:  # Escape
        if self.process is not None:
            self.cancel()
            return
        if self in _OPEN:
            _OPEN.remove(self)
        super().reject()


def show_install_dialog(parent=None, **kwargs) -> InstallDialog:
    """Show the installer (non-modal, one at a time) and return it."""
    for dialog in _OPEN:
        dialog.raise_()
        dialog.activateWindow()
        return dialog
    dialog = InstallDialog(parent, **kwargs)
    _OPEN.append(dialog)
    dialog.show()
    return dialog


def _pop(bar, item) -> None:
    try:
        bar.popWidget(item)
    except RuntimeError:  # the user closed the message already
        pass


def offer_install_if_missing(iface):
    """When torch is missing: a message bar warning with an "Install PyTorch..." button.

    Returns the message bar item (None when torch is available or there is no interface).
    """
    if deps.torch_available() or iface is None:
        return None
    from qgis.core import Qgis
    bar = iface.messageBar()
    item = bar.createMessage("SMTS CloudFill", tr("PyTorch is not installed, so the "
                                                  "cloud-filling model cannot run."))
    button = QPushButton(tr("Install PyTorch..."))

    def _open() -> None:
        dialog = show_install_dialog(iface.mainWindow())
        dialog.finished_install.connect(lambda ok: ok and _pop(bar, item))

    button.clicked.connect(_open)
    item.layout().addWidget(button)
    bar.pushWidget(item, Qgis.Warning)
    return item
