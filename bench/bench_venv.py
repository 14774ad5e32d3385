"""The benchmark scripts' shared virtual environment, outside the repository.

Each comparison script calls ensure_venv(packages) first: it re-executes the script with the
venv's Python, creating the venv (~/.cache/simplecell-bench/venv, or $SIMPLECELL_BENCH_VENV)
and pip-installing whatever of `packages` it lacks. One venv serves every script, so torch,
scikit-learn and SPAMS are installed once.
"""

import os
import subprocess
import sys
from pathlib import Path


def ensure_venv(packages):
    venv = Path(os.environ.get("SIMPLECELL_BENCH_VENV",
                               Path.home() / ".cache" / "simplecell-bench" / "venv"))
    python = venv / "bin" / "python"
    # sys.prefix, not sys.executable: a venv's python is a symlink to the system one.
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    missing = [p for p in packages
               if subprocess.run([str(python), "-m", "pip", "show", "-q", p],
                                 capture_output=True).returncode != 0]
    if missing:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *missing], check=True)
    os.execv(str(python), [str(python), *sys.argv])
