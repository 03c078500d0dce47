"""`vlmtop run --ray`: the replicate processes of an experiment as Ray actors.

proxy.py  - the store-like outbox a Worker writes through inside an actor (no Ray needed);
actor.py  - the actor: a fresh process per replicate, running a Worker and exiting;
driver.py - the driver: schedules the actors, is the ONE SQLite writer, relays controls.

Ray is imported only when a fleet runs: `pip install 'vlmtop[ray]'`.
"""
