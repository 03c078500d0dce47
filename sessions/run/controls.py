"""The worker's side of the control channel: what a dashboard (or `vlmtop stop`) asked for,
applied between samples and answered with an event.

A mixin of :class:`vlmtop.sessions.run.worker.Worker` (kept apart so the sample loop stays one
readable module). A control's kind is pause, resume, stop, or a knob's name (the three
policies are knobs); its value is validated here by the knob's own parser, so a bad value
is a `rejected` answer with the reason, never a crash of the recording.
"""

from __future__ import annotations

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.knobs import Arm, format_value, knob
from vlmtop.sessions.policies import KINDS as POLICY_KINDS
from vlmtop.sessions.policies import Policies


class ControlsMixin:
    """Needs the worker's store, session_id, settings, policies, arms, seq, family, paused,
    stop_requested and _event."""

    settings: object
    policies: Policies
    arms: list[Arm]
    family: str | None = None  # the loaded model's, set once it is loaded

    def _apply_controls(self) -> bool:
        """Apply pending requests in order; True when every arm must warm up again (a
        policy changed, or a knob whose first use loads something).

        A policy or knob set from a dashboard applies to every arm from the next sample on."""
        rearm = False
        for control in self.store.pending_controls(self.session_id):
            kind, value = control.kind, control.value
            try:
                if control.problem:  # a row no dashboard wrote: answered, never applied
                    raise VlmtopError(control.problem)
                if kind == "pause":
                    self.paused = True
                    self._event("pause", "")
                elif kind == "resume":
                    self.paused = False
                    self._event("resume", "")
                elif kind == "stop":
                    self.stop_requested = True
                    self._event("stop", "requested by `vlmtop stop` or a dashboard")
                else:
                    if len(self.settings.knobs.get(kind, ())) > 1:
                        raise VlmtopError(f"{kind} is varied by this run's arms; it cannot be fixed mid-run")
                    changed = self._set_policy_control(kind, value) if kind in POLICY_KINDS else self._set_knob_control(kind, value)
                    rearm = rearm or changed
            except VlmtopError as exc:
                self.store.answer_control(control.id, "rejected", None)
                self._event("rejected", f"{kind}={value}: {exc}")
                continue
            self.store.answer_control(control.id, "applied", self.seq)
        return rearm

    def _set_policy_control(self, kind: str, value: str | None) -> bool:
        new = self.policies.with_value(kind, value or "")
        if new == self.policies:
            return False
        self.policies = new
        self.arms = [arm.with_value(kind, getattr(new, kind)) for arm in self.arms]
        self._event("policy", f"{kind}={getattr(new, kind)}", getattr(new, kind), name=kind)
        return True  # "warm-up at start and after each change": the policy's own promise

    def _set_knob_control(self, name: str, value: str | None) -> bool:
        """Fix a knob for every arm from the next sample on. The arm's values carry it, so
        the worker's per-sample apply puts it in force and every row records it (a new
        segment: segments split on fixed knobs)."""
        spec = knob(name)
        spec.check_family(self.family)
        parsed = spec.parse(value or "")
        if all(arm.values.get(name) == parsed for arm in self.arms):
            return False
        self.arms = [arm.with_value(name, parsed) for arm in self.arms]
        self._event("knob", f"{name}={format_value(parsed)}", format_value(parsed), name=name)
        return spec.needs_warmup
