"""Push a local image to ECR under the planned tags, skipping what is already there.

The content tag means what it says: when ECR holds `content-<hash>`, these inputs were built
and pushed before, whatever the local image ID (the classic builder's IDs carry timestamps, so
a rebuild of the same inputs has another one). Then nothing is sent: the dated tag is added to
the manifest ECR already has, and its digest is reported. A scheduled rebuild asks first
(`pushed_digest`) and skips the build altogether.

A content tag found in ECR is not taken on trust: its hash follows from public inputs, so
anyone who may push could have planted it first. The image config it names is read from the
registry and must say it is these inputs (`identity_mismatches`: R version, family,
architecture, the full content hash, the R source's sha256 and the recipe); else the push fails
before anything is written. Labels can be copied, so this catches a tag that names something
else, not a forgery made to match: that is what the fixed tags' immutability in ECR and who may
push (IAM) are for.

Order of work, so a failure leaves nothing misleading behind:
1. every fixed tag already in ECR must name the image the content tag names, and that image
   must be these inputs; every moving tag's current image is read and whether it moves decided
   (else refuse, before any push);
2. the content tag is pushed by the engine (unless ECR has it already: then nothing is sent);
3. the manifest is read back from the registry (single-arch, digest checked) and recorded;
4. the other fixed tags are added to that manifest through the API (no second push);
5. ECR is asked which tags the digest carries: all fixed tags, or the push failed;
6. the readable tag and the moving tags follow, where the repository lets tags move.
A registry names a tag only once its manifest is in, after every layer: a push cut short
leaves layers, never a tag pointing at a partial image.

What an image is (its facts, and the check of a reused content tag) is in facts.py; the moving
tags in moving.py.
"""

import datetime
import json
import sys
from dataclasses import dataclass, field

import docker.errors
from packaging.version import InvalidVersion, Version

import docker
from rlambda import aws
from rlambda.build import engine
from rlambda.errors import JobError, UsageError
from rlambda.registry import images, transport
from rlambda.registry.auth import RegistryAuth, authorize, endpoint_override
from rlambda.registry.facts import R_VERSION_LABEL, ImageFacts, check_reused, image_facts
from rlambda.registry.moving import MovingTag, move_tags, plan_moving
from rlambda.registry.repository import (
    Repository,
    RepositorySettings,
    allow_cross_account_pulls,
    ensure_repository,
    find_repository,
)
from rlambda.registry.transport import Manifest, PushStats, RetryPolicy
from rlambda.target import tags


@dataclass(frozen=True)
class PushOptions:
    repository: RepositorySettings = field(
        default_factory=lambda: RepositorySettings(tags.REPOSITORY)
    )
    region: str | None = None
    recipe: str | None = None  # else from the image's io.rlambda.recipe label or readable tag
    date: datetime.date | None = None  # adds the dated tag (scheduled rebuilds)
    moving: bool = False  # also move r-X.Y, r-X, latest (see tags.moving_tags)
    moving_repository: str | None = None  # a MUTABLE repository for them, if the main is not
    allow_accounts: tuple[str, ...] = ()  # cross-account pulls by Lambda
    registry_endpoint: str | None = None  # tests and the local demo only (see auth.py)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class PushResult:
    image_uri: str  # <repository uri>@sha256:…: what Lambda takes
    digest: str
    repository: str
    region: str
    architecture: str
    r_version: str
    tags: list[str]
    pushed: bool  # False: ECR already held the content tag; nothing was sent
    readable: dict[str, str] = field(default_factory=dict)  # tag → what happened to it
    moving: dict[str, str] = field(default_factory=dict)  # tag → what happened to it
    moving_repository_uri: str | None = None
    stats: PushStats | None = None

    def to_json(self) -> dict:
        out = {
            "image_uri": self.image_uri,
            "digest": self.digest,
            "repository": self.repository,
            "region": self.region,
            "architecture": self.architecture,
            "r_version": self.r_version,
            "tags": self.tags,
            "pushed": self.pushed,
            "readable_tag": self.readable,
            "moving_tags": self.moving,
            "moving_repository_uri": self.moving_repository_uri,
        }
        if self.stats is not None:
            out["push"] = {
                "layers_pushed": self.stats.layers_pushed,
                "layers_existing": self.stats.layers_existing,
                "bytes_pushed": self.stats.bytes_pushed,
                "attempts": self.stats.attempts,
                "seconds": round(self.stats.seconds, 3),
            }
        return out


