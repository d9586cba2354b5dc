"""Semantic versions: the one version parser every entry point calls (re-exported by values)."""

from __future__ import annotations

import functools
from typing import Any

import semver

from mlmkit._validation import invalid

__all__ = ["VERSION_EXPECTATION", "Version", "VersionLike"]


VERSION_EXPECTATION = "a semantic version such as '1.2.0'"


@functools.total_ordering
class Version:
    """A semantic version (``MAJOR.MINOR.PATCH[-prerelease][+build]``), ordered by semver rules.

    Parsing and precedence come from the ``semver`` package. A leading ``v`` is accepted.

    Examples
    --------
    >>> Version.parse("1.10.0") > Version.parse("1.9.0")
    True
    >>> Version.parse("2.0.0-rc.1") < Version.parse("2.0.0")
    True
    >>> str(Version.parse("v1.2.3").bump_minor())
    '1.3.0'
    """

    __slots__ = ("_v",)

    def __init__(self, major: int = 0, minor: int = 0, patch: int = 0,
                 prerelease: str | None = None, build: str | None = None) -> None:
        try:
            self._v = semver.Version(major, minor, patch, prerelease, build)
        except (TypeError, ValueError) as err:
            raise invalid("version", "a semantic version MAJOR.MINOR.PATCH",
                          (major, minor, patch)) from err

    @classmethod
    def parse(cls, text: VersionLike, name: str = "version") -> Version:
        """Parse ``"1.2.3"`` (or return an existing [`Version`][mlmkit.versions.Version] unchanged).

        This is THE version parser: every entry point taking a version calls it with the
        argument's ``name``, so a bad value always reads
        ``"<name> must be a semantic version such as '1.2.0'; got <value>"``.

        Examples
        --------
        >>> try:
        ...     Version.parse("1.0", "version_b")
        ... except ValueError as err:
        ...     print(err)
        version_b must be a semantic version such as '1.2.0'; got '1.0'
        """
        if isinstance(text, Version):
            return text
        if isinstance(text, str):
            try:
                return _parse_cached(text)
            except (TypeError, ValueError) as err:
                raise invalid(name, VERSION_EXPECTATION, text) from err
        raise invalid(name, VERSION_EXPECTATION, text)

    @classmethod
    def _parse(cls, text: str) -> Version:
        raw = text[1:] if text[:1] in ("v", "V") else text
        parsed = semver.Version.parse(raw)  # ValueError / TypeError: see parse()
        obj = cls.__new__(cls)
        obj._v = parsed
        return obj

    from_string = parse

    @property
    def major(self) -> int:
        """The major component."""
        return int(self._v.major)

    @property
    def minor(self) -> int:
        """The minor component."""
        return int(self._v.minor)

    @property
    def patch(self) -> int:
        """The patch component."""
        return int(self._v.patch)

    @property
    def prerelease(self) -> str | None:
        """The pre-release tag, if any."""
        return self._v.prerelease

    def bump_major(self) -> Version:
        """Return the next major version (``1.2.3`` → ``2.0.0``)."""
        return Version.parse(str(self._v.bump_major()))

    def bump_minor(self) -> Version:
        """Return the next minor version (``1.2.3`` → ``1.3.0``)."""
        return Version.parse(str(self._v.bump_minor()))

    def bump_patch(self) -> Version:
        """Return the next patch version (``1.2.3`` → ``1.2.4``)."""
        return Version.parse(str(self._v.bump_patch()))

    def bump(self, part: str) -> Version:
        """Bump ``part`` (``"major"``, ``"minor"`` or ``"patch"``)."""
        if part not in ("major", "minor", "patch"):
            raise invalid("bump", "one of 'major', 'minor', 'patch'", part)
        return {"major": self.bump_major, "minor": self.bump_minor,
                "patch": self.bump_patch}[part]()

    def sort_key(self) -> tuple[Any, ...]:
        """A tuple that sorts like semver precedence (usable as a SQL-free sort key)."""
        return (self.major, self.minor, self.patch, self.prerelease is None,
                _prerelease_key(self.prerelease))

    def __str__(self) -> str:
        return str(self._v)

    def __repr__(self) -> str:
        return f"Version('{self}')"

    def __hash__(self) -> int:
        return hash(str(self._v.finalize_version()) + (self._v.prerelease or ""))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Version.parse(other)
            except ValueError:
                return NotImplemented
        if not isinstance(other, Version):
            return NotImplemented
        return bool(self._v.compare(other._v) == 0)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return bool(self._v.compare(other._v) < 0)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Version:
    return Version._parse(text)


def _prerelease_key(pre: str | None) -> tuple[tuple[int, int | str], ...]:
    if pre is None:
        return ()
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))


VersionLike = Version | str
