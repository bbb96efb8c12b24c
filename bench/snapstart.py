"""Cold start with and without SnapStart, under the project's emulator, for recipe images.

  .venv/bin/python -m bench.snapstart --image hello=IMAGE --image plumber-api=IMAGE ... [--rounds 3]

Per image and round, each in a fresh environment (the Lambda-like container of `build.py test`):
- on demand: the runtime's init (Init Duration) and the first invoke's duration;
- SnapStart: the init before the snapshot (paid when a version is published), the restore
  (the runtime's after-restore steps until it polls for the event: Restore Duration) and the
  first invoke; with the recipe's first event as the priming event, and without.
The emulator takes no snapshot: what Lambda's (or CRIU's) restore itself costs is not in these
figures; bench/criu_snapstart.py measures CRIU's. The event is the recipe's first event file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.events.files import load_events
from rlambda.local.events.run import PRIME_PATH
from rlambda.local.runtime_api import RuntimeApiServer

ROOT = Path(__file__).resolve().parent.parent


def one(image: str, payload: bytes, snapstart: bool, prime: Path | None) -> dict[str, float]:
    env = {"RLAMBDA_SNAPSTART_PRIME": PRIME_PATH} if prime else None
    mounts = {PRIME_PATH: prime} if prime else None
    runtime = DockerRuntime(image, memory_mb=1024, env=env, mounts=mounts)
    with RuntimeApiServer(
        runtime, timeout_s=60, memory_mb=1024, quiet=True, snapstart=snapstart
    ) as server:
        result = server.invoke(payload)
        if result.failed:
            raise SystemExit(f"{image}: {result.body.decode()[:300]}")
        report = result.report
        assert report is not None
        if snapstart:
            return dict(server.snapstart_timings)
        return {"init_ms": report.init_duration_ms or 0.0, "first_invoke_ms": report.duration_ms}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", action="append", required=True, metavar="RECIPE=IMAGE")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="rlambda-bench-"))
    rows = []
    for item in args.image:
        recipe, _, image = item.partition("=")
        case = load_events(ROOT / "recipes" / recipe / "events")[0]
        payload = json.dumps(case.payload).encode()
        prime = scratch / f"{recipe}.json"
        prime.write_text(payload.decode())
        prime.chmod(0o644)
        for mode, snapstart, primed in (
            ("on demand", False, None),
            ("SnapStart", True, None),
            ("SnapStart, primed", True, prime),
        ):
            runs = [one(image, payload, snapstart, primed) for _ in range(args.rounds)]
            medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            rows.append((recipe, mode, medians))
            print(recipe, mode, {k: round(v) for k, v in medians.items()}, file=sys.stderr)
    print("| recipe | mode | init (ms) | restore (ms) | first invoke (ms) | caller waits (ms) |")
    print("|---|---|---|---|---|---|")
    for recipe, mode, m in rows:
        restore = m.get("restore_ms")
        waited = (
            (restore or 0) + m["first_invoke_ms"] + (0 if restore is not None else m["init_ms"])
        )
        print(
            f"| {recipe} | {mode} | {m['init_ms']:.0f} | "
            f"{'-' if restore is None else f'{restore:.0f}'} | {m['first_invoke_ms']:.0f} | "
            f"{waited:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
