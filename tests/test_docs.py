"""The documentation site: the config reference, generated from ``configs/`` and the schemas,
lists every option and key with the defaults Hydra composes; every page is in the nav; and,
where mkdocs is installed, the site builds in strict mode."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DOCS = ROOT / "docs"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "scripts" / "config_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as MkDocs loads a hook: its dataclasses need it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def page(generator: ModuleType) -> str:
    return generator.render()


def sections(page: str) -> dict[str, str]:
    """The page's sections by the id of their heading (``## ... {#id}``)."""
    out = {}
    for block in re.split(r"\n(?=##+ )", page):
        found = re.match(r"##+ .*\{#([\w-]+)\}", block)
        if found:
            out[found[1]] = block
    return out


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def option_files() -> list[tuple[str, Path]]:
    """Every option's YAML on disk: ``configs/GROUP/NAME.yaml``, and under ``configs/hydra/``
    the launchers (the other Hydra groups hold help and logging templates, not settings)."""
    out = []
    for path in sorted(CONFIGS.rglob("*.yaml")):
        group = path.parent.relative_to(CONFIGS).as_posix()
        if group != "." and (not group.startswith("hydra/") or group == "hydra/launcher"):
            out.append((group, path))
    return out


def flatten(data: object, prefix: str) -> list[str]:
    if not isinstance(data, dict) or not data:
        return [prefix.rstrip(".")]
    return [key for k, v in data.items() for key in flatten(v, f"{prefix}{k}.")]


def documented(section: str) -> dict[str, str]:
    """The keys an option's section gives, with their defaults as written on the page: its
    table rows and its ``name`` and ``_target_`` line."""
    rows = re.findall(r"^\| `([^`]+)` \| [^|]*? \| `((?:[^`]|\\\|)*)` \|", section, re.M)
    ident = re.findall(r"`([\w.]+\.(?:name|_target_))`: `([^`]*)`\.", section)
    return {key: value.replace("\\|", "|") for key, value in rows + ident}


def test_every_option_and_key_of_configs_is_in_the_reference(page: str):
    from al_cli import config as schemas

    found = sections(page)
    assert len(option_files()) >= 40
    for group, path in option_files():
        section = found.get(anchor(f"{group}-{path.stem}"))
        assert section, f"{path.relative_to(ROOT)} has no section in the reference"
        text = path.read_text()
        data = yaml.safe_load(text) or {}
        defaults = data.pop("defaults", None) or []
        package = "" if "@package _global_" in text else group.replace("/", ".") + "."
        for key in flatten(data, package) if data else []:
            assert f"`{key}`" in section, f"{key} of {path.name} is not in its section"
        for item in defaults:  # every field of every schema the option names
            named = re.fullmatch(r"/(\w+?)_(\w+_schema)@(\w+)", str(item))
            if named:
                schema = schemas.SCHEMAS[named[1]][named[2]]
                at = "" if named[3] == "_here_" else named[3] + "."
                for f in dataclasses.fields(schema):
                    key = f"{package}{at}{f.name}"
                    assert f"`{key}`" in section, f"{key} of {path.name} is not in its section"
    groups = {
        "dataset", "model", "posterior", "strategy", "representation", "budget", "trainer", "logger"
    }  # fmt: skip
    top = found["top-level"]
    for f in dataclasses.fields(schemas.RootConfig):
        if f.name == "paths":
            keys = [f"paths.{p.name}" for p in dataclasses.fields(schemas.PathsConfig)]
        else:
            keys = [] if f.name in groups else [f.name]
        for key in keys:
            assert f"`{key}`" in top, f"top-level key {key} is not in the reference"


COMPOSED = [
    (
        ["dataset=image_folder", "model=cnn", "strategy=qbc", "logger=[mlflow,tensorboard]"],
        ["dataset", "model", "strategy", "logger", "budget", "trainer"],
    ),
    (
        ["dataset=synthetic", "model=lenet", "posterior=laplace", "strategy=eer"],
        ["dataset", "model", "posterior", "strategy"],
    ),
    (
        ["model=resnet18", "strategy=batchbald", "hydra/launcher=slurm"],
        ["model", "posterior", "strategy", "hydra"],
    ),
]


@pytest.mark.parametrize("overrides, compared", COMPOSED, ids=lambda v: " ".join(v))
def test_reference_keys_and_defaults_are_what_hydra_composes(
    generator: ModuleType, page: str, overrides: list[str], compared: list[str]
):
    from hydra import compose, initialize_config_module

    import al_cli.config  # noqa: F401  (stores the schemas that the configs name)

    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    found = sections(page)
    for group in compared:
        path = "hydra.launcher" if group == "hydra" else group
        node = cfg.hydra.launcher if group == "hydra" else cfg[group]
        group_dir = path.replace(".", "/")
        options = list(node) if group == "logger" else [choices[group_dir]]
        listed: dict[str, str] = {}
        for option in options:
            listed.update(documented(found[anchor(f"{group_dir}-{option}")]))
        listed = {key: value for key, value in listed.items() if key.startswith(path + ".")}
        composed = {
            f"{path}.{key}": generator.show(value) for key, value, _ in generator.leaves(node, "")
        }
        assert listed == composed, f"{group}: the reference differs from Hydra's composition"


def test_yaml_comments_documents_keys_not_lists():
    from_generator = load_generator().yaml_comments(
        "# @package _global_\n"
        "# What the option is.\n"
        "#   al run +x=y\n"
        "defaults:\n"
        "  # about the list: documents nothing\n"
        "  - /some_schema@_here_\n"
        "\n"
        "# the learning rate\n"
        "lr: 0.1\n"
        "# a comment cut off by a blank line\n"
        "\n"
        "epochs: 3  # inline note\n"
        "outer:\n"
        "  # nested\n"
        "  inner: 1\n"
    )
    assert from_generator.package_global
    assert from_generator.header == ["What the option is.", "  al run +x=y"]
    assert from_generator.comments == {
        "lr": "the learning rate",
        "epochs": "inline note",
        "outer.inner": "nested",
    }


def test_every_yaml_comment_is_on_the_page(generator: ModuleType, page: str):
    found = sections(page)
    for group, path in option_files():
        section = found[anchor(f"{group}-{path.stem}")]
        doc = generator.yaml_comments(path.read_text())
        for note in doc.comments.values():
            assert generator.markdown(note) in section, f"{path.name}: {note!r} is missing"
        for paragraph in generator.paragraphs(doc.header):
            assert paragraph in section, f"{path.name}: {paragraph!r} is missing"


def test_every_page_is_in_the_nav_and_every_nav_entry_exists(generator: ModuleType):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    site = SimpleNamespace(nav=config["nav"], docs_dir=str(DOCS))
    generator.on_config(site)

    def paths(entries) -> list[str]:
        out = []
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            out += paths(value) if isinstance(value, list) else [value]
        return out

    nav = paths(site.nav)
    excluded = set(config.get("exclude_docs", "").split())
    pages = {
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*.md")
        if p.name not in excluded and p.parent.name != "figures"
    }
    assert generator.PAGE in nav
    assert sorted(set(nav) - {generator.PAGE}) == sorted(pages)


def test_site_builds_in_strict_mode(tmp_path: Path):
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"{module} is not installed: pip install -e '.[dev]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr, done.stderr[-4000:]
    reference = (site / "reference" / "config" / "index.html").read_text()
    assert 'id="strategy-bald"' in reference and "strategy.temperature" in reference
    assert "al_cli.api.run" in (site / "reference" / "python-api" / "index.html").read_text()
