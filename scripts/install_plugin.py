#!/usr/bin/env python3
"""Install SMTS CloudFill into the QGIS profile of $HOME, with PyTorch, and enable it.

1. Copies the plugin (the same files as the release zip, see ``package_plugin.plugin_files``)
   into ``$HOME/.local/share/QGIS/QGIS3/profiles/default/python/plugins/smts_cloudfill_plugin/``,
   replacing an earlier copy.
2. Installs PyTorch (CPU build) with pip into the profile's dependency folder
   (``dependencies.dependency_folder``), unless torch already imports from there.
3. Enables the plugin with ``qgis_process.bin plugins enable smts_cloudfill_plugin``.

Usage: python scripts/install_plugin.py [--profile-dir DIR] [--cuda] [--no-torch] [--no-enable]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from package_plugin import PLUGIN, REPO_ROOT, plugin_files  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))
from smts_cloudfill_plugin import dependencies as deps  # noqa: E402 (plain Python, no QGIS)


def default_profile_dir() -> Path:
    return Path.home() / ".local" / "share" / "QGIS" / "QGIS3" / "profiles" / "default"


def copy_plugin(plugin_dir: Path, repo_root: Path = REPO_ROOT) -> int:
    """Replace ``plugin_dir`` with a fresh copy of the plugin's files; return the file count."""
    files = plugin_files(repo_root)
    plugin_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{PLUGIN}-", dir=plugin_dir.parent))
    try:
        for src, name in files:
            dst = staging / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        if plugin_dir.is_symlink() or plugin_dir.is_file():
            plugin_dir.unlink()  # a developer's link: remove the link, never its target
        elif plugin_dir.exists():
            shutil.rmtree(plugin_dir)
        staging.rename(plugin_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(files)


def install_torch(folder: str, cuda: bool = False, python: str | None = None) -> str:
    """pip-install torch into ``folder`` unless it already imports from there; its version."""
    found = deps.torch_in_folder(folder, python)
    if found:
        print(f"PyTorch {found} already in {folder}: skipping pip")
        return found
    os.makedirs(folder, exist_ok=True)
    cmd = deps.pip_install_command(folder, cuda=cuda, python=python)
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    found = deps.torch_in_folder(folder, python)
    if not found:
        raise RuntimeError(f"pip finished but torch does not import from {folder}")
    print(f"PyTorch {found} installed in {folder}")
    return found


def qgis_process() -> str | None:
    return shutil.which("qgis_process.bin") or shutil.which("qgis_process")


def enable_plugin(profile: Path | None = None) -> None:
    """Set ``[PythonPlugins] smts_cloudfill_plugin=true`` in the profile, through qgis_process."""
    exe = qgis_process()
    if exe is None:
        print("qgis_process not found: enable SMTS CloudFill in QGIS's Plugin Manager")
        return
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if profile is not None and Path(profile).resolve() != default_profile_dir().resolve():
        if profile.name != "default" or profile.parent.name != "profiles":
            raise RuntimeError(f"cannot enable the plugin in {profile}: not <dir>/profiles/default")
        env["QGIS_CUSTOM_CONFIG_PATH"] = str(profile.parent.parent)
    done = subprocess.run([exe, "plugins", "enable", PLUGIN], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0 and "already enabled" in done.stdout + done.stderr:  # 2nd install
        print(f"{PLUGIN} is already enabled")
        return
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"{exe} plugins enable {PLUGIN} failed (exit {done.returncode})")
    print(f"Enabled {PLUGIN} ({os.path.basename(exe)} plugins enable)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="QGIS profile (default: $HOME/.local/share/QGIS/QGIS3/profiles/"
                             "default)")
    parser.add_argument("--cuda", action="store_true",
                        help="install PyPI's default (CUDA on Linux) PyTorch, not the CPU build")
    parser.add_argument("--python", default=None,
                        help="interpreter for pip and the import check (default: this one)")
    parser.add_argument("--no-torch", action="store_true", help="do not install PyTorch")
    parser.add_argument("--no-enable", action="store_true", help="do not run qgis_process")
    args = parser.parse_args(argv)

    profile = args.profile_dir or default_profile_dir()
    plugin_dir = profile / "python" / "plugins" / PLUGIN
    count = copy_plugin(plugin_dir)
    print(f"Copied {count} files to {plugin_dir}")
    if not args.no_torch:
        install_torch(deps.dependency_folder(str(profile)), cuda=args.cuda, python=args.python)
    if not args.no_enable:
        enable_plugin(profile)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
