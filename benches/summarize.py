"""Summarizes benches/compare.sh output: medians (min-max) per figure and the ratio of
tower-sse to its peer measured in the same runs."""
import statistics
import sys
from collections import defaultdict

rows = defaultdict(list)
interleaved = []  # benches/passthrough_cpu.sh summaries
for line in open(sys.argv[1]):
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    if "mode" not in fields or "impl" not in fields:
        continue  # build output, the table of an earlier summary
    mode = fields["mode"]
    if mode == "plain_ab":
        interleaved.append(fields)
        continue
    if mode == "stream":
        key = (f"stream events/s, {fields['size']} B, {fields['conns']} conn", "events_per_s")
    elif mode == "fanout":
        shape = "burst" if fields["pace_us"] == "0" else f"paced {int(fields['pace_us']) // 1000} ms"
        base = f"fan-out {fields['subs']} subs, {shape}"
        for metric in ("publish_per_s", "deliveries_per_s", "p50_ms", "p99_ms", "max_ms", "lost", "server_cpu_s", "client_cpu_s"):
            rows[(f"{base}: {metric}", fields["impl"])].append(float(fields[metric]))
        continue
    elif mode == "idle":
        key = (f"idle RSS bytes/conn, {fields['conns']} conns", "bytes_per_conn")
    elif mode == "instructions":
        key = ("pass-through user-space instructions/request (callgrind)", "instructions_per_request")
    elif mode == "ceiling":
        key = (f"raw-socket ceiling events/s, {fields['size']} B", "events_per_s")
    else:
        continue
    rows[(key[0], fields["impl"])].append(float(fields[key[1]]))

def show(values):
    median = statistics.median(values)
    fmt = (lambda v: f"{v:,.0f}") if median >= 100 else (lambda v: f"{v:.3f}")
    return f"{fmt(median)} ({fmt(min(values))}–{fmt(max(values))})"

def median(name, impl):
    values = rows.get((name, impl))
    return statistics.median(values) if values else None


figures = sorted({name for name, _ in rows})
print("| figure | tower-sse | peer | ratio |")
print("| --- | --- | --- | --- |")
for name in figures:
    raw = rows.get((name, "raw"))
    if raw:
        print(f"| {name} | | raw: {show(raw)} | |")
        continue
    peer_impl = "bare" if name.startswith("pass-through") else "axum"
    peer = rows.get((name, peer_impl))
    # tower-sse wrapping the router from outside, then through `Router::layer`.
    labels = {"tower-sse-layered": "`Router::layer`",
              "limit-layered": "tower-http's `RequestBodyLimitLayer` by `Router::layer`"}
    for impl in ("tower-sse", "tower-sse-layered", "limit-layered"):
        ours = rows.get((name, impl))
        if not ours and impl != "tower-sse":
            continue
        ratio = ""
        if ours and peer and statistics.median(peer) > 0:
            ratio = f"{statistics.median(ours) / statistics.median(peer):.2f}"
        label = name if impl == "tower-sse" else f"{name} ({labels[impl]})"
        print(f"| {label} | {show(ours) if ours else ''} | {peer_impl}: {show(peer) if peer else ''} | {ratio} |")
    floor = rows.get((name, "floor"))
    if floor:
        print(f"| {name}: floor (no SSE code) | | floor: {show(floor)} | |")
        ours, theirs, base = median(name, "tower-sse"), median(name, "axum"), statistics.median(floor)
        if ours and theirs and theirs > base:
            print(f"| {name}: above the floor | {ours - base:,.0f} | axum: {theirs - base:,.0f} | {(ours - base) / (theirs - base):.2f} |")

streams = [name for name in figures if name.startswith("stream events/s")]
if streams:
    print()
    print("| stream figure | tower-sse / raw ceiling | axum / raw ceiling |")
    print("| --- | --- | --- |")
for name in streams:
    size = name.split(", ")[1]
    ceiling = median(f"raw-socket ceiling events/s, {size}", "raw")
    ours, theirs = median(name, "tower-sse"), median(name, "axum")
    if ceiling and ours and theirs:
        print(f"| {name} | {ours / ceiling:.0%} | {theirs / ceiling:.0%} |")

if interleaved:
    print()
    print("| pass-through CPU per request against the bare router beside it | ratio of totals (95% interval) | median per-round ratio (min–max) | rounds |")
    print("| --- | --- | --- | --- |")
    for fields in interleaved:
        low, high = fields["total_ratio_95"].split("..")
        print(f"| {fields['impl']} | {fields['total_ratio']} ({low}–{high}) | "
              f"{fields['median_ratio']} ({fields['min']}–{fields['max']}) | {fields['rounds']} |")
