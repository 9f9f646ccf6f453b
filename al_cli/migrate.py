"""``al migrate RESULTS_DIR``: move run folders made before per-option schemas to where this
version of ``al`` looks for them, so finished runs are skipped and unfinished ones resume.

Those runs recorded one flat config per group (every strategy had every other strategy's keys,
the posterior was ``strategy.posterior``), and their folder hash covered all of it. Each such run
is composed anew from its choices (dataset, model, strategy, posterior) and the values it
recorded for the keys that the chosen options still read; its folder then moves to the new
hash, and its run.json and checkpoint take the new config and identity.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from al_cli.files import in_hidden
from al_cli.identity import RENAMED, identity_hash

GROUPS = ("dataset", "model", "posterior", "strategy", "budget", "trainer")
CONFIG_FOLDER = re.compile(r"(.+)-[0-9a-f]{8}")
SEED_FOLDER = re.compile(r"seed-?\d+")


def in_layout(run: Path) -> bool:
    """Whether ``run`` is a folder of al's own layout, ``.../<strategy>-<hash>/seed<N>``."""
    return bool(CONFIG_FOLDER.fullmatch(run.parent.name) and SEED_FOLDER.fullmatch(run.name))


def legacy_twin(out_dir: Path, identity: dict[str, Any]) -> Path | None:
    """A run folder beside ``out_dir`` that an earlier version made for the same settings."""
    if not in_layout(out_dir):
        return None
    stem = CONFIG_FOLDER.fullmatch(out_dir.parent.name).group(1)
    pattern = f"{glob.escape(stem)}-*/{glob.escape(out_dir.name)}/run.json"
    for path in sorted(out_dir.parent.parent.glob(pattern)):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if is_legacy(info) and matches(info["config"], identity):
            return path.parent
    return None


def is_legacy(info: dict[str, Any]) -> bool:
    """A run.json written before per-option schemas: a config, but no config_hash."""
    return isinstance(info.get("config"), dict) and "config_hash" not in info


def old_value(old: dict[str, Any], group: str, key: str) -> tuple[bool, Any]:
    """(found, value) of ``group.key`` in an earlier version's config."""
    if group == "posterior" and key == "name":
        return "posterior" in old.get("strategy", {}), old.get("strategy", {}).get("posterior")
    src_group, src_key = RENAMED.get((group, key), (group, key))
    node = old.get(src_group, {})
    return (src_key in node, node.get(src_key)) if isinstance(node, dict) else (False, None)


def matches(old: dict[str, Any], identity: dict[str, Any]) -> bool:
    """Whether an earlier version's config computes what ``identity`` (``identity_config`` of
    this version) computes. Keys an earlier version lacked are taken to match: they are new,
    with defaults that keep the earlier behaviour. ``_target_`` paths may have moved."""
    for group in GROUPS:
        for key, value in identity.get(group, {}).items():
            found, before = old_value(old, group, key)
            if key != "_target_" and found and before != value:
                return False
    return all(old.get(k) == identity.get(k) for k in ("seed", "device"))


def migrated_config(old: dict[str, Any]) -> Any:
    """This version's config for a run an earlier version made (Hydra's compose API)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import al_cli.config  # noqa: F401  (the schemas)

    choices = [f"{g}={old[g]['name']}" for g in ("dataset", "model", "strategy")]
    choices.append(f"posterior={old['strategy'].get('posterior', 'deterministic')}")
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=choices)
    for group in GROUPS:
        for key in list(cfg[group]):
            found, value = old_value(old, group, str(key))
            if found and key not in ("_target_", "name"):
                OmegaConf.update(cfg, f"{group}.{key}", value, merge=False)
    for key in ("seed", "device", "resume", "deterministic", "paths"):
        if key in old:
            OmegaConf.update(cfg, key, old[key], merge=True)
    return cfg


def migrate_run(run: Path, dry_run: bool) -> tuple[Path, Path] | None:
    """Move one run folder (``.../<strategy>-<hash>/seed<N>``); returns (from, to) or None when
    it is already where this version looks."""
    from omegaconf import OmegaConf

    from al_cli.files import QUERY_COLUMNS, atomic_write_text, csv_text
    from al_cli.results import (
        CHECKPOINT,
        identity_config,
        load_checkpoint,
        plain,
        save_checkpoint,
    )

    if not in_layout(run):
        raise ValueError("it is not in al's folder layout (<strategy>-<hash>/seed<N>)")
    info = json.loads((run / "run.json").read_text())
    cfg = migrated_config(info["config"])
    identity = plain(identity_config(cfg))
    if not matches(info["config"], identity):
        raise ValueError("its config does not map onto this version's options")
    new_hash = identity_hash(identity)
    stem = run.parent.name.rsplit("-", 1)[0]
    target = run.parent.parent / f"{stem}-{new_hash}" / run.name
    if target == run:
        return None
    if target.exists() and not only_hydra_record(target):
        raise ValueError(f"{target} holds another run")
    if dry_run:
        return run, target
    config = OmegaConf.to_container(cfg, resolve=True)
    checkpoint = load_checkpoint(run / CHECKPOINT)
    if checkpoint is not None:
        checkpoint.update(identity=identity, config=plain(config))
        save_checkpoint(run / CHECKPOINT, checkpoint)
        queries = [{**q, "score": q.get("score", "")} for q in checkpoint["queries"]]
        atomic_write_text(run / "queries.csv", csv_text(queries, QUERY_COLUMNS))
    info.update(config=config, config_hash=new_hash, migrated_from=str(run))
    atomic_write_text(run / "run.json", json.dumps(info, indent=2) + "\n")
    if target.exists():  # what a run refused by an earlier al left: Hydra's record only
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    run.rename(target)
    if not any(run.parent.iterdir()):
        run.parent.rmdir()
    return run, target


def only_hydra_record(folder: Path) -> bool:
    """A folder holding nothing but what Hydra writes before a run starts."""
    return all(p.name in (".hydra", "app.log") for p in folder.iterdir())


def legacy_runs(results: Path) -> list[Path]:
    """Folders below ``results`` whose run.json an earlier version wrote, none in a hidden
    folder (``.mlflow/`` keeps copies of runs' files, which are not runs of their own)."""
    out = []
    for info in sorted(results.rglob("run.json")):
        if in_hidden(info, results):
            continue
        try:
            if is_legacy(json.loads(info.read_text())):
                out.append(info.parent)
        except (OSError, ValueError):
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="al migrate",
        description="Move run folders made by an earlier al (before per-option schemas) to the "
        "folders this version uses, so that rerunning a command skips or resumes them.",
    )
    p.add_argument("results", type=Path, metavar="RESULTS_DIR", help="a results folder")
    p.add_argument("--dry-run", action="store_true", help="say what would move, move nothing")
    args = p.parse_args(argv)
    if not args.results.is_dir():
        print(f"al migrate: error: {args.results} is not a folder", file=sys.stderr)
        return 2
    moved = failed = 0
    for run in legacy_runs(args.results):
        try:
            done = migrate_run(run, args.dry_run)
        except Exception as err:
            failed += 1
            print(f"al migrate: cannot migrate {run}: {err}", file=sys.stderr)
            continue
        if done is not None:
            moved += 1
            print(f"{'would move' if args.dry_run else 'moved'} {done[0]} -> {done[1]}")
    verb = "would move" if args.dry_run else "moved"
    print(f"al migrate: {verb} {moved} run folder(s); {failed} could not be migrated")
    return 1 if failed else 0
