"""vlmtop.tui: the Textual dashboard.

    app           the App: panels, key bindings, the live/attached/replayed session
    launch        starting it: on a new worker, on a running session, on a recording
    poller        reading the database off the UI thread, waking the UI on a change
    fleet_watch   the same for an experiment's fleet screen
    steering      pause, resume, stop, cycling a policy, fixing a knob
    replay_keys   step, speed, first/last and go to a seq in a replay
    theme         stage colours taken from the app's theme
    state/        what the dashboard shows, computed without Textual (view-models)
    widgets/      the panels, one Widget per module
    screens/      the modal screens: help, arms, cost model, fleet, knobs, go to

Widgets and screens read ``state`` and never call the store; ``state`` imports no Textual.
"""
