"""The config-group reference page, generated from ``configs/`` and the schemas in
``al_cli/config.py``, so it cannot drift from them.

Every option's YAML is merged over the schemas its defaults list names, as Hydra composes it,
so its keys and defaults are those ``al run GROUP=OPTION --cfg job`` shows (a test compares
them). A key's type comes from its schema; its description from the comment above it in the
option's YAML, else from the comment above its field in ``al_cli/config.py``, else from the
docstring of the schema class that declares it.

    python scripts/config_reference.py > config.md     # the page, printed

``mkdocs.yml`` names this file as a hook: ``mkdocs build`` adds the page to the site as
``reference/config.md`` (nothing is written to ``docs/``), and adds any page of
``docs/benchmarks/`` that the nav does not name to its Benchmarks section.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import al_cli.configs
import yaml
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from omegaconf import DictConfig, OmegaConf

import al_cli.config as schemas
from al_cli.identity import flatten

CONFIGS = Path(al_cli.configs.__file__).resolve().parent
PAGE = "reference/config.md"
"""Where the page goes in the site (``docs/``-relative); ``mkdocs.yml``'s nav names it."""

HYDRA_GROUPS = ("hydra/launcher",)
"""Groups under ``configs/hydra/`` that hold settings (the others would be Hydra's help and
logging templates)."""

# -- comments in a YAML file -----------------------------------------------------------------

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*)\s*:(?P<rest>.*)$")


@dataclass
class YamlDoc:
    """A YAML file's header comment (its lines up to the first non-comment line), and the
    comment that documents each key (the comment lines right above it, or after it on its line),
    by dotted path inside the file."""

    header: list[str] = field(default_factory=list)
    package_global: bool = False
    comments: dict[str, str] = field(default_factory=dict)


