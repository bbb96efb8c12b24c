"""SnapStart: the R runtime's restore lifecycle, run by the real bootstrap on host R against the
emulator playing snap-start (AWS: "Implementing SnapStart hooks for container images").

The emulator takes no snapshot: GET /runtime/restore/next is answered at once, in the same
process. What is checked is what the runtime does around it; a real checkpoint and restore
(CRIU) is bench/criu_snapstart.py's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.r.test_runtime_r import HANDLERS, error_of, ok_json, runtime

SNAP = HANDLERS / "snapstart"

pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R (Rscript)"),
]


def snap_runtime(env: dict[str, str] | None = None, **kwargs):
    return runtime("snap.handler", env=env, task_root=SNAP, snapstart=True, **kwargs)


def test_hooks_run_in_order_and_the_environment_serves_after_restore(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    with snap_runtime({"SNAP_RM_TMPDIR": "1"}, stdout=log) as server:
        first = server.invoke(b"{}")
        body = ok_json(first)
        assert body["hooks"] == ["before-1", "before-2", "after-1", "after-2"]
        assert body["calls"] == 1
        # A before-snapshot hook removed R's session directory: it is back after restore.
        assert body["tempdir_exists"] is True
        report = first.report
        assert report.restore_duration_ms is not None and report.restore_duration_ms > 0
        assert "Restore Duration" in report.line() and "Init Duration" not in report.line()
        assert set(server.snapstart_timings) == {"init_ms", "restore_ms", "first_invoke_ms"}
        # Warm invokes: no restore again, hooks not run again.
        second = server.invoke(b"{}")
        assert ok_json(second)["hooks"] == body["hooks"]
        assert second.report.restore_duration_ms is None
    assert "SnapStart restore: after-restore steps took" in log.read_text()


def draws(snapstart: bool) -> list[float]:
    """The first draw after init in two environments whose init ran set.seed(42)."""
    out = []
    for _ in range(2):
        with runtime("snap.handler", task_root=SNAP, snapstart=snapstart) as server:
            body = ok_json(server.invoke(b"{}"))
            assert body["init_draw"] == pytest.approx(0.914806, abs=1e-6)  # seeded at init
            out.append(body["draw"])
    return out


def test_restored_environments_draw_different_random_numbers() -> None:
    # On demand, each environment runs init itself, and set.seed(42) makes them draw alike;
    # restored from one snapshot they would share that state, so the runtime re-seeds from
    # the OS after restore.
    same = draws(snapstart=False)
    assert same[0] == same[1]
    different = draws(snapstart=True)
    assert different[0] != different[1]


def test_a_failing_after_restore_hook_fails_the_restore_with_r_message_and_class() -> None:
    with snap_runtime({"SNAP_FAIL_RESTORE": "1"}) as server:
        result = server.invoke(b"{}")
        assert result.status_code == 400
        assert result.report.error_type == "SnapStartException"
        error = json.loads(result.body)
        assert error["errorType"] == "credentialsExpired"
        assert error["errorMessage"] == "cannot refresh the credentials"
        # The environment served no invoke: the handler never ran (its first call would have
        # answered 200), and the runtime is gone.
        assert not server._runtime_running()


def test_a_failing_before_snapshot_hook_fails_init() -> None:
    with snap_runtime({"SNAP_FAIL_SNAPSHOT": "1"}) as server:
        error = error_of(server.invoke(b"{}"))
        assert error["errorType"] == "simpleError"
        assert error["errorMessage"] == "cannot close the pool"


def test_priming_runs_the_handler_before_the_snapshot_and_sends_nothing() -> None:
    with snap_runtime({"RLAMBDA_SNAPSTART_PRIME": "prime.json"}) as server:
        first = server.invoke(b"{}")
        # The primed call was the first: the invoke is the second. Its answer was dropped:
        # the emulator received exactly one answer, this one.
        assert ok_json(first)["calls"] == 2


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("prime-fails.json", "simpleError: priming went wrong"),
        ("missing.json", "no such file"),
    ],
)
def test_a_failing_priming_event_fails_init_with_r_message(event: str, message: str) -> None:
    with snap_runtime({"RLAMBDA_SNAPSTART_PRIME": event}) as server:
        error = error_of(server.invoke(b"{}"))
        assert error["errorType"] == "Runtime.PrimingError"
        assert f"priming event {event}: {message}" == error["errorMessage"]


def test_priming_and_hooks_do_nothing_without_snap_start() -> None:
    with runtime(
        "snap.handler", env={"RLAMBDA_SNAPSTART_PRIME": "prime-fails.json"}, task_root=SNAP
    ) as server:
        body = ok_json(server.invoke(b"{}"))
        assert body["hooks"] == [] and body["calls"] == 1
        assert server.invoke(b"{}").report.init_duration_ms is None


def test_init_longer_than_the_snap_start_limit_times_out(tmp_path: Path) -> None:
    (tmp_path / "slow.R").write_text("Sys.sleep(5)\nhandler <- function(event) 1\n")
    with runtime("slow.handler", task_root=tmp_path, snapstart=True, init_limit_s=1) as server:
        result = server.invoke(b"{}")
        assert error_of(result)["errorType"] == "Sandbox.Timedout"
        assert "timed out after 1.00 seconds" in json.loads(result.body)["errorMessage"]
