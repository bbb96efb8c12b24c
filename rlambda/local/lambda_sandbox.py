"""The sandbox Lambda runs a container image in, as settings for the Docker engine.

What Lambda does to a container image, and how each cold start here reproduces it:
- read-only root filesystem; a writable `/tmp` of the function's ephemeral-storage size (a
  tmpfs here, mode 0700 and owned by the function's user, as Lambda's `/tmp` is);
- a non-root user whatever the image's USER says: uid 993, gid 990 (what `id` prints inside
  Lambda: uid=993(sbx_user1051) gid=990);
- the memory setting as a hard limit with no swap (a cgroup limit; exceeding it is an OOM kill,
  reported as "Runtime exited with error: signal: killed"), 1,024 processes/threads and 1,024
  file descriptors (Lambda's quotas);
- the Lambda environment from the emulator plus `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`,
  `AWS_EXECUTION_ENV=AWS_Lambda_Image` and `_HANDLER`, none of it settable by the function
  (RESERVED_KEYS); credentials only when given as `aws_credentials` (the host's only when
  the caller asks: `build.py serve/test --aws-credentials`, rlambda.aws.caller_credentials).

DockerRuntime (docker_launcher.py) and AwsRie (aws_rie/function.py) both start their containers
in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker.types import Ulimit

LAMBDA_UID = 993
LAMBDA_GID = 990
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
# Lambda's value for functions deployed as container images (seen in env dumps of such
# functions; the managed runtimes use AWS_Lambda_<runtime>).
EXECUTION_ENV = "AWS_Lambda_Image"
# Lambda quotas: "Execution processes/threads 1024", "File descriptors 1024".
MAX_PROCESSES = 1024
MAX_OPEN_FILES = 1024
MEMORY_RANGE_MB = (128, 10240)
TMP_RANGE_MB = (512, 10240)
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# Lambda refuses these in a function's environment configuration: they are its own.
RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_ACCESS_KEY",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "_AWS_XRAY_DAEMON_ADDRESS",
        "_AWS_XRAY_DAEMON_PORT",
        *CREDENTIAL_KEYS,
    }
)


def check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside Lambda's range {low}..{high} MB")


def credentials(given: Mapping[str, str] | None) -> dict[str, str]:
    if not given:
        return {}
    unknown = sorted(set(given) - set(CREDENTIAL_KEYS))
    if unknown:
        raise ValueError(f"aws_credentials takes {', '.join(CREDENTIAL_KEYS)}; not {unknown}")
    missing = [key for key in CREDENTIAL_KEYS[:2] if not given.get(key)]
    if missing:
        raise ValueError(f"aws_credentials lacks {', '.join(missing)}")
    return dict(given)


def function_env(given: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(given or {})
    reserved = sorted(RESERVED_KEYS & set(env))
    if reserved:
        hint = (
            " (pass credentials as aws_credentials)" if set(reserved) & set(CREDENTIAL_KEYS) else ""
        )
        raise ValueError(f"env sets Lambda's reserved keys {reserved}{hint}")
    return env


def sandbox_options(
    *,
    image: str,
    working_dir: str | None,
    memory_mb: int,
    tmp_size_mb: int,
    mounts: Mapping[str, str],
) -> dict[str, Any]:
    """Keyword arguments for `containers.create`: the sandbox alone (user, read-only root,
    /tmp, limits), whatever runs in it. `mounts`: container path -> host directory, read-only."""
    memory = f"{memory_mb}m"
    return {
        "image": image,
        "working_dir": working_dir,
        "user": f"{LAMBDA_UID}:{LAMBDA_GID}",
        "read_only": True,
        "tmpfs": {
            "/tmp": f"rw,exec,nosuid,nodev,size={tmp_size_mb}m,mode=0700,"
            f"uid={LAMBDA_UID},gid={LAMBDA_GID}"
        },
        "mem_limit": memory,
        "memswap_limit": memory,  # the same figure: no swap, as on Lambda
        "pids_limit": MAX_PROCESSES,
        "ulimits": [Ulimit(name="nofile", soft=MAX_OPEN_FILES, hard=MAX_OPEN_FILES)],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "volumes": {host: {"bind": inside, "mode": "ro"} for inside, host in mounts.items()},
    }
