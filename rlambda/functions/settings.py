"""The function configuration deploy manages (FunctionSettings): its defaults and limits, the
API parameters it asks for, what of those a function does not have yet (differences), and
SnapStart's limits checked against the region and the function as it is."""

from dataclasses import dataclass

from rlambda.errors import UsageError

# What a new function gets unless told otherwise (an update changes only what it is told):
# R with jsonlite needs more than Lambda's 128 MB default, and the same 512 MB / 30 s that
# build.py --test runs the events with.
DEFAULT_MEMORY_MB = 512
DEFAULT_TIMEOUT_S = 30
LOG_FORMATS = {"json": "JSON", "text": "Text"}  # the API's spelling
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

# SnapStart's limits, from AWS's "Improving startup performance with Lambda SnapStart"
# (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html): "Supported features and
# limitations" (no provisioned concurrency, no Amazon EFS, no ephemeral storage over 512 MB;
# published versions only) and "Supported Regions" (every commercial Region except Asia
# Pacific (New Zealand) and Asia Pacific (Taipei)).
SNAPSTART_PAGE = "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html"
SNAPSTART_MAX_EPHEMERAL_MB = 512
SNAPSTART_UNSUPPORTED_REGIONS = {"ap-southeast-6": "Asia Pacific (New Zealand)",
                                 "ap-east-2": "Asia Pacific (Taipei)"}  # fmt: skip


@dataclass(frozen=True)
class FunctionSettings:
    """The configuration deploy manages; None leaves a setting as it is (or Lambda's default)."""

    memory_mb: int | None = None
    timeout_s: int | None = None
    ephemeral_mb: int | None = None
    environment: dict[str, str] | None = None
    description: str | None = None
    log_format: str | None = None  # "JSON" or "Text"
    log_level: str | None = None  # application log level; JSON format only
    # SnapStart on published versions (the runtime answers /runtime/restore/next).
    snapstart: bool = False

    def check(self) -> None:
        if self.memory_mb is not None and not 128 <= self.memory_mb <= 10240:
            raise UsageError(f"--memory {self.memory_mb}: Lambda takes 128 to 10240 MB")
        if self.timeout_s is not None and not 1 <= self.timeout_s <= 900:
            raise UsageError(f"--timeout {self.timeout_s}: Lambda takes 1 to 900 seconds")
        if self.ephemeral_mb is not None and not 512 <= self.ephemeral_mb <= 10240:
            raise UsageError(
                f"--ephemeral-storage {self.ephemeral_mb}: Lambda takes 512 to 10240 MB"
            )
        if self.log_level and self.log_format != "JSON":
            raise UsageError("--log-level needs --log-format json (Lambda filters JSON logs only)")
        if self.snapstart and (self.ephemeral_mb or 0) > SNAPSTART_MAX_EPHEMERAL_MB:
            raise UsageError(
                f"--snapstart with --ephemeral-storage {self.ephemeral_mb}: SnapStart supports at"
                f" most {SNAPSTART_MAX_EPHEMERAL_MB} MB of ephemeral storage ({SNAPSTART_PAGE})"
            )

    def wanted(self, *, new: bool) -> dict:
        """The CreateFunction/UpdateFunctionConfiguration parameters these settings ask for."""
        out: dict = {}
        memory = self.memory_mb or (DEFAULT_MEMORY_MB if new else None)
        timeout = self.timeout_s or (DEFAULT_TIMEOUT_S if new else None)
        if memory:
            out["MemorySize"] = memory
        if timeout:
            out["Timeout"] = timeout
        if self.ephemeral_mb:
            out["EphemeralStorage"] = {"Size": self.ephemeral_mb}
        if self.environment is not None:
            out["Environment"] = {"Variables": dict(self.environment)}
        if self.description is not None:
            out["Description"] = self.description
        if self.log_format:
            logging = {"LogFormat": self.log_format}
            if self.log_level:
                logging["ApplicationLogLevel"] = self.log_level
            out["LoggingConfig"] = logging
        if self.snapstart:
            out["SnapStart"] = {"ApplyOn": "PublishedVersions"}
        return out


def differences(wanted: dict, config: dict) -> dict:
    """The part of `wanted` that `config` (a GetFunctionConfiguration answer) does not have."""
    out = {}
    for key, value in wanted.items():
        current = config.get(key)
        if key == "Environment":
            current = {"Variables": (current or {}).get("Variables", {})}
        elif key == "LoggingConfig":
            if current is None:
                # A service that does not report it (moto keeps no LoggingConfig) cannot be
                # compared; real Lambda always reports it.
                continue
            current = {k: current.get(k) for k in value}
        elif key == "Description":
            current = current or ""
        elif key == "SnapStart":
            # Lambda answers with OptimizationStatus too (On for a version with a snapshot).
            current = {"ApplyOn": (current or {}).get("ApplyOn", "None")}
        if current != value:
            out[key] = value
    return out


def check_snapstart_region(region: str) -> None:
    if region in SNAPSTART_UNSUPPORTED_REGIONS:
        raise UsageError(
            f"--snapstart: SnapStart is not available in {region}"
            f" ({SNAPSTART_UNSUPPORTED_REGIONS[region]}; {SNAPSTART_PAGE})"
        )


def check_snapstart_function(config: dict, function: str, settings: FunctionSettings) -> None:
    """What an existing function has that SnapStart does not support (SNAPSTART_PAGE)."""
    if config.get("FileSystemConfigs"):
        raise UsageError(
            f"--snapstart: function {function!r} mounts Amazon EFS, which SnapStart"
            f" does not support ({SNAPSTART_PAGE})"
        )
    size = (config.get("EphemeralStorage") or {}).get("Size", SNAPSTART_MAX_EPHEMERAL_MB)
    if settings.ephemeral_mb is None and size > SNAPSTART_MAX_EPHEMERAL_MB:
        raise UsageError(
            f"--snapstart: function {function!r} has {size} MB of ephemeral storage;"
            f" SnapStart supports at most {SNAPSTART_MAX_EPHEMERAL_MB} MB: add"
            f" --ephemeral-storage {SNAPSTART_MAX_EPHEMERAL_MB} ({SNAPSTART_PAGE})"
        )
