"""python -m cep_lightning.bench prints one JSON line per configuration with every field, from real steps."""

from __future__ import annotations

import json

import pytest

from cep_lightning.bench import configurations, main, parse_args

TINY = [
    "--state-dim",
    "3",
    "--action-dim",
    "2",
    "--M",
    "4",
    "--behavior-widths",
    "16",
    "8",
    "8",
    "--behavior-batch",
    "32",
    "--batch",
    "16",
    "--support-states",
    "8",
    "--solver-steps",
    "3",
    "--transitions",
    "64",
    "--warmup",
    "0",
    "--repeats",
    "1",
    "--trainer-steps",
    "3",
    "--log-every-n-steps",
    "2",
    "--matmul-size",
    "64",
]


def test_one_configuration_per_combination() -> None:
    args = parse_args(["--threads", "1", "2", "--precision", "32-true", "bf16-mixed", "--compile", "false"])
    assert sorted(configurations(args)) == [
        (1, "32-true", False, "cpu"),
        (1, "bf16-mixed", False, "cpu"),
        (2, "32-true", False, "cpu"),
        (2, "bf16-mixed", False, "cpu"),
    ]


def test_one_json_line_with_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    main([*TINY, "--threads", "1", "--precision", "auto"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    for line in lines:
        assert line["precision"] in ("32-true", "bf16-mixed")  # auto resolved
        for key in ("behavior_ms", "critic_ms", "energy_ms", "support_actions_per_s", "act_ms"):
            assert line[key] > 0, key
        assert set(line["trainer_overhead_ms"]) == {"behavior", "critic", "energy", "support"}
        for stage in ("behavior", "critic", "energy", "support", "act"):
            assert line["gflop"][stage] > 0 and line["gflops"][stage] > 0
            assert line["fraction_of_fp32_peak"][stage] == pytest.approx(
                line["gflops"][stage] / line["matmul_gflops"]["fp32"], rel=1e-3
            )
        # the support batch: 8 states × 4 actions × 3 network evaluations, each at least the output layer's 2·16·2 flop
        assert line["gflop"]["support"] * 1e9 > 8 * 4 * 3 * 2 * (2 * 16) * 2
