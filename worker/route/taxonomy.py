"""Load the support-scope taxonomy (training_data/taxonomy.toml) into frozen values, checking it on the way."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "training_data" / "taxonomy.toml"


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message says where."""


@dataclass(frozen=True)
class Category:
    id: str
    scope: str  # "in" or "out"
    queue: str
    priority: int
    requires: tuple[str, ...]
    redirect: str | None
    name_ja: str
    name_en: str

    @property
    def in_scope(self) -> bool:
        return self.scope == "in"

    def name(self, language: str) -> str:
        return self.name_ja if language == "ja" else self.name_en


@dataclass(frozen=True)
class Flag:
    id: str
    effect: str
    link: str


@dataclass(frozen=True)
class Taxonomy:
    version: int
    categories: tuple[Category, ...]
    flags: tuple[Flag, ...]
    kind_folders: dict[str, str]
    needs_review_folder: str
    managed_xdr_folder: str
    quarantine_folder: str
    sent_folder: str
    links: dict[str, str]
    source: str  # the file's text, so a model bundle can carry an exact copy

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    @property
    def in_scope_labels(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories if c.in_scope)

    @property
    def out_of_scope_labels(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories if not c.in_scope)

    @property
    def flag_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.flags)

    def category(self, label: str) -> Category:
        for category in self.categories:
            if category.id == label:
                return category
        raise KeyError(label)

    def all_folders(self) -> tuple[str, ...]:
        """Every folder the router may file into, for creating them up front and for the dashboard."""
        folders = [c.queue for c in self.categories]
        folders += list(self.kind_folders.values())
        folders += [self.needs_review_folder, self.managed_xdr_folder, self.quarantine_folder]
        return tuple(dict.fromkeys(folders))


def load_taxonomy(path: Path = DEFAULT_PATH) -> Taxonomy:
    return parse_taxonomy(path.read_text(encoding="utf-8"), origin=str(path))


def parse_taxonomy(text: str, origin: str = "<taxonomy>") -> Taxonomy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"{origin}: {exc}") from exc
    try:
        categories = tuple(_category(raw) for raw in data["category"])
        flags = tuple(Flag(id=f["id"], effect=f["effect"], link=f.get("link", "")) for f in data.get("flag", []))
        folders = data["folders"]
        taxonomy = Taxonomy(
            version=int(data["version"]),
            categories=categories,
            flags=flags,
            kind_folders={kind: spec["folder"] for kind, spec in data["kinds"].items()},
            needs_review_folder=folders["needs_review"],
            managed_xdr_folder=folders["managed_xdr"],
            quarantine_folder=folders["quarantine"],
            sent_folder=folders["sent"],
            links=dict(data.get("links", {})),
            source=text,
        )
    except KeyError as exc:
        raise TaxonomyError(f"{origin}: missing key {exc}") from exc
    _check(taxonomy, origin)
    return taxonomy


def _category(raw: dict[str, Any]) -> Category:
    return Category(
        id=raw["id"],
        scope=raw["scope"],
        queue=raw["queue"],
        priority=int(raw.get("priority", 100)),
        requires=tuple(raw.get("requires", ())),
        redirect=raw.get("redirect"),
        name_ja=raw["name"]["ja"],
        name_en=raw["name"]["en"],
    )


def _check(taxonomy: Taxonomy, origin: str) -> None:
    ids = [c.id for c in taxonomy.categories]
    if len(ids) != len(set(ids)):
        raise TaxonomyError(f"{origin}: duplicate category id")
    for category in taxonomy.categories:
        if category.scope not in ("in", "out"):
            raise TaxonomyError(f"{origin}: category {category.id}: scope must be 'in' or 'out'")
        if category.scope == "out" and not category.redirect:
            raise TaxonomyError(f"{origin}: out-of-scope category {category.id} needs a redirect")
    expected_kinds = {"auto_reply", "bounce", "list", "spam"}
    if set(taxonomy.kind_folders) != expected_kinds:
        raise TaxonomyError(f"{origin}: [kinds] must list exactly {sorted(expected_kinds)}")
