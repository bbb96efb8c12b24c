"""Moving tags (r-4.5, r-4, latest): what each names now is read and whether it moves decided
before the first push; they move only forward, where the repository lets tags move."""

from dataclasses import dataclass

from packaging.version import InvalidVersion

from rlambda.registry import images
from rlambda.registry.auth import RegistryAuth
from rlambda.registry.facts import R_VERSION_LABEL, ImageFacts, read_config
from rlambda.registry.repository import Repository
from rlambda.registry.transport import Manifest, RetryPolicy
from rlambda.target import tags


def _current_r_version(
    auth: RegistryAuth, repo: Repository, record: images.ImageRecord, retry: RetryPolicy
) -> str | None:
    labels = (read_config(auth, repo.name, record.config_digest, retry).get("config") or {}).get(
        "Labels"
    ) or {}
    return labels.get(R_VERSION_LABEL)


@dataclass(frozen=True)
class MovingTag:
    """A moving tag as found before the first push, and whether it moves."""

    tag: str
    record: images.ImageRecord | None  # what it names now
    keep: str | None  # why it stays where it is; None: it moves (or is added)
    note: str = ""  # said beside "moved", e.g. why a label did not count


def _moves(current: str | None, new: str) -> tuple[bool, str]:
    """(whether the tag moves, a note). A label that is not a version (a hand-made image, a
    devel build) cannot be ordered: its tag is replaced, and the outcome says why."""
    try:
        return tags.moves_forward(current, new), ""
    except InvalidVersion:
        return True, f" (its image's {R_VERSION_LABEL} {current!r} is not a version)"


def plan_moving(
    ecr, auth, repo: Repository, moving: tuple[str, ...], facts: ImageFacts, retry
) -> list[MovingTag]:
    """Read what each moving tag names and decide, before anything is pushed."""
    planned = []
    for tag in moving:
        record = images.find(ecr, repo.name, tag)
        current = _current_r_version(auth, repo, record, retry) if record else None
        forward, note = _moves(current, facts.r_version)
        keep = None if forward else f"kept on R {current} (newer than {facts.r_version})"
        planned.append(MovingTag(tag, record, keep, note))
    return planned


def move_tags(
    ecr, repo: Repository, planned: list[MovingTag], manifest: Manifest
) -> dict[str, str]:
    outcome = {}
    for moving in planned:
        if moving.record is not None and moving.record.digest == manifest.digest:
            outcome[moving.tag] = "unchanged"
        elif moving.keep:
            outcome[moving.tag] = moving.keep
        else:
            images.put_tag(ecr, repo.name, moving.tag, manifest)
            outcome[moving.tag] = "moved" + moving.note
    return outcome
