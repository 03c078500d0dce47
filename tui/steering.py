"""Steering keys of the dashboard: pause, resume, stop, cycling a policy, fixing a knob.

Steering writes a control row to the session database; the worker answers it between
samples (the policy bar shows it pending until then). A mixin of
:class:`~vlmtop.tui.app.VlmtopApp`: it uses the app's store, poller lock and state. A replay
shows the recorded policies and is steered through its playback instead.
"""

from __future__ import annotations

from textual.binding import Binding

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.policies import POLICIES, Policies
from vlmtop.tui.screens.confirm import ConfirmScreen
from vlmtop.tui.screens.knobs import KnobsScreen

POLICY_KEYS = {"cache": "c", "warmup": "w", "timing": "t"}  # the key that cycles each policy (the policy bar shows it)
STOP_KEY = "S"  # capital: stopping a run for good should take more than a slip of the finger
_STOP = "stop run: the worker finishes the sample in flight, then the session completes (asks first"

# Part of VlmtopApp.BINDINGS (Textual reads BINDINGS from widget classes only, not from a mixin).
STEERING_BINDINGS = [
    Binding(STOP_KEY, "stop_run", "stop run", show=False, tooltip=_STOP + ")"),
    Binding(STOP_KEY, "stop_attached", "stop run", tooltip=_STOP + "; a run started elsewhere too)"),
    *(Binding(key, f"cycle('{kind}')", POLICIES[kind].label, show=False, tooltip=POLICIES[kind].describe_cycle())
      for kind, key in POLICY_KEYS.items()),
    Binding("k", "knob", "knob", show=False, tooltip="fix a knob (NAME=VALUE) from the next sample on: a new segment"),
]
STEERING_ACTIONS = {binding.action.partition("(")[0] for binding in STEERING_BINDINGS}


class SteeringKeys:
    def action_pause(self) -> None:
        if self.replay is not None:
            with self.poller.lock:
                self.replay.pause()
            self.draw()
        elif self._can_steer():
            self._control("pause", None)

    def action_resume(self) -> None:
        if self.replay is not None:
            with self.poller.lock:
                self.replay.play()
            self.draw()
            self.poller.wake()
        elif self._can_steer():
            self._control("resume", None)

    def action_stop_run(self) -> None:
        """Stop the recording (any session, ours or attached), after a yes; q only detaches
        from an attached one."""
        if not self._can_steer():
            return

        def answered(yes: bool | None) -> None:
            if yes and self._control("stop", None) is not None:
                self.notify(f"stopping session {self.session_id} after the sample in flight…")

        self.push_screen(ConfirmScreen(
            f"Stop session {self.session_id}?",
            "The worker finishes the sample in flight, then the session completes. "
            "It cannot be resumed.",
        ), answered)

    def action_stop_attached(self) -> None:
        self.action_stop_run()

    def action_cycle(self, kind: str) -> None:
        if not self._can_steer():
            return
        current = self.pending[kind][1] if kind in self.pending else self.state.policies[kind]
        value = Policies(**{**self.state.policies, kind: current}).next_value(kind)
        control_id = self._control(kind, value)
        if control_id is not None:
            self.pending[kind] = (control_id, value)
        self.draw()

    def action_knob(self) -> None:
        """`k`: fix a knob (max_new_tokens, image_size, attn...) from the next sample on;
        the rows record it, so a new segment starts there."""
        if not self._can_steer():
            return
        session = self.state.session
        settings = getattr(session, "settings", None) or {}
        varied = {name for name, values in (settings.get("knobs") or {}).items() if len(values) > 1}
        newest = self.state.rows[-1] if self.state.rows else None
        current = {"max_new_tokens": settings.get("max_new_tokens"), **((newest.knobs if newest else None) or {})}

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is None:
                return
            name, value = choice
            control_id = self._control(name, value)
            if control_id is not None:
                self.pending[name] = (control_id, value)
                self.notify(f"{name}={value} from the next sample on (a new segment)")
            self.draw()

        self.push_screen(KnobsScreen(_family(session.model if session else None), current, varied), chosen)

    def _can_steer(self) -> bool:
        if not self.steerable or not self._session_running:
            self.notify("this session is not running: nothing to steer", severity="warning")
            return False
        return True

    def _control(self, kind: str, value: str | None) -> int | None:
        try:
            with self.poller.lock:
                return self.store.add_control(self.session_id, kind, value)
        except VlmtopError as exc:
            self.notify(str(exc), severity="error")
            return None


def _family(model: str | None) -> str | None:
    """A preset's family without loading anything (no torch here); None for a hub model,
    whose family only its worker knows (it refuses a knob that does not apply)."""
    from vlmtop.core.zoo import PRESETS

    preset = PRESETS.get(model) if model else None
    return preset.family if preset else None