def _verify_pushed(
    manifest: Manifest | None, reported: str, facts: ImageFacts, where: str
) -> Manifest:
    if manifest is None:
        raise JobError(f"{where}: the registry has no manifest for the tag just pushed")
    if manifest.digest != reported:
        raise JobError(
            f"{where}: the engine reported {reported}, the registry holds {manifest.digest}"
        )
    config = json.loads(manifest.raw)["config"]["digest"]
    if config != facts.image_id:
        raise JobError(
            f"{where}: the registry's image config {config} is not the local image {facts.image_id}"
        )
    return manifest


def publish_fixed(
    client: docker.DockerClient | None,
    ecr,
    auth: RegistryAuth,
    repo: Repository,
    facts: ImageFacts,
    fixed: tuple[str, ...],
    retry: RetryPolicy,
    out=None,
) -> tuple[Manifest, bool, PushStats | None]:
    out = out or sys.stderr
    content, *others = fixed
    existing = {tag: images.find(ecr, repo.name, tag) for tag in fixed}
    record = existing[content]
    for tag in others:
        found = existing[tag]
        if found is None:
            continue
        if record is not None and found.digest != record.digest:
            raise images.conflict(repo.name, tag, found.digest, f"{content}: {record.digest}")
        if record is None and found.config_digest != facts.image_id:
            raise images.conflict(repo.name, tag, found.digest, f"image {facts.image_id}")
    if record is not None:
        check_reused(auth, repo.name, content, record, facts, retry)

    stats = None
    if record is not None:
        manifest = record.as_manifest()
        print(
            f"==> {repo.name}:{content} is already there ({manifest.digest}): these inputs were"
            " built and pushed before; nothing to push",
            file=out,
        )
        if facts.image_id is not None and record.config_digest != facts.image_id:
            print(
                f"  (the local image {facts.image_id} is another build of the same inputs;"
                " the pushed one stays)",
                file=out,
            )
    else:
        if client is None or facts.image_id is None:
            raise JobError(f"{repo.name}:{content} is not in ECR: build the image and push it")
        print(f"==> pushing {repo.name}:{content} to {auth.host}", file=out)
        reported, stats = transport.push(
            client, facts.image_id, auth, repo.name, content, retry, out
        )
        print(
            f"  {stats.layers_pushed} layers sent ({stats.bytes_pushed} bytes),"
            f" {stats.layers_existing} already there, {stats.seconds:.1f}s",
            file=out,
        )
        manifest = _verify_pushed(
            transport.read_manifest(auth, repo.name, content, retry),
            reported,
            facts,
            f"{repo.name}:{content}",
        )
        images.put_tag(ecr, repo.name, content, manifest)
    for tag in others:
        if existing[tag] is None:
            images.put_tag(ecr, repo.name, tag, manifest)

    carried = images.tags_of(ecr, repo.name, manifest.digest)
    if missing := set(fixed) - carried:
        raise JobError(
            f"{repo.name}@{manifest.digest}: ECR does not list the tags {sorted(missing)}"
        )
    return manifest, stats is not None, stats


def place_readable(ecr, repo: Repository, tag: str, manifest: Manifest) -> str:
    """The readable tag names the newest push of its variant: it moves where ECR lets it."""
    record = images.find(ecr, repo.name, tag)
    if record is not None and record.digest == manifest.digest:
        return "unchanged"
    if record is not None and not repo.can_move(tag):
        return (
            f"kept on {record.digest}: {repo.name} does not let {tag} move (see the README,"
            " Tags: an exclusion filter lets it)"
        )
    images.put_tag(ecr, repo.name, tag, manifest)
    return "added" if record is None else "moved"


def push_image(
    image_ref: str,
    options: PushOptions | None = None,
    *,
    client: docker.DockerClient | None = None,
    out=None,
) -> PushResult:
    """Push a local image (name or ID) to ECR; the function build.py calls for --push."""
    options = options or PushOptions()
    aws.region_or_fail(options.region)
    _check_options(options)
    client = client or engine.connect()
    try:
        image = client.images.get(image_ref)
    except docker.errors.ImageNotFound:
        raise UsageError(f"no local image {image_ref!r}: build it first (build.py)") from None
    return publish(image_facts(image, options.recipe), options, client=client, out=out)


