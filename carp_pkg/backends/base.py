"""What every backend provides. Backends decide; they never run anything themselves."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, List, Optional, Tuple

from ..model import CarpConfig, Problem
from . import limits

if TYPE_CHECKING:
    from ..plan import Plan
    from ..running import HostFacts, RunningState
    from ..paths import Paths
    from ..system import System


class Backend(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]

    def problems(self, config: CarpConfig) -> List[Problem]:
        """What this target cannot do with an otherwise valid config (limits.py, by backend name)."""
        return limits.problems(self.name, config)

    def owned_files(self) -> Tuple[str, ...]:
        """Files sync writes outside carp-pkg's state dir (target paths, not joined under --root): deinstall removes
        them once everything is stopped (hooks.py, only the paths it knows as carp-pkg's)."""
        return ()

    @abstractmethod
    def plan(self, config: CarpConfig, running: RunningState) -> Plan:
        """Commands that take `running` to `config`, and nothing more."""

    def boot_plan(self, config: CarpConfig, host: Optional[HostFacts] = None) -> Plan:
        """Everything a freshly booted host needs (the rc script's start); host: who owns the sysctls there."""
        from ..running import HostFacts, RunningState
        return self.plan(config, RunningState(host=host or HostFacts()))

    @abstractmethod
    def stop_plan(self, config: CarpConfig, host: Optional[HostFacts] = None) -> Plan:
        """Tear down everything boot_plan creates (the rc script's stop); host: what the base system owns there
        (on pfSense, pfsync0 is pfSense's)."""

    @abstractmethod
    def read_running(self, system: "System", paths: "Paths") -> RunningState:
        """Observe the host through `system` (the only door to the machine)."""
