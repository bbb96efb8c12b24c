"""Which tags a push puts in the registry, for which inputs (pure functions, no Docker)."""

import datetime

import pytest

from rlambda.errors import UsageError
from rlambda.registry.repository import Repository
from rlambda.target.tags import (
    Variant,
    content_tag,
    moves_forward,
    moving_tags,
    parse_readable_tag,
    plan_tags,
    readable_tag,
)

HASH = "0123456789abcdef" + "f" * 48


def test_existing_functions_keep_their_behaviour():
    assert readable_tag("4.5.0", "debian", "x86_64") == "r-4.5.0-debian-x86_64"
    assert content_tag(HASH) == "content-0123456789abcdef"


def test_plain_push_has_content_and_readable_tags_only():
    plan = plan_tags("4.2.2", "debian", "x86_64", HASH)
    assert plan.fixed == ("content-0123456789abcdef",)
    assert plan.readable == "r-4.2.2-debian-x86_64"
    assert plan.moving == ()


def test_recipe_goes_between_version_and_family():
    plan = plan_tags("4.2.2", "al2023", "arm64", HASH, recipe="geo")
    assert plan.readable == "r-4.2.2-geo-al2023-arm64"


def test_dated_tag_for_scheduled_rebuilds():
    plan = plan_tags("4.2.2", "debian", "x86_64", HASH, date=datetime.date(2026, 11, 21))
    assert plan.fixed == ("content-0123456789abcdef", "r-4.2.2-debian-x86_64-20261121")


@pytest.mark.parametrize(
    ("family", "arch", "recipe", "expected"),
    [
        # The default variant also gets the bare names.
        (
            "al2023",
            "x86_64",
            None,
            [
                "r-4.2-al2023-x86_64",
                "r-4-al2023-x86_64",
                "latest-al2023-x86_64",
                "r-4.2",
                "r-4",
                "latest",
            ],
        ),
        # Any other variant only its suffixed ones, so variants never take each other's names.
        (
            "debian",
            "x86_64",
            None,
            ["r-4.2-debian-x86_64", "r-4-debian-x86_64", "latest-debian-x86_64"],
        ),
        (
            "al2023",
            "arm64",
            None,
            ["r-4.2-al2023-arm64", "r-4-al2023-arm64", "latest-al2023-arm64"],
        ),
        (
            "al2023",
            "x86_64",
            "geo",
            ["r-4.2-geo-al2023-x86_64", "r-4-geo-al2023-x86_64", "latest-geo-al2023-x86_64"],
        ),
    ],
)
def test_moving_tags(family, arch, recipe, expected):
    assert moving_tags("4.2.2", family, arch, recipe) == expected
    assert plan_tags("4.2.2", family, arch, HASH, recipe=recipe, moving=True).moving == tuple(
        expected
    )


def test_moving_tags_only_move_forward():
    assert moves_forward(None, "4.2.2")
    assert moves_forward("4.2.2", "4.2.2")  # a scheduled rebuild of the same release
    assert moves_forward("4.2.1", "4.2.2")
    assert moves_forward("4.2.2", "4.10.0")  # versions compare as versions, not strings
    assert not moves_forward("4.5.0", "4.2.2")


@pytest.mark.parametrize("recipe", ["Geo", "geo--x", "geo.x", "-geo", "geo/x", "a" * 64, ""])
def test_recipe_names_that_cannot_be_tags(recipe):
    with pytest.raises(UsageError, match="cannot go into an image tag"):
        plan_tags("4.2.2", "debian", "x86_64", HASH, recipe=recipe)


@pytest.mark.parametrize(
    ("tag", "variant"),
    [
        ("r-4.5.0-debian-x86_64", Variant("4.5.0", "debian", "x86_64", None)),
        ("r-4.2.2-geo-al2023-arm64", Variant("4.2.2", "al2023", "arm64", "geo")),
        ("r-4.2.2-geo-debian-al2-x86_64", Variant("4.2.2", "al2", "x86_64", "geo-debian")),
        ("content-0123456789abcdef", None),
        ("r-4.2-debian-x86_64", None),  # a moving tag names no single release
    ],
)
def test_parse_readable_tag(tag, variant):
    assert parse_readable_tag(tag) == variant
    if variant is not None:
        assert readable_tag(variant.r_version, variant.family, variant.arch, variant.recipe) == tag


CANDIDATES = {
    "r-4.5.0-debian-x86_64", "r-4.2-debian-x86_64", "latest-debian-x86_64", "latest", "r-4.2",
    "content-0123456789abcdef", "r-4.5.0-debian-x86_64-20261121",
}  # fmt: skip
FOLLOWING = CANDIDATES - {"content-0123456789abcdef", "r-4.5.0-debian-x86_64-20261121"}


@pytest.mark.parametrize(
    ("mutability", "exclusions", "movable"),
    [
        ("MUTABLE", (), CANDIDATES),
        ("IMMUTABLE", ("r*x86_64",), set()),  # filters only count with _WITH_EXCLUSION
        ("IMMUTABLE_WITH_EXCLUSION", ("r-*-x86_64", "latest*"), FOLLOWING - {"r-4.2"}),
        # The policy the README recommends: content and dated tags pinned, all others move.
        ("MUTABLE_WITH_EXCLUSION", ("content-*", "*-x86_64-20*", "*-arm64-20*"), FOLLOWING),
    ],
)
def test_which_tags_a_repository_lets_move(mutability, exclusions, movable):
    repo = Repository("r", "uri", "1", mutability, exclusions)
    assert {t for t in CANDIDATES if repo.can_move(t)} == movable