def pushed_digest(options: PushOptions, content_hash: str) -> str | None:
    """The digest ECR's content tag for these inputs names, if it has one (read-only)."""
    ecr, _ = aws.clients(aws.region_or_fail(options.region))
    if find_repository(ecr, options.repository.name) is None:
        return None
    record = images.find(ecr, options.repository.name, tags.content_tag(content_hash))
    return record.digest if record else None


def _check_options(options: PushOptions) -> None:
    if options.moving_repository == options.repository.name:
        raise UsageError("--moving-repository must differ from the repository itself")


def publish(
    facts: ImageFacts,
    options: PushOptions,
    *,
    client: docker.DockerClient | None = None,
    out=None,
) -> PushResult:
    """Put `facts`' image in ECR under the planned tags. Without a local image (facts.image_id
    None, client None) ECR must hold the content tag already: only tags are added."""
    _check_options(options)
    region = aws.region_or_fail(options.region)
    allow_accounts = list(options.allow_accounts)
    if options.moving:
        try:
            Version(facts.r_version)
        except InvalidVersion:
            raise UsageError(
                f"R version {facts.r_version!r} (the image's {R_VERSION_LABEL}) is not a"
                " version, so moving tags cannot follow it: drop --moving-tags"
            ) from None
    plan = tags.plan_tags(
        facts.r_version, facts.family, facts.arch, facts.content_hash,
        recipe=facts.recipe, date=options.date, moving=options.moving,
    )  # fmt: skip
    endpoint = endpoint_override(options.registry_endpoint)

    ecr, _ = aws.clients(region)
    repo = ensure_repository(ecr, options.repository)
    moves_here = all(repo.can_move(tag) for tag in plan.moving)
    if not moves_here and not options.moving_repository:
        raise UsageError(
            f"repository {repo.name} has immutable tags, so it cannot carry moving tags"
            f" ({', '.join(plan.moving)}). Pass --moving-repository NAME (a separate repository"
            " with mutable tags, created if missing), or drop --moving-tags."
        )
    auth = authorize(ecr, repo.registry_id, endpoint)
    # Every moving tag's precondition before the first push: where it goes, what it names now.
    target: Repository | None = repo
    if plan.moving and not moves_here:
        target = find_repository(ecr, options.moving_repository)
        if target is not None and not all(target.can_move(tag) for tag in plan.moving):
            raise UsageError(
                f"--moving-repository {target.name} has immutable tags; it needs mutable ones"
            )
    planned = plan_moving(ecr, auth, target, plan.moving, facts, options.retry) if target else []

    manifest, pushed, stats = publish_fixed(
        client, ecr, auth, repo, facts, plan.fixed, options.retry, out
    )
    if allow_accounts:
        allow_cross_account_pulls(ecr, repo, allow_accounts, region)

    result = PushResult(
        f"{repo.uri}@{manifest.digest}", manifest.digest, repo.uri, region, facts.arch,
        facts.r_version, [*plan.fixed, plan.readable], pushed, stats=stats,
    )  # fmt: skip
    result.readable = {plan.readable: place_readable(ecr, repo, plan.readable, manifest)}
    if plan.moving:
        if not moves_here:
            settings = options.repository
            target = ensure_repository(
                ecr,
                RepositorySettings(
                    options.moving_repository, "MUTABLE", settings.scan_on_push,
                    settings.keep_untagged, settings.create,
                ),
            )  # fmt: skip
            if not all(target.can_move(tag) for tag in plan.moving):
                raise UsageError(
                    f"--moving-repository {target.name} has immutable tags; it needs mutable ones"
                )
            publish_fixed(client, ecr, auth, target, facts, plan.fixed[:1], options.retry, out)
            if allow_accounts:
                allow_cross_account_pulls(ecr, target, allow_accounts, region)
            result.moving_repository_uri = target.uri
            if not planned:  # created just now: every moving tag is new there
                planned = [MovingTag(tag, None, None) for tag in plan.moving]
        assert target is not None
        result.moving = move_tags(ecr, target, planned, manifest)
    return result
