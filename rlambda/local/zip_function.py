"""Run a zip-packaged function's events the way Lambda runs an OS-only runtime (provided.al2023).

Lambda unpacks the function's layers, in order, read-only under /opt and its code under
/var/task, on the runtime's bare base; it then runs /opt/bootstrap with no arguments and the
handler in _HANDLER. Here: the layers are unzipped into a temporary directory, both are mounted
read-only into a container of the family's bare base image (e.g. rlambda-local/debian:bookworm),
and the events go through the Runtime API emulator (events.run_events) as for an image.
"""

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from rlambda.build import layer_zip
from rlambda.local.events.judge import EventOutcome
from rlambda.local.events.run import run_events

# Lambda's environment on provided.al2023 (LAMBDA-FACTS.md): /opt/lib is where layers'
# libraries are found.
LAMBDA_LD_LIBRARY_PATH = (
    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
)
LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
# `sh -c 'exec /opt/bootstrap' HANDLER`: the handler (the launcher's command) becomes $0, so
# the bootstrap starts with no arguments, as on Lambda, and reads _HANDLER.
BOOTSTRAP_ENTRYPOINT = ["/bin/sh", "-c", "exec /opt/bootstrap"]


def run_zip_events(
    base_image: str,
    layers: Sequence[Path],
    code: dict[str, Path],
    events_dir: Path,
    handler: str,
    *,
    memory_mb: int = 512,
    timeout_s: float = 30,
    output: TextIO | None = None,
    client: Any = None,
) -> list[EventOutcome]:
    """`code` maps paths under /var/task to files (builder.function_files' keys without
    their function/ prefix)."""
    with tempfile.TemporaryDirectory(prefix="zip-function-") as tmp:
        opt, task = Path(tmp) / "opt", Path(tmp) / "task"
        for directory in (opt, task):
            directory.mkdir()
            directory.chmod(0o755)
        for path in layers:
            layer_zip.extract(path, opt)
        for name, source in code.items():
            dest = task / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
            dest.chmod(0o644)
        return run_events(
            base_image,
            events_dir,
            memory_mb=memory_mb,
            timeout_s=timeout_s,
            handler=handler,
            env={"LD_LIBRARY_PATH": LAMBDA_LD_LIBRARY_PATH, "PATH": LAMBDA_PATH},
            output=output,
            client=client,
            entrypoint=BOOTSTRAP_ENTRYPOINT,
            mounts={"/opt": opt, "/var/task": task},
        )
