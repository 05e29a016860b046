"""LENET-3: memory depends on batch size only; batch x2 -> 126 % of case 1, x1/2 -> 84 %."""

import pytest
from lenet_common import budget, guard_tier, hardware

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.experiments import lenet as exp
from nasrepro.report.figures_lenet import fig_memory


@pytest.mark.claim("LENET-3")
def test_lenet_3_memory(claim):
    guard_tier(claim)
    mem = exp.memory(claim.tier, claim.device)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=claim.config(
        memory_iters=budget(claim)["memory_iters"]))
    rss = {k: v["rss_mean_mib"] for k, v in mem.items()}
    tensor = {k: v["tensor_mib"] for k, v in mem.items()}
    lr_rss = [rss[k] for k in exp.LR_CASES]
    lr_tensor = [tensor[k] for k in exp.LR_CASES]
    ours = {"rss_ratio_bs128": (rss["3"] / rss["1"], "process RSS, mean while training"),
            "rss_ratio_bs32": (rss["2"] / rss["1"], "process RSS, mean while training"),
            "tensor_spread_lr_cases": (max(lr_tensor) / min(lr_tensor) - 1.0,
                                       "tensor memory, max/min - 1 over cases 1, 4, 5, 7, 8"),
            "tensor_ratio_bs128": (tensor["3"] / tensor["1"], "tensor memory (measured peak)"),
            "tensor_ratio_bs32": (tensor["2"] / tensor["1"], "tensor memory (measured peak)")}
    # regression bands: RSS jitters by a few % between processes; the allocator peak is
    # deterministic (measured noise 0 bytes, docs/lenet.md), so its bands are tight
    for name, (value, what) in ours.items():
        ref = spec.value(name)
        result.add(Measurement(name, value, **ref.fields(),
                               tolerance=spec.tolerance(name),
                               band=0.05 if name.startswith("rss") else 0.01,
                               detail=f"{what}; {hardware(claim)}"))
    spread = max(lr_rss) / min(lr_rss) - 1
    effect = max(abs(rss[k] / rss["1"] - 1) for k in ("2", "3"))
    result.notes.append(
        f"In this run the RSS of the five lr cases (same batch) spreads {spread:.1%} and the "
        f"largest batch effect on RSS is {effect:.1%}"
        + (f" ({effect / spread:.1f}x the lr spread). " if spread > 0 else ". ")
        + "RSS of separate processes jitters by a few % (6 probes of one case spread 3 % on "
        "an AMD EPYC CPU, 2026-11-30, docs/lenet.md), so 'depends on batch only' is judged on "
        "the tensor memory, whose spread over the lr cases is "
        f"{ours['tensor_spread_lr_cases'][0]:.2%} in this run.")
    result.table("Memory per case (each case in a fresh process)",
                 ["case", "batch", "lr", "RSS mean MiB", "RSS max MiB", "RSS before training",
                  "tensor MiB", "of which params+momentum", "retained bytes", "RSS / case 1",
                  "tensor / case 1"],
                 [[k, exp.CASES[k].batch, exp.CASES[k].base_lr, round(rss[k], 1),
                   round(mem[k]["rss_max_mib"], 1), round(mem[k]["rss_before_training_mib"], 1),
                   round(tensor[k], 3), round(mem[k]["persistent_mib"], 3),
                   mem[k].get("retained_bytes"), round(rss[k] / rss["1"], 3),
                   round(tensor[k] / tensor["1"], 3)] for k in sorted(mem, key=int)])
    result.notes.append(
        "The paper's 126 % / 84 % are of '평균 메모리 사용량' (average memory use; it does "
        "not say which memory). We read them as a Caffe process's memory (its GPU memory is "
        "the other possible reading), so the verdict compares them with process RSS (psutil, "
        "sampled every 5 iterations while training "
        f"{budget(claim)['memory_iters']} iterations and after one full test pass; mean). "
        "RSS includes the framework and the resident dataset, which do not scale with batch. "
        f"Tensor memory ({mem['1']['tensor_kind']}) is the batch-dependent part, the "
        "claim's second reading of 'memory': measured by the allocator, not computed from "
        "shapes.")
    paper = {"3": spec.value("rss_ratio_bs128").value, "2": spec.value("rss_ratio_bs32").value}
    result.figures.append(fig_memory(mem, hardware(claim), claim.tier, paper_ratios=paper))
    claim.submit(result)
    # exact check (after the record is written): the loop keeps one 8-byte correct count per
    # step by design; anything else still allocated after the profiled window is a leak
    for k, m in mem.items():
        if "retained_bytes" in m:
            assert m["retained_bytes"] == 8 * exp.MEMORY_WINDOW_STEPS, (
                f"case {k}: {m['retained_bytes']} bytes still allocated after the profiled "
                f"window, expected {8 * exp.MEMORY_WINDOW_STEPS} (a leak?)")
