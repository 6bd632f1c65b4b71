"""Run a Plan step by step; on a failure, undo the finished steps in reverse and say what could not be undone."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable, List, Tuple

from .errors import CarpError, CommandError, ExitCode, Interrupted
from .plan import Plan, Step
from .system import Runner


class ApplyError(CommandError):
    """A step failed; the message lists what was rolled back and what is left."""


@dataclass(frozen=True)
class Rollback:
    undone: Tuple[Step, ...] = ()
    left: Tuple[str, ...] = ()  # human descriptions of changes that stay


def _shown(step: Step) -> str:
    return " ".join(shlex.quote(a) for a in step.shown())


def roll_back(done: List[Step], runner: Runner) -> Rollback:
    """Every undo is tried, whatever the ones before it did: a failed undo, one that could not run at all, or a
    second Ctrl-C / SIGTERM / SIGHUP (an SSH session dropped while rolling back) is listed, and the rest goes on."""
    undone, left = [], []
    for step in reversed(done):
        if step.undo is None:
            left.append(f"not undone ({step.why}): {_shown(step)}")
            continue
        try:
            runner.run(step.undo, display=step.undo)
            undone.append(step)
        except CarpError as exc:
            left.append(f"undo failed ({step.why}): {' '.join(step.undo)}: {exc.details[0] if exc.details else exc}")
        except KeyboardInterrupt as interruption:
            left.append(f"undo interrupted by {getattr(interruption, 'signal_name', 'SIGINT')}, it may or may not "
                        f"have run ({step.why}): {' '.join(step.undo)}")
    return Rollback(tuple(undone), tuple(left))


def _put_back(before_rollback: Callable[[], None]) -> List[str]:
    """The plan's files put back before the undos; if that fails, the undos still run and the failure is said."""
    try:
        before_rollback()
    except (CarpError, OSError, KeyboardInterrupt) as exc:
        return [f"the files this plan replaced could not all be put back: {getattr(exc, 'message', exc)}"]
    return []


def apply_plan(plan: Plan, runner: Runner, before_rollback: Callable[[], None] = lambda: None) -> Tuple[Step, ...]:
    """before_rollback: runs first when a step fails (sync puts the plan's files back, so an undo that
    restarts a process finds the old password and scripts, not the new ones)."""
    done: List[Step] = []
    for number, step in enumerate(plan.steps, start=1):
        try:
            runner.run(step.argv, display=step.shown())
        except CarpError as exc:  # the step failed, or could not run at all (a missing tool: exit 6)
            put_back = _put_back(before_rollback)
            rollback = roll_back(done, runner)
            details = [f"reason: {d}" for d in (exc.details or (exc.message,))]
            details.append(f"rolled back {len(rollback.undone)} of the {len(done)} finished steps")
            details += put_back + list(rollback.left)
            if not rollback.left and not put_back:
                details.append("the host is back in its previous state; the rc script was not changed")
            failure = ApplyError(f"step {number} of {len(plan.steps)} failed ({step.why}): {_shown(step)}",
                                 tuple(details))
            failure.exit_code = exc.exit_code
            raise failure from None
        except KeyboardInterrupt as interruption:
            put_back = _put_back(before_rollback)
            rollback = roll_back(done, runner)
            details = [f"step {number} may or may not have taken effect: {_shown(step)}",
                       f"rolled back {len(rollback.undone)} of the {len(done)} finished steps", *put_back,
                       *rollback.left]
            signal_name = getattr(interruption, "signal_name", "SIGINT")
            raise Interrupted(f"interrupted by {signal_name} at step {number} of {len(plan.steps)} ({step.why})",
                              tuple(details), exit_code=getattr(interruption, "exit_code", ExitCode.INTERRUPTED)) from None
        done.append(step)
    return tuple(done)
