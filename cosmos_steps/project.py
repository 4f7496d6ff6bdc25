"""A project folder as the `cosmos` commands see it: its config, database, results and hosts.

Paths in config.yaml and in the database are relative to the folder holding config.yaml (where
Snakemake runs), so the commands work from anywhere with `--config path/to/config.yaml`.

Reading the database needs only `database` and `journal_mode`, so a Project reads config.yaml
with plain YAML at first (fast: jsonschema alone costs ~80 ms of start-up); the checked config,
with schema defaults, is loaded when a command needs the hosts.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cosmos_steps import PROJECT_DIR, db
from cosmos_steps.errors import CosmosError

if TYPE_CHECKING:
    import sqlite_utils

    from cosmos_steps.hosts import Host


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    """sqlite3 row factory giving plain dicts."""
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


JOB_STAGES = {"transfer": "batches", "upscale": "upscale", "enhance": "enhance"}
"""Model type -> the work/<stage>/ and logs/infer/<stage>/ folder of its jobs (rules/infer.smk)."""


class Project:
    """One project folder (config.yaml, the database, results/, logs/)."""

    def __init__(self, config_path: str | os.PathLike[str] = "config.yaml"):
        self.config_path = Path(config_path)
        self.root = self.config_path.resolve().parent
        raw = _read_yaml(self.config_path)
        database, self.journal_mode = (
            raw[key] if key in raw else _schema_default(key) for key in ("database", "journal_mode")
        )
        if not isinstance(database, str) or not database:
            raise CosmosError(f"{self.config_path}: database: expected the database file name")
        self.db_path = self.path(database)
        self.results = self.root / "results"
        self._reader: sqlite3.Connection | None = None
        self._settings: dict[str, Any] | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The checked config (schema defaults filled); a CosmosError lists what is wrong."""
        if self._settings is None:
            from cosmos_steps import config, schemas

            try:
                self._settings = config.load(self.config_path)
            except schemas.ValidationFailed as exc:
                more = len(exc.problems) - 1
                extra = f" (and {more} more problem{'s' * (more != 1)}: run cosmos validate)"
                raise CosmosError(exc.problems[0] + (extra if more else "")) from None
        return self._settings

    def path(self, value: str | os.PathLike[str]) -> Path:
        """A path from the config or the database, made absolute against the project folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path

    def infer_log(self, batch: str, model_type: str = "transfer") -> Path:
        """The local log of a job's cosmos_infer step (logs/infer/<stage>/<batch>.log)."""
        return self.root / "logs" / "infer" / JOB_STAGES[model_type] / f"{batch}.log"

    def reader(self) -> sqlite3.Connection:
        """A read-only connection (plain sqlite3, rows as dicts), migrating an old schema first."""
        if self._reader is None:
            if not self.db_path.exists():
                raise CosmosError(
                    f"no database at {self.db_path}: nothing has run yet (run snakemake first)"
                )
            conn = sqlite3.connect(self.db_path, timeout=db.BUSY_TIMEOUT_MS / 1000)
            if conn.execute("PRAGMA user_version").fetchone()[0] < db.SCHEMA_VERSION:
                conn.close()
                with self.writer():  # creates what the newer schema adds
                    pass
                conn = sqlite3.connect(self.db_path, timeout=db.BUSY_TIMEOUT_MS / 1000)
            conn.row_factory = dict_row
            conn.create_function("casefold", 1, _casefold, deterministic=True)
            conn.execute("PRAGMA query_only = ON")
            self._reader = conn
        return self._reader

    @contextmanager
    def writer(self) -> Iterator[sqlite_utils.Database]:
        """A read-write connection through cosmos_steps.db (locking, retries), closed after use."""
        database = db.connect(self.db_path, self.journal_mode)
        try:
            yield database
        finally:
            database.conn.close()

    def host_names(self) -> list[str]:
        return list(self.settings["hosts"])

    def host(self, name: str) -> Host:
        """A configured host; a local host's relative root is taken from the project folder."""
        from cosmos_steps.hosts import Host

        if name not in self.settings["hosts"]:
            known = ", ".join(self.host_names())
            raise CosmosError(f"no host {name!r} in {self.config_path} (hosts: {known})")
        conf = dict(self.settings["hosts"][name])
        if conf["transport"] == "local" and not conf["root"].startswith("~"):
            conf["root"] = str(self.path(conf["root"]))
        return Host(name, conf)

    def close(self) -> None:
        """Close the read connection (reopened by the next reader() call)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _casefold(text: str | None) -> str:
    return text.casefold() if text else ""


def _read_yaml(path: Path) -> dict[str, Any]:
    """config.yaml as a mapping (C loader when available); unreadable or not YAML: CosmosError."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except OSError as exc:
        raise CosmosError(f"{path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CosmosError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CosmosError(f"{path}: expected a mapping of settings")
    return data


def _schema_default(key: str) -> Any:
    """The default of a top-level config key, from schemas/config.schema.yaml."""
    text = (PROJECT_DIR / "schemas" / "config.schema.yaml").read_text(encoding="utf-8")
    schema = yaml.load(text, Loader=_LOADER)
    return schema["properties"][key].get("default")
