"""Which llmrelay a relay target runs: this checkout's, or an earlier commit's (``--baseline``).

The project's rule is that a change must not make ``make bench QUICK=1`` more than 5% worse
than the previous main *in the same run*, so the earlier commit runs beside the checkout as
extra targets. Its ``src/`` is extracted with ``git archive`` (no worktree to clean up, no
change to the repository's worktree list) into ``bench/.cache/baseline-<sha>/`` and kept
there for the next run. Both run with the same venv Python; ``PYTHONPATH=<code>/src`` comes
ahead of site-packages and of the editable install, so the process imports that tree's
``llmrelay`` (checked at extraction and by ``bench/relay_launcher.py`` at every start).
Dependencies are the venv's: a baseline that needs a package the venv lacks fails to start,
and its log says which.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"


@dataclass(frozen=True)
class Code:
    """One llmrelay source tree and how to make a process import it."""

    label: str  # "relay" (this checkout) or "base"
    src: Path  # the directory holding the ``llmrelay`` package
    sha: str
    ref: str

    def env(self) -> dict[str, str]:
        """Environment for any process of this code (server, CLI, checks)."""
        rest = os.environ.get("PYTHONPATH", "")
        return {"PYTHONPATH": f"{self.src}{os.pathsep}{rest}" if rest else str(self.src)}

    def package_dir(self) -> Path:
        return self.src / "llmrelay"


def _git(*args: str) -> str:
    out = subprocess.run(  # noqa: S603 - fixed git commands on this repository
        ["git", "-C", str(ROOT), *args],  # noqa: S607 - git on PATH
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def current() -> Code:
    return Code("relay", ROOT / "src", _git("rev-parse", "HEAD"), "HEAD")


def checkout(ref: str) -> Code:
    """``ref``'s ``src/`` under ``bench/.cache/baseline-<sha>/`` (extracted once)."""
    out = subprocess.run(  # noqa: S603 - fixed git command
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    sha = out.stdout.strip()
    if out.returncode != 0 or not sha:
        raise SystemExit(f"bench: --baseline {ref!r} is not a commit in this repository")
    target = CACHE / f"baseline-{sha[:12]}"
    if not (target / "src" / "llmrelay" / "__init__.py").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"baseline-{sha[:12]}-", dir=CACHE))
        archive = subprocess.Popen(  # noqa: S603 - fixed git command
            ["git", "-C", str(ROOT), "archive", "--format=tar", sha, "src"],  # noqa: S607
            stdout=subprocess.PIPE,
        )
        tar = subprocess.run(["tar", "-x", "-C", str(tmp)], stdin=archive.stdout, check=False)  # noqa: S603, S607
        if archive.wait() != 0 or tar.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SystemExit(f"bench: could not extract src/ of {sha[:12]} from git")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    code = Code("base", target / "src", sha, ref)
    imported = imported_from(code)
    if Path(imported).parent != code.package_dir():
        raise SystemExit(
            f"bench: the baseline's processes would import llmrelay from {imported}, "
            f"not from {code.package_dir()} (an import hook ahead of PYTHONPATH?)"
        )
    return code


def imported_from(code: Code) -> str:
    """``llmrelay.__file__`` as a process of ``code`` sees it."""
    out = subprocess.run(
        [sys.executable, "-c", "import llmrelay; print(llmrelay.__file__)"],
        env={**os.environ, **code.env()},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: importing llmrelay of {code.sha[:12]} failed: {out.stderr}")
    return out.stdout.strip()
