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
        (1, "32-true", False, "cpu", 1),
        (1, "bf16-mixed", False, "cpu", 1),
        (2, "32-true", False, "cpu", 1),
        (2, "bf16-mixed", False, "cpu", 1),
    ]
    compiled = parse_args(["--threads", "1", "--compile", "false", "true", "--steps-per-batch", "1", "11"])
    assert list(configurations(compiled)) == [  # eager runs one step a batch; compiled, each setting
        (1, "32-true", False, "cpu", 1),
        (1, "32-true", True, "cpu", 1),
        (1, "32-true", True, "cpu", 11),
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


def test_the_overhead_preset_is_tiny_eager_and_compiled_and_can_be_overridden() -> None:
    args = parse_args(["--overhead", "--compile", "false"])
    assert args.behavior_widths == [16, 16, 16] and args.behavior_batch == 64 and args.batch == 64
    assert args.critic_hidden == args.energy_hidden == 16 and args.overhead
    assert args.compile == ["false"]  # given after the preset: it wins
    assert parse_args(["--overhead"]).compile == ["false", "true"]
    assert parse_args(["--overhead"]).steps_per_batch == [1, 10]
    with pytest.raises(SystemExit):  # 2 + 20 steps are not whole batches of 5
        parse_args(["--compile", "true", "--steps-per-batch", "5", "--warmup", "2", "--trainer-steps", "20"])


def test_the_overhead_table_projects_the_paper_budget_from_the_in_loop_times() -> None:
    from cep_lightning.bench import overhead_table

    line = {
        "device": "cpu",
        "precision": "32-true",
        "compile": True,
        "steps_per_batch": 10,
        "behavior_ms": 1.0,
        "critic_ms": 0.5,
        "energy_ms": 0.8,
        "plain_loop_ms": {"behavior": 4.0, "critic": 2.0, "energy": 1.6},
        "in_loop_ms": {"behavior": 2.0, "critic": 1.0, "energy": 1.8},
        "trainer_overhead_ms": {"behavior": 1.0, "critic": 0.5, "energy": 1.0},
        "paper_budget_hours": (600_000 * 2.0 + 500_000 * 1.0 + 1_000_000 * 1.8) / 3.6e6,
        "loop_floor_ms": 0.7,
    }
    rows = overhead_table([line]).splitlines()
    assert rows[2] == "| cpu | 32-true | True | 10 | behavior | 1 | 2 | 1 | 4 | 0.25 | 0.333 |"  # 600k × 2 ms = 1/3 h
    assert rows[5].endswith("| 0.972 |") and "all (paper budget)" in rows[5]
    assert "a step doing nothing" in rows[6] and "| 0.7 |" in rows[6]