def yaml_comments(text: str) -> YamlDoc:
    """Read the comments of a YAML file. Comments inside lists (a defaults list) and comments
    separated from the next key by a blank line document nothing."""
    doc = YamlDoc()
    lines = text.splitlines()
    start = 0
    while start < len(lines) and lines[start].lstrip().startswith("#"):
        line = comment_text(lines[start])
        if line.startswith("@package"):
            doc.package_global = "_global_" in line
        else:
            doc.header.append(line)
        start += 1
    pending: list[str] = []
    parents: list[tuple[int, str]] = []
    for line in lines[start:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(comment_text(line).strip())
            continue
        match = KEY_LINE.match(line) if stripped else None
        if match is None:
            pending = []
            continue
        indent = len(match["indent"])
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = ".".join([p for _, p in parents] + [match["key"]])
        parents.append((indent, match["key"]))
        value, _, inline = match["rest"].partition(" #")
        notes = pending + ([inline.strip()] if inline.strip() else [])
        if notes:
            doc.comments[path] = " ".join(n for n in notes if n)
        pending = []
    return doc


def comment_text(line: str) -> str:
    """A comment line without its ``#`` and the one space after it (further indentation
    kept: it marks a command inside a comment)."""
    text = line.strip()[1:]
    return text[1:] if text.startswith(" ") else text


# -- comments in the schemas -----------------------------------------------------------------

FIELD_LINE = re.compile(r"^    (?P<name>\w+)\s*:")


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """What documents each field of an al schema class (and its bases): the comment lines right
    above it, else the docstring of the class that declares it (``Option``'s aside: the page
    says it once)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("al_cli"):
            continue
        if klass is not schemas.Option and own_doc(klass):
            out.update(dict.fromkeys(vars(klass).get("__annotations__", {}), own_doc(klass)))
        pending: list[str] = []
        for line in inspect.getsource(klass).splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                pending.append(comment_text(line).strip())
                continue
            match = FIELD_LINE.match(line)
            if match and pending:
                out[match["name"]] = " ".join(pending)
            pending = []
    return out


def own_doc(cls: type) -> str:
    """A class's docstring, or "" for the signature a dataclass writes when it has none."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    return "" if doc.startswith(f"{cls.__name__}(") else " ".join(doc.split())


def type_name(annotation: Any) -> str:
    """A field's type as a user writes its values: ``int``, ``list[float]``, ``str or null``."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
    text = str(annotation) if text is None or text in ("Optional", "List", "Dict") else text
    text = text.replace("typing.", "")
    text = re.sub(r"\b(List|Dict)\[", lambda m: m[1].lower() + "[", text)
    optional = re.fullmatch(r"Optional\[(.*)\]", text)
    return f"{optional[1]} or null" if optional else text


# -- what the reference holds ----------------------------------------------------------------


@dataclass
class Key:
    path: str
    type: str
    default: str
    doc: str


@dataclass
class Option:
    group: str
    name: str
    doc: list[str]
    schema: type | None
    picks: dict[str, str]
    keys: list[Key]
    also: list[Key]

    @property
    def anchor(self) -> str:
        return anchor(f"{self.group}-{self.name}")


@dataclass
class Group:
    name: str
    default: str | None
    options: list[Option]

    @property
    def anchor(self) -> str:
        return anchor(self.name)


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def show(value: Any) -> str:
    """A value as it is written on the command line or in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if value == "???":
        return "(required)"
    return str(value) if value != "" else "''"


def leaves(node: Any, prefix: str, skip: Any = ()) -> list[tuple[str, Any, DictConfig]]:
    """Every key below ``node`` but those in ``skip``, with its value and the node that holds
    it; lists and empty mappings are values."""
    out = []
    for key in node:
        if key in skip:
            continue
        child = node._get_node(key)
        path = f"{prefix}{key}"
        if isinstance(child, DictConfig) and len(child) > 0:
            out.extend(leaves(child, f"{path}."))
        else:
            value = (
                OmegaConf.to_container(child, resolve=False)
                if OmegaConf.is_config(child)
                else (child._value())
            )
            out.append((path, value, node))
    return out


def describe_keys(
    node: DictConfig, prefix: str, comments: dict[str, str], skip: Any = ()
) -> list[Key]:
    """The keys below ``node`` (full paths start with ``prefix``) but those under ``skip``,
    typed by their schema and documented by the YAML comment under their path, else by the
    schema's field comment."""
    keys = []
    for path, value, holder in leaves(node, prefix, skip):
        name = path.rsplit(".", 1)[-1]
        schema = OmegaConf.get_type(holder)
        kind, doc = "", comments.get(path, "")
        if schema is not None and dataclasses.is_dataclass(schema):
            types = {f.name: f.type for f in dataclasses.fields(schema)}
            kind = type_name(types[name]) if name in types else ""
            doc = doc or field_docs(schema).get(name, "")
        keys.append(Key(path, kind, show(value), doc))
    return keys


def option_files() -> dict[str, list[Path]]:
    """Every option's YAML, by group (``configs/GROUP/OPTION.yaml``), the groups of
    ``configs/hydra/`` that hold settings included."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(CONFIGS.rglob("*.yaml")):
        group = path.parent.relative_to(CONFIGS).as_posix()
        if group == "." or (group.startswith("hydra/") and group not in HYDRA_GROUPS):
            continue
        groups.setdefault(group, []).append(path)
    return groups


def place(path: str, value: Any) -> Any:
    """``value`` at the dotted ``path`` of an otherwise empty mapping."""
    for part in reversed(path.split(".")) if path else ():
        value = {part: value}
    return value


def compose_file(group: str, data: dict[str, Any], package_global: bool) -> tuple[Any, dict]:
    """What one YAML file of ``group`` composes to, as Hydra composes it: the schemas its
    defaults list names (from Hydra's ConfigStore, each in its package) with the file's values
    merged over them; and the options the file picks for other groups (``override /GROUP``)."""
    package = "" if package_global else group.replace("/", ".")
    root = ConfigStore.instance().load("al_schema.yaml").node
    top = package.split(".")[0]
    cfg = OmegaConf.create(root if top in root or not package else {})
    picks = {}
    for item in data.pop("defaults", None) or ():
        if isinstance(item, dict):
            for target, choice in item.items():
                override = re.fullmatch(r"override /?([\w/]+)(@[\w.]+)?", target)
                if override:
                    picks[override[1]] = choice
            continue
        if item == "_self_":
            continue
        target, _, at = item.partition("@")
        name = target.lstrip("/") if target.startswith("/") or not group else f"{group}/{target}"
        node = ConfigStore.instance().load(f"{name}.yaml").node
        where = package if at in ("", "_here_") else ".".join(p for p in (package, at) if p)
        cfg = OmegaConf.merge(cfg, OmegaConf.create(place(where, node)))
    return OmegaConf.merge(cfg, place(package, data)), picks


def read_option(group: str, path: Path) -> Option:
    """One option: its description, schema, picks and keys, from its YAML and its schemas."""
    text = path.read_text()
    doc = yaml_comments(text)
    data = yaml.safe_load(text) or {}
    cfg, picks = compose_file(group, data, doc.package_global)
    own = group.replace("/", ".")
    prefix = "" if doc.package_global else own + "."
    comments = {prefix + key: note for key, note in doc.comments.items()}
    node = OmegaConf.select(cfg, own) if group != "experiment" else None
    keys = describe_keys(node, own + ".", comments) if node else []
    also = [
        Key(key, "", show(value), comments.get(key, ""))
        for key, value in flatten(place(prefix.rstrip("."), data)).items()
        if doc.package_global and not key.startswith(own + ".")
    ]
    schema = None
    if node and group == "logger":
        node = node[next(iter(node))]
    if node:
        schema = OmegaConf.get_type(node)
    return Option(group, path.stem, doc.header, schema, picks, keys, also)


def collect() -> tuple[list[Key], str, list[Group]]:
    """The top-level keys, the run folder's note, and every group with its options."""
    text = (CONFIGS / "config.yaml").read_text()
    doc = yaml_comments(text)
    data = yaml.safe_load(text)
    defaults = {}
    for item in data["defaults"]:
        if isinstance(item, dict):
            defaults.update({k: v for k, v in item.items() if not k.startswith("override")})
    Plugins.instance()  # Hydra's plugins store their schemas (hydra/launcher/submitit_slurm)
    files = option_files()
    order = [g for g in defaults if g in files] + sorted(g for g in files if g not in defaults)
    hydra = data.pop("hydra", {})
    cfg, _ = compose_file("", data, package_global=True)
    top = describe_keys(cfg, "", doc.comments, skip={g.split("/")[0] for g in files})
    run_dir = f"`hydra.run.dir`: `{hydra['run']['dir']}`. {doc.comments.get('hydra', '')}"
    groups = [
        Group(group, defaults.get(group), [read_option(group, path) for path in files[group]])
        for group in order
    ]
    types = {
        (group.name, option.name, key.path): key.type
        for group in groups
        for option in group.options
        for key in option.keys
    }
    chosen = {group.name: group.default for group in groups}
    for group in groups:
        for option in group.options:
            for key in option.also:
                other = key.path.split(".")[0]
                pick = option.picks.get(other, chosen.get(other))
                key.type = types.get((other, pick, key.path), "")
    return top, run_dir, groups


# -- the page ----------------------------------------------------------------------------------


def markdown(text: str) -> str:
    """Comment or docstring text for a Markdown table cell: code spans kept, RST's double
    backticks made single, and outside code the characters Markdown or HTML would read."""
    parts = text.replace("``", "`").split("`")
    for i in range(0, len(parts), 2):
        part = parts[i]
        for char in "\\*_[]|":
            part = part.replace(char, "\\" + char)
        parts[i] = part.replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts) if len(parts) % 2 else "`".join(parts) + "`"


def key_table(keys: list[Key], value: str = "default") -> list[str]:
    rows = [f"| key | type | {value} | what it is |", "|---|---|---|---|"]
    for key in keys:
        default = key.default.replace("|", "\\|")
        rows.append(f"| `{key.path}` | {markdown(key.type)} | `{default}` | {markdown(key.doc)} |")
    return rows


def paragraphs(lines: list[str]) -> list[str]:
    """Header comment lines as paragraphs: indented lines (commands) as code of their own."""
    out: list[str] = []
    prose: list[str] = []
    for line in lines + [""]:
        if line.startswith(" ") or not line.strip():
            if prose:
                out += [markdown(" ".join(prose)), ""]
                prose = []
            if line.strip():
                out += [f"`{line.strip()}`", ""]
        else:
            prose.append(line.strip())
    return out


def schema_name(cls: type) -> str:
    """A schema's class, and the name an option's defaults list gives it by (its own options'
    YAML under ``--config-dir`` can name it too: ``- /strategy_scoring_schema@_here_``)."""
    stored = [
        f"{group}_{name}"
        for group, named in schemas.SCHEMAS.items()
        for name, klass in named.items()
        if klass is cls
    ]
    where = f"`{cls.__module__}.{cls.__name__}`"
    return f"{where}, stored as `{stored[0]}`" if stored else where


GUIDES = {
    "top-level": "[`al run`](al-run.md#top-level-keys)",
    "dataset": "[Data sets and models](data-and-models.md), [Your own data](../how-to/own-data.md)",
    "model": "[Models](data-and-models.md#models), [Extending al](../how-to/extending.md)",
    "posterior": "[Strategies and posteriors](strategies.md)",
    "strategy": "[Strategies and posteriors](strategies.md)",
    "representation": "[Representations](../how-to/representations.md)",
    "budget": "[`al run`](al-run.md)",
    "trainer": "[`al run`](al-run.md), [GPUs](data-and-models.md#gpus)",
    "logger": "[Tracking](../how-to/tracking.md)",
    "experiment": "[Reproducing Gal et al. 2017](../how-to/gal2017.md)",
    "hydra/launcher": "[Sweeps](../how-to/sweeps.md), [Running on a cluster](../how-to/cluster.md)",
}
"""Where the guides explain a group's keys in prose (links from ``reference/config.md``)."""


def choosing(group: Group) -> str:
    if group.name == "experiment":
        text = "Added with `+experiment=NAME`: a preset that sets several groups and keys at once."
    elif group.name.startswith("hydra/"):
        text = (
            f"Chosen with `{group.name}=NAME` for a sweep (`al run -m ...`); Hydra's plugins add "
            "`joblib`, `submitit_local` and `submitit_slurm`."
        )
    else:
        default = f"; default `{group.default}`" if group.default else ""
        text = f"Chosen with `{group.name}=NAME`{default}."
    guide = GUIDES.get(group.name)
    return f"{text} In prose: {guide}." if guide else text


def identity(option: Option) -> tuple[list[Key], list[Key]]:
    """An option's ``name`` and ``_target_`` (of the groups whose options have them), and its
    other keys."""
    if option.group not in schemas.SCHEMAS:
        return [], option.keys
    ident = [k for k in option.keys if k.path.rsplit(".", 1)[-1] in ("name", "_target_")]
    return ident, [k for k in option.keys if k not in ident]


def render() -> str:
    """The page: the groups and their options, the top-level keys, then group by group every
    option with its description, schema, the options it picks, and its keys."""
    top, run_dir, groups = collect()
    lines = [
        "# Config groups",
        "",
        "Generated from `configs/` and the schemas in `al_cli/config.py` when the site is built:",
        "every option of every group, every key with its type, its default and the comment that",
        "documents it. Override a key as `group.key=value` (`al run strategy=bald",
        "strategy.temperature=0.5`); `al run <overrides> --cfg job` prints the composed config.",
        "An option's keys, and only those, may be set: any other key is refused before anything",
        f"runs. Every option has `name` and `_target_`: {markdown(own_doc(schemas.Option))}",
        "",
        "| group | options | default |",
        "|---|---|---|",
    ]
    for group in groups:
        links = ", ".join(f"[`{o.name}`](#{o.anchor})" for o in group.options)
        default = f"`{group.default}`" if group.default else ""
        lines.append(f"| [`{group.name}`](#{group.anchor}) | {links} | {default} |")
    lines += ["", "## Top-level keys {#top-level}", "", f"In prose: {GUIDES['top-level']}.", ""]
    lines += [*key_table(top), "", markdown(run_dir), ""]
    for group in groups:
        lines += [f"## `{group.name}` {{#{group.anchor}}}", "", choosing(group), ""]
        for option in group.options:
            lines += [f"### `{option.group}={option.name}` {{#{option.anchor}}}", ""]
            lines += paragraphs(option.doc)
            ident, keys = identity(option)
            facts = [f"`{k.path}`: `{k.default}`." for k in ident]
            if option.schema is not None:
                facts.append(f"Schema: {schema_name(option.schema)}.")
            if option.picks:
                chosen = ", ".join(f"`{g}={c}`" for g, c in option.picks.items())
                facts.append(f"Picks {chosen} (a later `GROUP=NAME` overrides it).")
            if facts:
                lines += [" ".join(facts), ""]
            if keys:
                lines += [*key_table(keys), ""]
            if option.also:
                lines += ["Sets:", "", *key_table(option.also, "value"), ""]
    return "\n".join(lines)


# -- the MkDocs hook ---------------------------------------------------------------------------


def on_config(config: Any) -> Any:
    """Benchmark pages that the nav does not name yet join its Benchmarks section, under their
    title, so a new page in ``docs/benchmarks/`` is never left out of the site's menu."""
    for section in config.nav or ():
        if isinstance(section, dict) and "Benchmarks" in section:
            pages = section["Benchmarks"]
            listed = {next(iter(p.values())) if isinstance(p, dict) else p for p in pages}
            for path in sorted((Path(config.docs_dir) / "benchmarks").glob("*.md")):
                if f"benchmarks/{path.name}" not in listed:
                    pages.append({page_title(path): f"benchmarks/{path.name}"})
    return config


def page_title(path: Path) -> str:
    """A Markdown page's first level-1 heading, else its file name."""
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def on_files(files: Any, config: Any) -> Any:
    """Add the generated page to the site's files (MkDocs calls this before it builds the nav)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files


if __name__ == "__main__":
    print(render())
