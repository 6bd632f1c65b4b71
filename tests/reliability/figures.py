"""The reliability figures: how many cases each category tried and how many passed.

Tests wrap each unit of work in `with FIGURES.case("inputs tried"):`; the conftest prints the table at
the end of the session when pytest runs with --reliability-report.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Tuple

INPUTS = "inputs tried"
FAULTS = "faults injected"
SECRETS = "secrets checks"
FUZZ = "fuzz examples"
CATEGORIES = (INPUTS, FAULTS, SECRETS, FUZZ)


@dataclass
class Figures:
    tried: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    passed: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    @contextlib.contextmanager
    def case(self, category: str) -> Iterator[None]:
        """One case: counted as tried, and as passed only when the block finishes without an exception."""
        self.tried[category] = self.tried.get(category, 0) + 1
        yield
        self.passed[category] = self.passed.get(category, 0) + 1

    def rows(self) -> List[Tuple[str, int, int]]:
        return [(name, self.tried.get(name, 0), self.passed.get(name, 0)) for name in self.tried]

    def table(self) -> str:
        rows = self.rows()
        total_tried = sum(r[1] for r in rows)
        total_passed = sum(r[2] for r in rows)
        lines = ["| category | cases | passed |", "|---|---:|---:|"]
        lines += [f"| {name} | {tried} | {passed} |" for name, tried, passed in rows]
        lines.append(f"| **total** | **{total_tried}** | **{total_passed}** |")
        return "\n".join(lines)


FIGURES = Figures()
