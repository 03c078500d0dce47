"""Recording a session: the only package in sessions that imports torch.

    worker       loads the model, times each sample, writes it to the database
    controls     the worker's side of the control channel
    arms         running several arms in one worker, in randomized blocks
    lifecycle    how a worker ends: signals, its dashboard's death, a runaway sample
    process      starting a worker process and hearing why it stopped
    experiment   N replicate worker processes, each its own session
    ray/         the replicate processes as Ray actors

Nothing imports this package except ``run.ray`` and the launchers (the command line and
``tui.launch``); this ``__init__`` imports nothing, so starting a worker process from the
dashboard does not load torch.
"""
