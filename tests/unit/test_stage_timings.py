"""timings.json: each stage's share of the run and the support stage's sampling rate."""

from __future__ import annotations

import numpy as np
import pytest

from cep_lightning.run.timings import with_shares


def test_shares_total_and_support_rate(tmp_path) -> None:
    (tmp_path / "support").mkdir()
    np.save(tmp_path / "support" / "actions.npy", np.zeros((1000, 8, 1), dtype=np.float32))
    previous = {"behavior": 30.0, "support": 20.0, "share": {"behavior": 1.0}, "total_s": 30.0}  # a rerun's old summary
    summary = with_shares(tmp_path, {**previous, "critic": 25.0, "energy": 20.0, "eval": 5.0})
    assert summary["total_s"] == pytest.approx(100.0)
    assert summary["share"] == pytest.approx(
        {"behavior": 0.3, "support": 0.2, "critic": 0.25, "energy": 0.2, "eval": 0.05}
    )
    assert summary["support_actions_per_s"] == pytest.approx(1000 * 8 / 20.0)
    assert "support_actions_per_s" not in with_shares(tmp_path, {"critic": 3.0})
