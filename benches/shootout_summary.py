"""Summarizes benches/shootout.sh output (one file, any number of runs).

Per configuration and step: runs that held (95% of broadcasts to everyone within the
limit), the medians of the share within the limit, of time-to-all's p95 and of server CPU
per delivery, and the last two over axum's in the same run (median of the per-run
ratios). Then per configuration the largest step held in each run (that step and every
one below it held), its median and its ratio to axum's in the same run."""
import re
import statistics
import sys

rows = {}  # config -> subs -> run -> fields
for line in open(sys.argv[1]):
    if not line.startswith("config="):
        continue
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    rows.setdefault(f["config"], {}).setdefault(int(f["subs"]), {})[f["run"]] = f


def share(f):
    return float(f.get("within_limit_pct", 0))


def p95(f):
    return float(f.get("to_all_p95_ms", "inf"))


def cpu_us(f):
    deliveries = int(f["subs"]) * int(f.get("n", 1))
    return float(f.get("server_cpu_s", "nan")) * 1e6 / deliveries


def ratio(config, subs, value):
    axum = rows.get("axum", {}).get(subs, {})
    ratios = [value(f) / value(axum[run]) for run, f in rows[config][subs].items()
              if run in axum and value(axum[run]) > 0]
    return statistics.median(ratios) if ratios else float("nan")


print(f"{'config':<12} {'subs':>6} {'held':>5} {'within %':>9} {'p95 ms':>8} "
      f"{'/axum':>6} {'CPU µs/delivery':>16} {'/axum':>6}")
for config, steps in rows.items():
    for subs in sorted(steps):
        runs = steps[subs].values()
        held = sum(share(f) >= 95 for f in runs)
        print(f"{config:<12} {subs:>6} {held:>3}/{len(runs)} "
              f"{statistics.median(map(share, runs)):>9.1f} "
              f"{statistics.median(map(p95, runs)):>8.1f} {ratio(config, subs, p95):>6.2f} "
              f"{statistics.median(map(cpu_us, runs)):>16.2f} {ratio(config, subs, cpu_us):>6.2f}")


def held_per_run(config):
    held = {}
    for run in sorted({run for steps in rows[config].values() for run in steps}):
        held[run] = 0
        for subs in sorted(rows[config]):
            f = rows[config][subs].get(run)
            if f is None or share(f) < 95:
                break
            held[run] = subs
    return held


axum_held = held_per_run("axum") if "axum" in rows else {}
for config in rows:
    held = held_per_run(config)
    ratios = [held[run] / axum_held[run] for run in held if axum_held.get(run)]
    ratio_text = f"{statistics.median(ratios):.2f}" if ratios else "nan"
    print(f"held {config:<12} median {statistics.median(held.values()):>6.0f} "
          f"(runs: {' '.join(str(v) for v in held.values())}), {ratio_text}x axum's")
