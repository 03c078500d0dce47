"""The dashboard on a run that sweeps the image count, text-only prompts included: the
text-only arm's vision and projector read "not run" (never 0.00), and the heading names
what the newest sample fed the model, as the database holds it."""

from __future__ import annotations

import numpy as np

from vlmtop.core.format import ms
from vlmtop.sessions.compare import is_measured
from vlmtop.sessions.playback import ReplaySource
from vlmtop.sessions.run.worker import RunSettings, Worker
from vlmtop.sessions.store import SessionStore
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.widgets.stage_table import NOT_RUN, StageRow


async def test_a_text_only_arm_reads_not_run_and_the_heading_names_the_images(tmp_path):
    db = tmp_path / "images.db"
    settings = RunSettings(model="tiny-qwen2-vl", count=2, warmup="none", max_new_tokens=2, threads=1,
                           knobs={"images": [0, 2]})
    assert Worker(settings, db, session_id="1a2b3c4d5e").run() == "completed"
    store = SessionStore.open(db, create=False)
    rows = [row for row in store.samples("1a2b3c4d5e") if is_measured(row)]
    text_only = [row for row in rows if row.arm == "images=0"]
    two = [row for row in rows if row.arm == "images=2"]
    assert {row.image_count for row in text_only} == {0} and {row.image_count for row in two} == {2}
    assert all(row.vision_ms is None and row.projector_ms is None and row.vision_calls == 0 for row in text_only)
    app = VlmtopApp(store, ReplaySource(store, "1a2b3c4d5e", playing=False, position=10**9))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        vision = str(app.query_one("#row-vision", StageRow).cells.render())
        assert NOT_RUN.strip() in vision and "0.00" not in vision
        assert "text-only" in str(app.query_one("#stages .heading").render())
        assert "not run" in str(app.query_one("#share").render())
        await pilot.press("a")  # the next arm: two images per prompt
        await pilot.pause()
        heading = str(app.query_one("#stages .heading").render())
        assert f"2 images, {two[-1].image_tokens} img tok" in heading
        cells = str(app.query_one("#row-vision", StageRow).cells.render()).split()
        assert cells[2] == ms(float(np.median([row.vision_ms for row in two]))).strip()  # p50, as stored
    store.close()
