"""Child processes of the tests and benchmarks."""

import subprocess


def stop(process, timeout=10):
    """Ask ``process`` to stop (SIGTERM); SIGKILL it after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
