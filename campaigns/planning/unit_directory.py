"""The reporting units as a tree held in memory: found by code or name, walked in order.

No database here: `campaigns.planning.units` loads a `UnitDirectory` once per command or
task, and sheet readers resolve a 填报单位 cell through it as they resolve metric headers
through the metric catalogue. A name is what users type; when two units share a name (two
towns called 城关镇 under different counties) the name alone is refused and the code asked for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from campaigns.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    parent: str | None = None
    contact: str | None = None


class UnitDirectory:
    def __init__(self, units: Iterable[Unit]) -> None:
        self.by_code: dict[str, Unit] = {}
        self._by_name: dict[str, list[Unit]] = defaultdict(list)
        self._children: dict[str | None, list[Unit]] = defaultdict(list)
        for unit in units:
            self.by_code[unit.code] = unit
            self._by_name[_plain(unit.name)].append(unit)
        for unit in self.by_code.values():
            self._children[unit.parent].append(unit)
        for children in self._children.values():
            children.sort(key=lambda u: u.code)

    def __len__(self) -> int:
        return len(self.by_code)

    def __contains__(self, code: object) -> bool:
        return code in self.by_code

    def find(self, text: str) -> Unit | None:
        """The unit a code or a name means; None when none does. Raises when a name is shared."""
        text = _plain(text)
        if not text:
            return None
        unit = self.by_code.get(text)
        if unit is not None:
            return unit
        named = self._by_name.get(text, [])
        if len(named) > 1:
            codes = ", ".join(u.code for u in named)
            raise InvalidInputError(
                f"{len(named)} reporting units are called {text} ({codes}): give the code"
            )
        return named[0] if named else None

    def resolve(self, text: str, *, where: str) -> Unit:
        unit = self.find(text)
        if unit is None:
            raise InvalidInputError(
                f"{where}: unknown reporting unit {text.strip()!r} (see `campaigns units list`)"
            )
        return unit

    def name_of(self, code: str) -> str:
        unit = self.by_code.get(code)
        return unit.name if unit else code

    def children(self, code: str | None) -> list[Unit]:
        return list(self._children.get(code, ()))

    def ancestors(self, code: str) -> list[str]:
        """The codes above `code`, nearest first."""
        seen: list[str] = []
        parent = self.by_code[code].parent if code in self.by_code else None
        while parent is not None and parent not in seen:
            seen.append(parent)
            parent = self.by_code[parent].parent if parent in self.by_code else None
        return seen

    def descendants(self, code: str) -> list[str]:
        """Every code below `code`, in tree order."""
        return [unit.code for unit, _ in self.walk(code)]

    def walk(self, top: str | None = None) -> Iterator[tuple[Unit, int]]:
        """(unit, depth) below `top` (None: every root), depth first, children by code."""
        stack = [(unit, 0) for unit in reversed(self.children(top))]
        while stack:
            unit, depth = stack.pop()
            yield unit, depth
            stack.extend((child, depth + 1) for child in reversed(self.children(unit.code)))

    def roll_up(self, own: Mapping[str, int], among: Iterable[str]) -> dict[str, int]:
        """Each unit of `among` with its own figure plus its descendants' (`own` is per code)."""
        totals: dict[str, int] = {}
        for code in among:
            totals[code] = own.get(code, 0) + sum(own.get(c, 0) for c in self.descendants(code))
        return totals


def find_cycle(parents: Mapping[str, str | None]) -> list[str] | None:
    """A loop in a code → parent map (a unit its own ancestor), or None."""
    for start in parents:
        path: list[str] = []
        code: str | None = start
        while code is not None and code in parents:
            if code in path:
                return [*path[path.index(code) :], code]
            path.append(code)
            code = parents[code]
    return None


def _plain(text: str) -> str:
    return " ".join(text.split())
