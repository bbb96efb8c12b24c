"""The data rules (rlambda/recipes/data/runtime-data.toml): files libraries open at run time."""

import pytest

from rlambda.errors import UsageError
from rlambda.pins import package_db
from rlambda.recipes import data_files, load_lock, load_recipe, recipe_dir


def test_every_rule_names_its_source_files_and_packages_each_family_can_install():
    rules = data_files.data_rules()
    assert {"proj", "gdal", "udunits2", "fontconfig"} <= set(rules)
    db = package_db.load()
    for rule in rules.values():
        assert rule.source and rule.files and rule.packages["debian"], rule.name
        for name in rule.packages["al2023"]:
            assert db.repo("al2023", name) in ("core", "spal"), (rule.name, name)


def test_geo_plot_needs_all_four_and_xml_extract_none():
    geo = recipe_dir("geo-plot")
    lock = load_lock(geo, load_recipe(geo))
    names = [r.name for r in data_files.recipe_data_rules(lock)]
    assert names == ["fontconfig", "gdal", "proj", "udunits2"]
    xml = recipe_dir("xml-extract")
    assert data_files.recipe_data_rules(load_lock(xml, load_recipe(xml))) == []


HEAD = '[proj]\nwhy = "w"\nsource = "s"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD.replace("proj", "nosuchrule") + 'files = ["/a"]\n', "expected the name of a rule"),
        (HEAD + "files = []\n", "key proj.files: expected a non-empty array"),
        (HEAD + 'files = ["a b; rm"]\n', "key proj.files: expected paths or globs"),
        (HEAD + 'files = ["/a"]\ndebian = { packages = ["x y"] }\n', "key proj.debian.packages"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_key(tmp_path, text, message):
    path = tmp_path / "runtime-data.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        data_files.data_rules(path)
