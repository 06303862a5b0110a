"""DATABASE_URL: which store, and where."""

from __future__ import annotations

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")  # the second is Heroku's spelling


def parse_database_url(url: str) -> tuple[str, str]:
    """`sqlite:///relative.db` or `sqlite:////abs/path.db` -> ("sqlite", path);
    `postgresql://...` or `postgres://...` -> ("postgresql", url). ValueError otherwise.

    Messages never repeat the URL: it may hold a password."""
    url = url.strip()
    if url.startswith(_SQLITE_PREFIX):
        path = url[len(_SQLITE_PREFIX):]
        if not path or path.endswith("/"):
            raise ValueError("name a file, for example sqlite:///iam-bot.db")
        return SQLITE, path
    if url.startswith(_POSTGRES_PREFIXES):
        if any(character.isspace() for character in url):
            raise ValueError("a postgresql:// URL has no spaces")
        return POSTGRESQL, url
    raise ValueError("use sqlite:///path/to/file.db or postgresql://user:password@host/database")
