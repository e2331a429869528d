"""BENCHMARKS.md and the PNG plots, from the results of one run."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MB = 1024 * 1024
PROCS = ("backend", "router", "gateway", "learning", "cache")


# -- formatting -------------------------------------------------------------------------------


def ms(x: float | None) -> str:
    if x is None:
        return "–"
    if abs(x) < 10:
        return f"{x:.2f}"
    if abs(x) < 100:
        return f"{x:.1f}"
    return f"{x:.0f}"


def signed(x: float | None) -> str:
    if x is None:
        return "–"
    return ("+" if x >= 0 else "−") + ms(abs(x))


def num(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def _errors(run: dict[str, Any]) -> str:
    n = run.get("error_count", 0)
    if not n:
        return "0"
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(run["errors"].items(), key=lambda kv: -kv[1])[:3])
    return f"{n} ({kinds})"


def _lat(run: dict[str, Any], key: str, q: str) -> float | None:
    return (run.get(key) or {}).get(q)


def _diff(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str, q: str) -> float | None:
    if not a or not b:
        return None
    x, y = _lat(a, key, q), _lat(b, key, q)
    return None if x is None or y is None else x - y


def _cpu_ms_per_req(run: dict[str, Any], proc: str) -> float | None:
    usage = run.get("usage") or {}
    cpu = (usage.get("cpu_s") or {}).get(proc)
    if cpu is None or not run.get("ok"):
        return None
    return cpu / run["ok"] * 1000


def _grouped(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs grouped by store, then path, in order of first appearance (levels keep theirs)."""
    first: dict[tuple[str, str], int] = {}
    for i, r in enumerate(runs):
        first.setdefault((r.get("store", ""), r["target"]), i)
    stores = list(dict.fromkeys(r.get("store", "") for r in runs))
    return sorted(runs, key=lambda r: (stores.index(r.get("store", "")), first[(r.get("store", ""), r["target"])]))


def _servers_ms(run: dict[str, Any]) -> float | None:
    usage = run.get("usage") or {}
    if not run.get("ok"):
        return None
    return sum((usage.get("cpu_s") or {}).values()) / run["ok"] * 1000


def _client_ms_per_req(run: dict[str, Any]) -> float | None:
    usage = run.get("usage") or {}
    if not run.get("ok"):
        return None
    return usage.get("client_cpu_s", 0) / run["ok"] * 1000


def _find(runs: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in runs if all(r.get(k) == v for k, v in match.items())), None)


def _section_ok(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    s = results["sections"].get(name)
    return s if s and s.get("available") else None


# -- targets ----------------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 11's targets with what was measured and whether each was met (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, measured: str, target: str, met: bool | None, reference: str) -> None:
        rows.append({"name": name, "measured": measured, "target": target, "met": met, "reference": reference})

    ov = _section_ok(results, "overhead")
    runs = ov["runs"] if ov else []
    gw100, d100 = _find(runs, target="gateway", level="100/s"), _find(runs, target="direct", level="100/s")
    tokens = results["profile"]["request_tokens"]
    for key, what in (("latency_ms", f"whole answer, {tokens} tokens"), ("ttft_ms", "time to first token")):
        for q, goal, ref in (("p50", 2, "LiteLLM: ~29 ms (2 workers), ~44 ms (1)"),
                             ("p99", 10, "LiteLLM: ~53 ms (2 workers), ~275 ms (1)")):
            v = _diff(gw100, d100, key, q)
            add(f"Added latency through the gateway at 100 req/s, {q} ({what})",
                f"{signed(v)} ms" if v is not None else "not measured", f"< {goal} ms",
                None if v is None else v < goal, ref)
    for target in ("router", "gateway"):
        r = _find(runs, target=target, level="1000/s")
        if r is None:
            add(f"Sustain 1,000 req/s through the {target}, no errors", "not measured", "≥ 970/s, 0 errors", None,
                "LiteLLM: saturates near 200/s (1 worker), 336/s (2)")
            continue
        ok = r["error_count"] == 0 and r["achieved_rate"] >= 970
        add(f"Sustain 1,000 req/s through the {target}, no errors",
            f"{r['achieved_rate']:.0f}/s, {r['error_count']} errors, p99 {ms(r['latency_ms']['p99'])} ms",
            "≥ 970/s, 0 errors", ok, "LiteLLM: saturates near 200/s (1 worker), 336/s (2)")
    ca = _section_ok(results, "cache")
    for store in ("memory", "redis"):
        r = _find(ca["runs"], target="gRPC Lookup", level="idle", store=store) if ca else None
        if r is None and store == "redis":
            continue
        v = _lat(r, "latency_ms", "p50") if r else None
        add(f"Cache hit over gRPC ({store} store), p50", f"{ms(v)} ms" if v is not None else "not measured",
            "< 1 ms", None if v is None else v < 1, "")
    le = _section_ok(results, "learning")
    rec_runs = le["runs"] if le else []
    for level in ("idle", "500/s"):
        r = _find(rec_runs, level=level)
        v = _lat(r, "latency_ms", "p99") if r else None
        add(f"Recommend p99 ({'one at a time' if level == 'idle' else 'at ' + level})",
            f"{ms(v)} ms" if v is not None else "not measured", "< 2 ms", None if v is None else v < 2, "")
    recs = le["record"] if le else []
    for form, label in (("RecordInteraction (unary)", "RecordInteraction into PostgreSQL"),
                        ("RecordInteractions (batches of 100)", "RecordInteractions (batches of 100) into PostgreSQL")):
        r = next((x for x in recs if x.get("form") == form and x.get("available")), None)
        v = r["interactions_per_s"] if r else None
        store = le.get("store", "") if le else ""
        add(label + ("" if store in ("", "PostgreSQL") else f" (ran on {store})"),
            f"{num(v)}/s" if v is not None else "not measured", "≥ 5,000/s",
            None if v is None else v >= 5000, "")
    return rows


def _others(results: dict[str, Any]) -> str:
    """CPU used by processes outside the benchmark while it measured (mean and worst run)."""
    values = []
    for section in results["sections"].values():
        for key in ("runs", "record"):
            for r in section.get(key) or []:
                v = (r.get("usage") or {}).get("others_cores")
                if v is not None:
                    values.append(v)
    if not values:
        return "not measured"
    return (f"{statistics.mean(values):.2f} cores on average, {max(values):.2f} in the busiest run "
            "(CPU used by processes outside this benchmark, PostgreSQL and Redis included)")


def _met(m: bool | None) -> str:
    return "–" if m is None else ("met" if m else "**missed**")


# -- sections ---------------------------------------------------------------------------------


def _unavailable_block(title: str, s: dict[str, Any] | None) -> str | None:
    if s is None:
        return f"## {title}\n\nNot run in this invocation.\n"
    if not s.get("available"):
        text = f"## {title}\n\nNot available: {s.get('reason')}\n"
        for note in s.get("notes", []):
            text += f"\n- {note}"
        return text + "\n"
    return None


def _notes(s: dict[str, Any]) -> str:
    notes = list(s.get("notes") or [])
    for p in s.get("log_problems") or []:
        notes.append(f"the {p['process']} logged {p['count']:,} {p['level']} line{'s' if p['count'] != 1 else ''}: "
                     f"\"{p['message']}\"")
    if not notes:
        return ""
    return "\nNotes:\n" + "".join(f"\n- {n}" for n in notes) + "\n"


def overhead_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    title = "1. Overhead per request: backend directly vs router vs gateway"
    s = results["sections"].get("overhead")
    block = _unavailable_block(title, s)
    if block:
        return block
    assert s is not None
    runs = s["runs"]
    levels = list(dict.fromkeys(r["level"] for r in runs))
    out = [f"## {title}\n"]
    out.append(
        "Every request streams the same answer "
        f"({results['profile']['request_tokens']} tokens) from the fake backend. *direct*: the client reads the "
        "backend's OpenAI-compatible SSE itself; *router*: `RouterService.Generate` over gRPC (two configured "
        "backends, both this fake, so every request also asks learning for an order); *gateway*: "
        "`POST /v1/chat/completions` with `stream: true` on the gateway, which calls the router; "
        "*gateway+limit*: the same through a second gateway with its adaptive limit on "
        "(`SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT=true`, opt-in; run at 250/s and above, where it can matter: its "
        "503s are the excess it refused at once). Times in ms, "
        "measured by the client from the request's scheduled start; TTFT = time to first token."
    )
    for name, why in (s.get("unavailable") or {}).items():
        out.append(f"\n- {name}: not available: {why}")
    out.append("")
    rows = []
    for level in levels:
        for r in (x for x in runs if x["level"] == level):
            rows.append([
                level, r["target"], num(r["achieved_rate"]), _errors(r),
                ms(_lat(r, "ttft_ms", "p50")), ms(_lat(r, "ttft_ms", "p99")),
                ms(_lat(r, "latency_ms", "p50")), ms(_lat(r, "latency_ms", "p95")),
                ms(_lat(r, "latency_ms", "p99")), ms(_lat(r, "latency_ms", "max")),
                r["client_status"],
            ])
    out.append(table(["load", "path", "achieved req/s", "errors", "TTFT p50", "TTFT p99", "total p50", "total p95",
                      "total p99", "max", "client"], rows))
    out.append("\n### Overhead = via − direct, pairwise (ms)\n")
    out.append(
        "Differences of percentiles of runs at the same offered load, side by side in one run (not percentiles "
        "of per-request differences). *router's own* is what the router reports in each DoneEvent "
        "(`overhead` = total time − time waiting on backends), read over gRPC and, through the gateway, from the "
        "last chunk's `switchboard` object.\n"
    )
    rows = []
    for level in levels:
        d = _find(runs, target="direct", level=level)
        ro = _find(runs, target="router", level=level)
        gw = _find(runs, target="gateway", level=level)
        rows.append([
            level,
            signed(_diff(ro, d, "ttft_ms", "p50")), signed(_diff(ro, d, "latency_ms", "p50")),
            signed(_diff(ro, d, "latency_ms", "p99")),
            signed(_diff(gw, d, "ttft_ms", "p50")), signed(_diff(gw, d, "latency_ms", "p50")),
            signed(_diff(gw, d, "latency_ms", "p99")),
            signed(_diff(gw, ro, "latency_ms", "p50")), signed(_diff(gw, ro, "latency_ms", "p99")),
            f"{ms(_lat(ro, 'overhead_ms', 'p50'))} / {ms(_lat(ro, 'overhead_ms', 'p99'))}" if ro else "–",
            f"{ms(_lat(gw, 'overhead_ms', 'p50'))} / {ms(_lat(gw, 'overhead_ms', 'p99'))}" if gw else "–",
        ])
    out.append(table(["load", "router−direct TTFT p50", "router−direct p50", "router−direct p99",
                      "gateway−direct TTFT p50", "gateway−direct p50", "gateway−direct p99",
                      "gateway−router p50", "gateway−router p99", "router's own p50 / p99 (gRPC)",
                      "router's own p50 / p99 (via gateway)"], rows))
    out.append("\n### CPU per request (ms of CPU time per successful request, by process)\n")
    out.append(
        "All processes share the machine's cores; the client is this harness. A process not on the path "
        "(e.g. the router during *direct* runs) still shows its idle background work. The last column is the "
        "CPU that processes outside this benchmark used during the run (PostgreSQL and Redis count there too), "
        "in cores out of the machine's total.\n"
    )
    rows = []
    for level in levels:
        for r in (x for x in runs if x["level"] == level):
            per = [_cpu_ms_per_req(r, p) for p in PROCS]
            client = _client_ms_per_req(r)
            total = sum(x for x in per if x is not None)
            others = (r.get("usage") or {}).get("others_cores")
            rows.append([level, r["target"], *(ms(x) for x in per), ms(total), ms(client), num(others, 2)])
    out.append(table(["load", "path", *PROCS, "servers total", "client", "other work on the box (cores)"], rows))
    if "overhead_latency" in plots:
        out.append(f"\n![latency against offered load]({plots['overhead_latency']})\n")
    if "overhead_cpu" in plots:
        out.append(f"![CPU per request by process]({plots['overhead_cpu']})\n")
    s = _with_tripped(s)
    out.append(profile_md(s))
    out.append(_notes(s))
    return "\n".join(out) + "\n"


def _with_tripped(s: dict[str, Any]) -> dict[str, Any]:
    """The section with a note naming the levels after which router breakers had tripped."""
    tripped = [f"{r['target']}{' with ' + str(r['backends']) + ' backends' if 'backends' in r else ''} at "
               f"{r['level']} ({', '.join(r['breakers_tripped'])})" for r in s["runs"] if r.get("breakers_tripped")]
    if not tripped:
        return s
    note = "the router's circuit breakers had tripped after: " + "; ".join(tripped) + " (reset before the next level)"
    return {**s, "notes": [*(s.get("notes") or []), note]}


def profile_md(s: dict[str, Any]) -> str:
    """The section's py-spy profiles, if any were taken."""
    profiles = s.get("profiles") or {}
    if not profiles:
        return ""
    missed = s.get("missed") or []
    head = "### Where the time goes (py-spy)"
    out = [f"\n{head}" + (f" — missed: {', '.join(missed)}" if missed else "") + "\n"]
    out.append(
        "`py-spy record --native` attached to each server under the load named (it pauses the process per "
        "sample, so these runs are not reported as latencies). A sample counts for its innermost frame outside "
        "libc and the interpreter, so a `sendmsg()` made by gRPC's C core counts as gRPC; *in syscalls* is the "
        "share of samples inside a system call. Samples waiting in epoll/futex are left out.\n"
    )
    for label, procs in profiles.items():
        out.append(f"**{label}**\n")
        if "error" in procs:
            out.append(f"not profiled: {procs['error']}\n")
            continue
        rows = []
        for name, summary in procs.items():
            if "error" in summary:
                rows.append([name, "–", "–", summary["error"][:120], ""])
                continue
            layers = ", ".join(f"{layer} {share:.0%}" for layer, share in summary["layers"][:5])
            top = "; ".join(f"`{fn}` {share:.0%}" for fn, share in summary["top"][:4])
            rows.append([name, summary["samples"], f"{summary.get('syscalls', 0):.0%}", layers, top])
        out.append(table(["process", "samples", "in syscalls", "layers", "busiest leaves (own time)"], rows))
        out.append("")
    return "\n".join(out)


def relay_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    title = "2. Token relay"
    s = results["sections"].get("relay")
    block = _unavailable_block(title, s)
    if block:
        return block
    assert s is not None
    out = [f"## {title}\n"]
    out.append(
        f"Closed loop: N concurrent streams, each answer {s.get('tokens_per_answer')} tokens from the fast fake "
        "backend, through the router (pinned to that backend: no recommendation, pure relay) and, alongside, "
        "read directly from the backend; *bare grpc.aio* is `bench/baseline_server.py`, a grpc.aio server with "
        "none of switchboard's runtime streaming the same number of TokenEvents from memory: the floor of "
        "relaying tokens over Python gRPC. Tokens/s counts tokens received by the client; CPU per 1,000 tokens "
        "and cores used are the serving process's (router, backend or bare server).\n"
    )
    rows = []
    for r in s["runs"]:
        u = r.get("usage") or {}
        proc = r.get("server") or ("router" if r["target"] == "router" else "backend")
        cores = (u.get("cpu_s") or {}).get(proc, 0) / u["wall_s"] if u.get("wall_s") else None
        rows.append([
            r["level"], r["target"], num(r["achieved_rate"], 1), num(r["tokens_per_s"]),
            num(r.get("server_cpu_s_per_1k_tokens"), 3), num(cores, 2),
            ms(_lat(r, "ttft_ms", "p50")), ms(_lat(r, "ttft_ms", "p99")),
            ms(_lat(r, "latency_ms", "p50")), ms(_lat(r, "latency_ms", "p99")),
            num((u.get("rss_max") or {}).get(proc, 0) / MB, 1), _errors(r),
        ])
    out.append(table(["streams", "path", "answers/s", "tokens/s", "CPU s / 1k tokens", "cores used",
                      "TTFT p50", "TTFT p99", "stream p50", "stream p99", "RSS max MB", "errors"], rows))
    holds = s.get("holds") or []
    if holds:
        out.append("\n### Memory per open stream\n")
        out.append(
            "N streams held open at once on a slow fake backend (answers of "
            f"{results['profile'].get('hold_tokens', '?')} tokens, one every "
            f"{results['profile']['hold_token_delay_s'] * 1000:g} ms), the router's RSS read once every stream "
            "has its first token (or when the ramp-up time ran out: *open* says how many had). Small N is within "
            "the allocator's noise.\n"
        )
        out.append(table(
            ["streams", "open", "ramp-up s", "router RSS before MB", "RSS with streams open MB", "KiB per stream"],
            [[h["streams"], h["open"], num(h["ramp_s"], 2), num(h["rss_before"] / MB, 1), num(h["rss_open"] / MB, 1),
              num(h["bytes_per_stream"] / 1024, 1) if h.get("bytes_per_stream") is not None else "–"] for h in holds],
        ))
    short = [h for h in holds if h["open"] < h["streams"]]
    if short and s.get("pool_timeouts"):
        h = short[-1]
        s = {**s, "notes": [*(s.get("notes") or []),
                            f"only {h['open']} of {h['streams']} streams opened: {s['pool_timeouts']:,} backend attempts "
                            "found the router's backend connection pool full (no free connection within the pool wait); "
                            "the router skips such attempts without blaming the backend, and the number of "
                            "concurrent backend streams per router is capped by that pool "
                            "(`SWITCHBOARD_ROUTER_MAX_CONNECTIONS`)"]}
    if "relay" in plots:
        out.append(f"\n![token relay against concurrency]({plots['relay']})\n")
    out.append(profile_md(s))
    out.append(_notes(s))
    return "\n".join(out) + "\n"


def cache_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    title = "3. Cache hit path"
    s = results["sections"].get("cache")
    block = _unavailable_block(title, s)
    if block:
        return block
    assert s is not None
    out = [f"## {title}\n"]
    out.append(
        "A 1 KiB entry read back: `CacheService.Lookup` over gRPC, `GET /v1/cache/entries/{key}` through the "
        "gateway (REST → gRPC), and a whole `Generate` (temperature 0) answered from the cache by the router. "
        "Stores: in-memory, and Redis on this machine. *bare grpc.aio Lookup* is the same RPC on "
        "`bench/baseline_server.py` (a dict behind a grpc.aio server without switchboard's runtime): the floor. "
        "Times in ms; *server CPU* is the serving processes' CPU per request.\n"
    )
    rows = [[r["store"] if not r["target"].startswith("bare") else "dict", r["target"], r["level"],
             num(r["achieved_rate"]), _errors(r),
             ms(_lat(r, "latency_ms", "p50")), ms(_lat(r, "latency_ms", "p95")), ms(_lat(r, "latency_ms", "p99")),
             ms(_lat(r, "latency_ms", "max")), ms(_servers_ms(r)), r["client_status"]] for r in _grouped(s["runs"])]
    out.append(table(["store", "path", "load", "achieved req/s", "errors", "p50", "p95", "p99", "max",
                      "server CPU ms/req", "client"], rows))
    out.append(profile_md(s))
    out.append(_notes(s))
    return "\n".join(out) + "\n"


def learning_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    title = "4. Learning"
    s = results["sections"].get("learning")
    block = _unavailable_block(title, s)
    out = [block] if block else [f"## {title}\n"]
    if s is None:
        return block or ""
    if not block:
        if s.get("recommend_unavailable"):
            out.append(f"Recommend not available: {s['recommend_unavailable']}\n")
        else:
            out.append(
                f"`Recommend` with 5 candidate backends over 20 users × 6 topics, after "
                f"{results['profile']['seed_interactions']:,} seeded interactions; storage: {s.get('store')}. "
                "Times in ms. The last row offers Recommend at a fixed rate while 8 workers send "
                "RecordInteraction as fast as they can.\n"
            )
            rows = [[r["level"], num(r["achieved_rate"]), _errors(r), ms(_lat(r, "latency_ms", "p50")),
                     ms(_lat(r, "latency_ms", "p95")), ms(_lat(r, "latency_ms", "p99")),
                     ms(_lat(r, "latency_ms", "max")), num(r.get("concurrent_writes_per_s")), r["client_status"]]
                    for r in s["runs"]]
            out.append(table(["load", "achieved req/s", "errors", "p50", "p95", "p99", "max",
                              "concurrent writes/s", "client"], rows))
        recs = s.get("record") or []
        if recs:
            out.append("\n### Writing interactions\n")
            out.append(
                "Closed loop for the run's duration; *rows added* counts `learning_interactions` rows before and "
                "after (a second after the run), so acknowledged-but-spooled writes are visible.\n"
            )
            rows = []
            for r in recs:
                if not r.get("available"):
                    rows.append([r["form"], "–", "–", r.get("reason", ""), "–", "–", "–", "–", "–"])
                    continue
                dur = ", ".join(f"{k} {v}" for k, v in sorted(r.get("durability", {}).items()))
                rows.append([r["form"], r["concurrency"], num(r["interactions_per_s"]), _errors(r),
                             ms(_lat(r, "latency_ms", "p50")), ms(_lat(r, "latency_ms", "p99")), dur or "–",
                             num(r.get("rows_added")), ms(r.get("cpu_ms_per_interaction"))])
            out.append(table(["form", "workers", "interactions/s", "errors", "call p50 ms", "call p99 ms",
                              "acks", "rows added", "learning CPU ms / interaction"], rows))
    sim = s.get("sim")
    out.append("\n### Adaptive routing simulation (bench/learning_sim.py)\n")
    if not sim or not sim.get("available"):
        out.append(f"Not available: {(sim or {}).get('reason', 'not run')}\n")
    else:
        out.append(f"`{sim['command']}` ({sim['seconds']:.0f} s):\n")
        out.append("```\n" + sim["table"] + "\n```\n")
    out.append(profile_md(s))
    out.append(_notes(s))
    return "\n".join(out) + "\n"


def briefs_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    title = "5. Briefs"
    s = results["sections"].get("briefs")
    block = _unavailable_block(title, s)
    if block:
        return block
    assert s is not None
    out = [f"## {title}\n"]
    seed = s.get("seed") or {}
    out.append(
        f"One owner with {results['profile']['deals']:,} deals, {results['profile']['tasks']:,} tasks and "
        f"{results['profile']['contacts']:,} contacts (storage: {s.get('store')}), loaded through the briefs "
        "service's own RPCs; then `GenerateBrief` (no narrative) timed by the client. Times in seconds.\n"
    )
    out.append(table(
        ["loaded", "rows", "stored", "errors", "seconds", "rows/s"],
        [[k, num(v["rows"]), num(v["imported"]), v["errors"], num(v["seconds"], 2),
          num(v["rows"] / v["seconds"] if v["seconds"] else None)] for k, v in seed.items()],
    ))
    out.append("")
    rows = []
    for r in s["runs"]:
        if not r.get("available"):
            rows.append([r["kind"], "–", "–", "–", "–", "–", r.get("reason", "")])
            continue
        t = r["seconds"]
        rows.append([r["kind"], len(t), num(min(t), 3), num(statistics.median(t), 3), num(max(t), 3),
                     num(statistics.median(r["cpu_s"]), 3), num(r["text_chars"])])
    out.append(table(["brief", "runs", "min s", "median s", "max s", "briefs CPU s (median)", "text chars"], rows))
    out.append(_notes(s))
    return "\n".join(out) + "\n"


def backends_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    title = "6. How cost grows"
    out = [f"## {title}\n"]
    out.append(
        "Against concurrency: the token-relay runs of section 2 (plot there) and the load levels of section 1. "
        "Against the number of backends: the router configured with N backends (all the same fast fake, so "
        "only the router's own work changes; with 2 or more it asks learning for an order on every request).\n"
    )
    s = results["sections"].get("backends")
    if s is None or not s.get("available"):
        out.append(f"Not available: {(s or {}).get('reason', 'not run')}\n")
        return "\n".join(out) + "\n"
    rows = []
    for n in dict.fromkeys(r["backends"] for r in s["runs"]):
        fixed = next((r for r in s["runs"] if r["backends"] == n and r["mode"] == "open"), None)
        flat = next((r for r in s["runs"] if r["backends"] == n and r["mode"] == "closed"), None)
        rows.append([
            n,
            ms(_lat(fixed, "latency_ms", "p50")) if fixed else "–",
            ms(_lat(fixed, "latency_ms", "p99")) if fixed else "–",
            ms(_cpu_ms_per_req(fixed, "router")) if fixed else "–",
            num(flat["achieved_rate"]) if flat else "–", ms(_lat(flat, "latency_ms", "p99")) if flat else "–",
            ms(_cpu_ms_per_req(flat, "router")) if flat else "–",
            ms(_cpu_ms_per_req(flat, "learning")) if flat else "–",
            num((fixed or flat or {}).get("rss_idle", 0) / MB, 1),
            _errors(fixed) if fixed else "–",
        ])
    rate = results["profile"]["backends_rate"]
    out.append(table(["backends", f"p50 at {rate:g}/s", f"p99 at {rate:g}/s", f"router CPU ms/req at {rate:g}/s",
                      "max req/s", "p99 at max", "router CPU ms/req at max", "learning CPU ms/req at max",
                      "router RSS idle MB", "errors"], rows))
    if "backends" in plots:
        out.append(f"\n![cost against the number of backends]({plots['backends']})\n")
    out.append(_notes(_with_tripped(s)))
    return "\n".join(out) + "\n"


def _router_cpu_s(run: dict[str, Any]) -> float:
    """CPU seconds of every router process in the run (replicas are router-1, router-2…)."""
    cpu = (run.get("usage") or {}).get("cpu_s") or {}
    return sum(v for k, v in cpu.items() if k == "router" or k.startswith("router-"))


def _router_ms(run: dict[str, Any]) -> float | None:
    """CPU per request of every router process in the run."""
    return _router_cpu_s(run) / run["ok"] * 1000 if run.get("ok") else None


def _router_shares(run: dict[str, Any]) -> str:
    cpu = (run.get("usage") or {}).get("cpu_s") or {}
    mine = {k: v for k, v in cpu.items() if k.startswith("router-")}
    total = sum(mine.values())
    return " / ".join(f"{v / total:.0%}" for _, v in sorted(mine.items())) if total > 0 else "–"


def _pinned_ceiling(s: dict[str, Any]) -> tuple[float, float, float] | None:
    """(req/s, cores the router used, router CPU ms per request) of the one-router-per-core run."""
    d = s.get("pinned")
    if not d or not d.get("ok") or not (d.get("usage") or {}).get("wall_s"):
        return None
    cores = _router_cpu_s(d) / d["usage"]["wall_s"]
    return d["achieved_rate"], cores, _router_ms(d) or 0.0


def replicas_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    out = ["### Against the number of router processes\n"]
    out.append(
        "N router replicas behind one gateway, whose channel to the router round-robins over them (the "
        "`ipv4:a:port,b:port` form of `SWITCHBOARD_ROUTER_ADDRESS`); same fake backend, cache and learning as "
        "section 1, gateway path. *share* is each replica's part of the routers' CPU (even = the calls were "
        "spread evenly).\n"
    )
    s = results["sections"].get("replicas")
    if s is None or not s.get("available"):
        out.append(f"Not available: {(s or {}).get('reason', 'not run')}\n")
        return "\n".join(out) + "\n"
    rows = []
    for r in s["runs"]:
        rows.append([
            r["replicas"], r["level"], num(r["achieved_rate"]), _errors(r),
            ms(_lat(r, "latency_ms", "p50")), ms(_lat(r, "latency_ms", "p99")),
            ms(_router_ms(r)), _router_shares(r), ms(_cpu_ms_per_req(r, "gateway")), r["client_status"],
        ])
    out.append(table(["routers", "load", "achieved req/s", "errors", "p50", "p99", "router CPU ms/req (all)",
                      "share per replica", "gateway CPU ms/req", "client"], rows))
    ceiling = _pinned_ceiling(s)
    if ceiling:
        rate, cores, cpu_ms = ceiling
        d = s["pinned"]
        bound = ("so the router was the limit: this is one router process's ceiling on one core"
                 if cores >= 0.85 else
                 "so the router was not the limit (the other CPU, shared by everything else, was): "
                 "one router process's ceiling per core is at least this")
        out.append(
            f"\n**One router process on a CPU of its own** (CPU {d.get('router_cpu')}; the load generator, "
            f"backend, cache and learning pinned to the other; PostgreSQL and Redis unpinned), gRPC Generate "
            f"with {d['level'].split('=')[-1].rstrip(')')} workers: {num(rate)} req/s, p99 "
            f"{ms(_lat(d, 'latency_ms', 'p99'))} ms, errors {_errors(d)}; the router used {cores:.2f} of its core "
            f"at {ms(cpu_ms)} ms of CPU per request, {bound}.\n"
        )
    out.append(_notes(s))
    return "\n".join(out) + "\n"


# -- plots ------------------------------------------------------------------------------------


def make_plots(results: dict[str, Any], plot_dir: Path, rel: str) -> dict[str, str]:
    """Writes the PNGs; returns {name: path relative to BENCHMARKS.md}."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return {}
    plot_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(plot_dir / f"{name}.png", dpi=110)
        plt.close(fig)
        made[name] = f"{rel}/{name}.png"

    ov = _section_ok(results, "overhead")
    if ov:
        runs = [r for r in ov["runs"] if r["mode"] == "open"]
        if runs:
            fig, axes = plt.subplots(1, 2, figsize=(11, 4))
            for target in dict.fromkeys(r["target"] for r in runs):
                pts = sorted((r["offered_rate"], r) for r in runs if r["target"] == target)
                xs = [x for x, _ in pts]
                for ax, q in zip(axes, ("p50", "p99"), strict=True):
                    ax.plot(xs, [_lat(r, "latency_ms", q) or float("nan") for _, r in pts], marker="o", label=target)
            timeout_ms = results["profile"].get("request_timeout_s", 10) * 1000
            for ax, q in zip(axes, ("p50", "p99"), strict=True):
                ax.axhline(timeout_ms, color="grey", linestyle=":", linewidth=1, label="time-out (unanswered = error)")
                ax.set_xticks(sorted({r["offered_rate"] for r in runs}))
                ax.set_xlabel("offered load (requests/s, open loop)")
                ax.set_ylabel(f"total time {q} (ms)")
                ax.set_yscale("log")
                ax.grid(True, which="both", alpha=0.3)
                ax.legend()
                ax.set_title(f"Streamed answer, {q}")
            save(fig, "overhead_latency")
            level = "100/s"
            bars = [r for r in ov["runs"] if r["level"] == level]
            if bars:
                fig, ax = plt.subplots(figsize=(7, 4))
                bottom = [0.0] * len(bars)
                for proc in (*PROCS, "client"):
                    vals = [(_client_ms_per_req(r) if proc == "client" else _cpu_ms_per_req(r, proc)) or 0
                            for r in bars]
                    ax.bar([r["target"] for r in bars], vals, bottom=bottom, label=proc)
                    bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
                ax.set_ylabel("CPU ms per request")
                ax.set_title(f"Where the CPU goes at {level}")
                ax.legend()
                save(fig, "overhead_cpu")
    rl = _section_ok(results, "relay")
    if rl and rl["runs"]:
        from matplotlib.ticker import FixedLocator, ScalarFormatter  # noqa: PLC0415

        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        colours = {"router": "tab:orange", "direct": "tab:blue", "bare grpc.aio": "tab:green"}
        ticks: set[int] = set()
        for target in ("router", "direct", "bare grpc.aio"):
            pts = sorted((int(r["level"]), r) for r in rl["runs"] if r["target"] == target)
            if not pts:
                continue
            xs = [x for x, _ in pts]
            ticks.update(xs)
            c = colours[target]
            axes[0][0].plot(xs, [r["tokens_per_s"] for _, r in pts], marker="o", color=c, label=target)
            axes[0][1].plot(xs, [r.get("server_cpu_s_per_1k_tokens") or float("nan") for _, r in pts], marker="o",
                            color=c, label=target)
            axes[1][0].plot(xs, [_lat(r, "latency_ms", "p50") or float("nan") for _, r in pts], marker="o",
                            color=c, label=f"{target} p50")
            axes[1][0].plot(xs, [_lat(r, "latency_ms", "p99") or float("nan") for _, r in pts], marker="x",
                            color=c, linestyle="--", label=f"{target} p99")
        holds = rl.get("holds") or []
        if holds:
            axes[1][1].plot([h["streams"] for h in holds], [h["rss_open"] / MB for h in holds], marker="o",
                            color=colours["router"], label="router RSS with N streams open")
            axes[1][1].plot([h["streams"] for h in holds], [h["rss_before"] / MB for h in holds], marker="x",
                            linestyle="--", color="grey", label="router RSS before")
            axes[1][1].set_ylim(bottom=0)
        for ax, (xl, yl) in zip(
            (axes[0][0], axes[0][1], axes[1][0], axes[1][1]),
            (("concurrent streams", "tokens/s (log)"), ("concurrent streams", "CPU s per 1,000 tokens"),
             ("concurrent streams", "stream time, ms (log)"), ("open streams", "RSS (MiB)")),
            strict=True,
        ):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_locator(FixedLocator([]))
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        axes[0][0].set_yscale("log")
        axes[1][0].set_yscale("log")
        axes[0][1].set_ylim(bottom=0)
        fig.suptitle(f"Token relay ({rl.get('tokens_per_answer')} tokens per answer)")
        save(fig, "relay")
    bk = _section_ok(results, "backends")
    if bk and bk["runs"]:
        from matplotlib.ticker import FixedLocator, ScalarFormatter  # noqa: PLC0415

        fixed = sorted((r["backends"], r) for r in bk["runs"] if r["mode"] == "open")
        flat = sorted((r["backends"], r) for r in bk["runs"] if r["mode"] == "closed")
        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        if fixed:
            xs = [x for x, _ in fixed]
            axes[0][0].plot(xs, [_lat(r, "latency_ms", "p50") for _, r in fixed], marker="o", label="p50")
            axes[0][0].plot(xs, [_lat(r, "latency_ms", "p99") for _, r in fixed], marker="x", label="p99")
            axes[1][1].plot(xs, [r["rss_idle"] / MB for _, r in fixed], marker="o", label="router RSS idle")
        if flat:
            xs = [x for x, _ in flat]
            axes[0][1].plot(xs, [r["achieved_rate"] for _, r in flat], marker="o", label="closed loop")
            axes[1][0].plot(xs, [_cpu_ms_per_req(r, "router") for _, r in flat], marker="o", label="router")
            axes[1][0].plot(xs, [_cpu_ms_per_req(r, "learning") for _, r in flat], marker="x", label="learning")
        rate = results["profile"]["backends_rate"]
        for ax, yl in zip((axes[0][0], axes[0][1], axes[1][0], axes[1][1]),
                          (f"total time at {rate:g}/s (ms)", "max requests/s", "CPU ms per request (flat out)",
                           "RSS (MiB)"), strict=True):
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_locator(FixedLocator([n for n, _ in (fixed or flat)]))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_locator(FixedLocator([]))
            ax.set_xlabel("configured backends")
            ax.set_ylabel(yl)
            ax.set_ylim(bottom=0)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        save(fig, "backends")
    return made


# -- the document -----------------------------------------------------------------------------


def _start_lag(results: dict[str, Any]) -> str:
    """The median start lag over the unsaturated open-loop runs of section 1, as a clause."""
    runs = [r for r in (results["sections"].get("overhead") or {}).get("runs", [])
            if r.get("mode") == "open" and 0 < (r.get("offered_rate") or 0) <= 250
            and (r.get("lag_ms") or {}).get("p50") is not None]
    if not runs:
        return ""
    lags = sorted(r["lag_ms"]["p50"] for r in runs)
    return f"; in this run the median start lag at up to 250 req/s was {lags[len(lags) // 2] * 1000:.0f} µs"


def floors_md(results: dict[str, Any], plots: dict[str, str]) -> str:
    title = "7. Floors: single library operations on the request path"
    s = results["sections"].get("floors")
    block = _unavailable_block(title, s)
    if block:
        return block
    assert s is not None
    rows = [[i["group"], i["what"], f"{i['cpu_us']:,.0f}", f"{i['wall_us']:,.0f}", i["note"]] for i in s["items"]]
    return (
        f"## {title}\n\n"
        "Measured in the harness process, one operation at a time after a warm-up (`bench/floors.py`): µs of "
        "this process's CPU per operation, and of wall time (which includes the other side's work on the shared "
        "cores). A routed request is a handful of these, so they are what the per-request CPU above is made of; "
        "none of them is switchboard's own code except the trace-context interceptor (a row of its own).\n\n"
        + table(["layer", "operation", "CPU µs", "wall µs", "why it matters"], rows) + "\n" + _notes(s)
    )


def _floor(results: dict[str, Any], starts: str) -> float | None:
    s = _section_ok(results, "floors")
    item = next((i for i in (s or {}).get("items", []) if i["what"].startswith(starts)), None)
    return item["cpu_us"] if item else None


def render(results: dict[str, Any], plots: dict[str, str], bounds: str = "") -> str:
    m = results["machine"]
    prof = results["profile"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python -m bench{' --quick' if prof['name'] == 'quick' else ''}`) on "
        f"{results['started_at']} in {results['seconds'] / 60:.1f} minutes (profile *{prof['name']}*). "
        "Do not edit by hand: re-run it. Raw numbers: `bench/results/latest.json` (not committed).",
        "",
        "## Targets",
        "",
        table(["target", "measured", "goal", "", "reference (design notes)"],
              [[t["name"], t["measured"], t["target"], _met(t["met"]), t["reference"]] for t in targets(results)]),
        "",
    ]
    if bounds:
        lines += [bounds, ""]
    lines += [
        "## Found while benchmarking",
        "",
        "- **Fixed: ~40 ms on every streamed gateway response.** The gateway's listening socket was created "
        "with protocol 0, and asyncio sets `TCP_NODELAY` only on sockets whose protocol is TCP, so Nagle's "
        "algorithm held each response body until the client's delayed ACK (40 ms) on every kept-alive "
        "connection. `switchboard/runtime/http.py` now creates the socket with `IPPROTO_TCP`; one request at a "
        "time through the gateway went from ~48 ms to ~9 ms (20-token answers).",
        "- **Fixed: one gRPC message per token.** The router now sends the text already received from the "
        "backend as one TokenEvent each time it can write (no timers; the first token still goes out at once), "
        "which halved its CPU per relayed token in a before/after run of the relay and overhead sections.",
        "- **Fixed: pool exhaustion blamed the backend.** With 1,000 held streams the router's HTTP pool (then 200 "
        "connections) timed out and the timeout was counted against a healthy backend, opening its breaker. Pool "
        "exhaustion is now a local condition (the attempt is skipped, RESOURCE_EXHAUSTED when nothing else "
        "answers) and the pool size is a setting (`SWITCHBOARD_ROUTER_MAX_CONNECTIONS`, default 1,000).",
        "- **The router's self-reported overhead is a lower bound.** `DoneEvent.overhead` is total time minus the "
        "time spent waiting on the backend (now only the waits for the next chunk); gRPC transport outside the "
        "handler is not in it: compare *router's own* with *router − direct* in section 1.",
        "- **Fixed: learning's write path.** py-spy showed ~45% of a batch write in compiling a fresh multi-row "
        "INSERT and ~13% in per-row dict building. PostgreSQL now takes one fixed `INSERT … SELECT FROM unnest(…) "
        "ON CONFLICT DO NOTHING RETURNING` with binary arrays, concurrent calls share one write (group commit, each "
        "caller answered after the commit), and a burst of re-ask signals is one feedback transaction. In a "
        "before/after run of the learning section: batches of 100 1,192 → 6,113 interactions/s, unary 185 → 511/s, "
        "streams 232 → 1,716/s.",
        "- **Fixed: the router's backend client.** httpx cost ~1.5 ms of CPU per streamed answer (section 7); the "
        "router now uses aiohttp (~0.5 ms), reads each network read's lines at once instead of one line per "
        "async-iterator hop and timeout, and sends outcomes to learning in batches (a 50 ms linger). Spans are "
        "not recorded when no exporter is configured. For the client switch, the linger and the re-ask batching "
        "together, a before/after run of this section's mesh (4 closed-loop workers, 6 s, back to back on the quiet "
        "machine): router CPU per request 4.9–5.7 → 3.9–4.1 ms, learning 2.8–3.2 → 1.9–2.9 ms, gateway "
        "throughput 138 → 178 req/s.",
        "- **Fixed: per-request costs in the router, learning and the gateway.** py-spy on one request at a time "
        "showed aiohttp's `trust_env` re-reading the proxy variables and looking up ~/.netrc in a worker thread on "
        "every backend request (the router now decides proxies once per backend origin), an `asyncio.timeout` per "
        "relayed chunk for the caller's deadline (now folded into the backend's one timer per network read), one "
        "freshly compiled INSERT per re-ask signal in learning (now one multi-row insert), and the gateway's "
        "HTTP parsed by pure-Python h11 (uvicorn now uses httptools). Back to back on the same machine: router "
        "CPU per request 4.8 → 3.2–4.1 ms (one at a time, learning and cache away); gateway path at 100/s "
        "17.3 → 12.3 ms p50 and 190 → 235 req/s flat out (httptools alone).",
        "- **Partly fixed: overload collapse.** Offered 5× what the mesh can serve (1,000/s through the gateway), "
        "every request used to wait past the client's 10 s time-out (an earlier run served 0/s). Every service "
        "now refuses new calls at once while its event loop runs behind (`SWITCHBOARD_OVERLOAD_LOOP_LAG_S`, "
        "0.1 s, median of the last 5 samples of a 50 ms timer), but on this box the queue is mostly not in one "
        "service's event loop (the router's loop lag stays at 3–6 ms at 1,000/s while its callers wait), so the "
        "requests the gateway admits still wait seconds (section 1, *gateway* at 500/s and 1,000/s). For that "
        "the gateway now has an opt-in adaptive limit on chat completions in flight "
        "(`SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT`, switchboard/runtime/adaptive_limit.py): AIMD on each request's "
        "queueing delay, measured as the gateway's time to the first token minus the router's own time to first "
        "token (so backend time, answer length and a slow client do not count), cut when the median of the last "
        "few exceeds 100 ms. In the run of 22:44 (section 1, *gateway+limit* against *gateway*): at 500/s "
        "offered p99 269 ms against 3,536 ms and 329 against 316 answers a second; at 1,000/s p99 345 ms against "
        "7,486 ms and 410 against 371 a second; flat out (C=32) 437 against 394 a second with p99 126 against "
        "312 ms. It is off by default because near capacity it also refuses requests an unlimited gateway "
        "serves, slowly (250/s: 50 of about 2,000 refused, while p99 fell from 433 to 206 ms). The router has "
        "no such limit yet.",
        "- **Fixed: learning asked once per routed request.** Each routed request called learning's Recommend "
        "(a Thompson draw) on its path, and that call was most of learning's CPU per request. Recommend now "
        "returns several independent draws at once (`RecommendRequest.draws`), and the router keeps them per "
        "(tenant, user, topic, usable backends) and spends one per request, refilled in the background, at most "
        "1 s old (`SWITCHBOARD_ROUTER_RECOMMEND_DRAWS`, `SWITCHBOARD_ROUTER_RECOMMEND_MAX_AGE_S`): each request "
        "still follows its own draw. Back to back at 100/s through the gateway (per-request asking vs draws, two "
        "alternations): learning CPU per request 2.04–2.60 → 1.20–1.25 ms, gateway p50 11.4–16.2 → 8.9–10.1 ms. "
        "The saving holds where (user, topic) keys repeat within a second; traffic of many distinct users each "
        "asking rarely still asks learning about once per request.",
        "- **Fixed: psycopg re-parsed every re-ask write.** A batch of implicit feedback went through "
        "SQLAlchemy's multi-row VALUES, whose text changes with the batch size, so psycopg converted the query "
        "(a regex split) on every write: ~15–20% of learning's CPU under router traffic (py-spy, native). It is "
        "now one fixed `unnest` insert, like the interactions'.",
        "- **Fixed: outcomes went to learning every 50 ms.** The router's outcome linger is now 0.2 s, so a "
        "RecordInteractions call carries four times as many outcomes: learning's CPU per routed request at "
        "100/s 1.59–1.64 → 0.70–0.72 ms, back to back.",
        "- **Fixed: the cache's Redis breaker opened on a healthy Redis under load.** With the CPU saturated "
        "(router Generate, cache hits, 32 workers) the cache read Redis's answers after the 50 ms budget or "
        "waited that long for one of its 32 pooled connections, counted both against Redis, opened the breaker, "
        "and hits became misses (1,212 errors in one run, 2,032 in the first run of this session). Now a "
        "time-out while the cache's own loop runs late by half the budget is no verdict on Redis (redis-py's "
        "socket time-out is judged the same way), and neither is a wait for a pooled connection; the bench's "
        "log summary names the error behind a breaker's move.",
        "- **Tried, no gain: uvloop and GC tuning.** uvloop under every service changed nothing measurable "
        "(grpc.aio's cost is in its own C core and callbacks, not the event loop). py-spy's native stacks "
        "showed ~15% in `gc_collect_main`, but `gc.callbacks` measured ~2% of CPU in collections; raising the "
        "thresholds made runs slower, and `gc.freeze()` after start-up changed nothing measurable in CPU.",
        "- **Fixed: a full garbage collection stalled each service once, seconds into serving.** Timing every "
        "collection (`gc.callbacks`) in every service of section 1's mesh showed no full collection in steady "
        "state but one a few seconds after start-up, when what start-up built (~80–90k objects in the router and "
        "the gateway: modules, protobuf descriptors, clients; learning also its model rebuilt from the database) "
        "crossed the collector's threshold: 45–75 ms with the "
        "event loop stopped, in the router and the gateway during the first measured run (p99 36 and 78 ms in "
        "that run, 18–24 ms in the runs after). Each service now collects once when it is ready and freezes "
        "what is alive (switchboard/runtime/heap.py), before it reports SERVING: that pause comes before "
        "serving, and later full collections scan only what was created since (a few thousand objects). Back "
        "to back at 100/s, old and new alternated twice on 2026-11-22 (two runs each, the first right after "
        "start-up): router p99 14.6–22.2 → 10.0–13.6 ms; the gateway's p99 (11.9–70.2 → 11.4–23.8 ms) has "
        "outliers of its own. An A/B only: the tables of the run of 2026-11-22 03:13 predate this change.",
        "- **Fixed: a socket write per SSE object, and a trip per token.** On loopback each send() runs the "
        "receiver's side of TCP too: py-spy (native) put ~18% of the gateway's CPU in send() and ~25% of the "
        "router's in send/sendmsg/write. The gateway wrote every SSE object of a stream on its own (a 20-token "
        "answer from the router's 4 events: headers, 5 objects and an empty terminating chunk, 7 writes) "
        "through Starlette's StreamingResponse and its anyio task group; its own `EventStreamResponse` writes "
        "once per read of the router's stream, ends the body in the last write, holds the role chunk for the "
        "first token (so a failure before any token is a real HTTP status) and watches for a client leaving "
        "with one future: 3 writes. The router passed each SSE token of a burst through the chain, the relay "
        "and its queue one by one; the text of one network read now goes on as one chunk. Back to back "
        "(`python -m bench.probe`, idle/100/250 per second through the gateway, CPU per request relative to the "
        "unchanged backend's, which absorbs the VM's drift): gateway about -15 to -20%, router about -10%.",
        "- **This VM's speed varies from host to host.** The bare backend read flat out reached 3,310 req/s in one "
        "session and 2,323 in another; one Lookup on a bare grpc.aio server cost 0.38 ms of CPU in the run of "
        "2026-11-21 18:40, 0.67 ms in the one of 20:27 (an unrecorded span 6 µs against 18 µs) and 0.34 ms in "
        "the one of 22:44, and old and new code measured back to back right after the 20:27 run were equally "
        "slow. Even the machine-speed units under *What bounds these numbers* are only good to about ±25% across "
        "hosts: from the 20:27 run to the 22:44 one they moved from 9.2 to 10.3 (router path) and 12.8 to 16.4 "
        "(gateway path) with no change to the default request path, and `bench.probe` alternating that run's "
        "code (bd80855) with this one's, twice, measured the same CPU per request relative to the fake backend's "
        "(router 4.6–5.3×, gateway 3.6–4.1× in both). Compare paths within one run, and changes back to back. "
        "The run of 2026-11-22 01:15 was on a slow host again (bare Lookup 0.56 ms): the memory-store cache hit, "
        "met at 22:44 with 0.82 ms, measured 1.17 ms with less CPU per call relative to the bare server "
        "(1.4× against 1.7×), and the units fell to 6.9 (router path) and 9.1 (gateway path) from 10.3 and "
        "16.4, more than the back-to-back A/B of that day's changes accounts for (7–9% of router and gateway "
        "CPU): the rest is the unit's own noise. The run of 2026-11-22 03:13 was on a fast host (bare Lookup "
        "0.32 ms; units 9.8 and 13.8): its higher ceilings than the 01:15 run's (flat out, router 331 → 682 "
        "req/s, gateway 286 → 524; 500/s now served without errors through both) are partly the host and partly "
        "the outcome pacing below, whose own share the back-to-back A/B in that finding isolates.",
        "- **Fixed: an abort racing the caller's cancel was logged as a bug.** Section 6 (the replica runs) logged "
        "learning's Recommend as an *unhandled error* and then grpc's *Unexpected [UsageError]*: a refusal "
        "(`context.abort`, here UNAVAILABLE while learning was not ready) raced the router cancelling that call, "
        "so sending the status failed with grpc's ExecuteBatchError, which the error boundary took for a bug, "
        "logged with a traceback and answered with a second abort, which grpc refuses. Reproduced on a real "
        "server (half of 300 aborts made right at a cancel fail that way); the boundary now lets it pass, as "
        "grpc's own server does (the caller is gone), and a test races 200 aborts against cancels and finds no "
        "ERROR line. These notes are from the run before the fix.",
        "- **Fixed: tracing paid for spans nobody recorded.** With no exporter (the default) every span is "
        "dropped, yet OpenTelemetry's gRPC interceptors did a recorded span's work on every call: attribute "
        "dicts, the metadata copied twice, the peer address parsed, the servicer context proxied; its ASGI "
        "middleware and aiohttp's tracing signals likewise. Measured on 2026-11-22: ~0.12 ms of CPU per call on "
        "a gRPC server (removing only that interceptor took a cache Lookup from 0.68 to 0.56 ms), less on a "
        "client (section 7: a peer call made while serving a request, in the run of 2026-11-22 01:15, 440 µs "
        "with OpenTelemetry's client interceptors, 424 with the new one, 371 with none). Without an exporter the services now only carry the trace context "
        "(switchboard/runtime/trace_context.py: the caller's trace id continued, a span id of their own for the "
        "logs, `traceparent` passed on to peers and backends); with one, OpenTelemetry's instrumentation as "
        "before. Each server interceptor also wraps a method's handler once instead of on every call. "
        "Interleaved A/B of the cache Lookup (memory store): 0.83 → 0.70 ms of CPU per call for the tracing, "
        "0.50 → 0.48 for the wrapping; `bench.probe` alternating the checkouts, CPU per request relative to the "
        "fake backend's: router 4.77× → 4.43×, gateway 3.33× → 3.07×.",
        "- **Fixed: the load generator billed its own lateness to the mesh.** asyncio's epoll loop waits in "
        "whole milliseconds, so an open-loop request started ~0.6 ms late at the median (1.3 ms at p99) and, timed "
        "from its schedule, carried that into every open-loop latency, *direct* included (Recommend at 250/s: "
        "p50 2.23 → 1.79 ms with no server change). See *Method*; the pairwise overheads of section 1 were "
        "affected little, absolute open-loop latencies before 2026-11-22 were ~0.5 ms too high at the median.",
        "- **Fixed: under steady load, outcomes went to learning a few at a time.** Only the first outcome after "
        "a quiet spell waited the router's linger (0.2 s); under steady load the outcome queue never emptied, so "
        "each RecordInteractions call carried only what had arrived during the previous one (in this traffic, "
        "where one user repeats one prompt, each call also wrote its re-ask signals in a transaction of its "
        "own). A part batch now goes at most once per linger. `bench.probe`, old and new checkouts alternated "
        "twice on 2026-11-22: learning's CPU per routed request one at a time 1.83–2.46 → 0.30–0.32 ms, at "
        "250/s 0.59–0.74 → 0.24–0.31 ms; the router path one at a time 213–273 → 320–361 req/s. At 100/s, "
        "where the queue often empties between requests, little changed (0.67–0.77 → 0.52–0.53 ms). In the "
        "full runs before and after (different hosts), learning's CPU per request one at a time on the router "
        "path went from 2.39 to 0.30 ms.",
        "",
    ]
    lines += [
        "## Machine",
        "",
        table(["", ""], [
            ["CPU", f"{m['cpu_model']}, {m['logical_cpus']} logical CPUs ({m['physical_cores']} cores)"
                    + (f", {m['cpu_mhz']} MHz" if m.get("cpu_mhz") else "")],
            ["RAM", f"{m['ram_gib']} GiB"],
            ["OS", m["os"]],
            ["Python", m["python"]],
            ["grpcio / protobuf", f"{m['grpcio']} / {m['protobuf']}"],
            ["uvicorn / httptools / starlette / aiohttp / httpx",
             f"{m['uvicorn']} / {m.get('httptools', '-')} / {m['starlette']} / {m.get('aiohttp', '-')} / {m['httpx']}"],
            ["SQLAlchemy / psycopg", f"{m['sqlalchemy']} / {m['psycopg']}"],
            ["PostgreSQL / Redis", f"{m['postgresql']} / {m['redis']} (local)"],
            ["load average at start / end", f"{m['load_average_at_start']} / {results.get('load_average_at_end')}"],
            ["other work during the runs", _others(results)],
        ]),
        "",
        "## Method",
        "",
        "- **One run, side by side.** `make bench` starts every server as its own OS process, as an operator "
        "would (`python -m switchboard.testing.fake_backend --port N`, `python -m services.<svc> --port N`), with "
        "default settings (JSON logs at INFO, no tracing exporter), and drives them from this harness, a separate "
        "process. The monitor is not started: the router runs without backend health, as designed.",
        f"- **The machine is shared.** All servers and the load generator share the {m['logical_cpus']} CPUs "
        "(and PostgreSQL and Redis run here too), so a number here is the whole mesh's cost on this box, not one "
        "process's on a dedicated core. The load average above shows what else was running.",
        "- **Backend.** `switchboard/testing/fake_backend.py`: an OpenAI-compatible server answering a fixed "
        "number of tokens at once (streamed as SSE, one token per event), so every difference between paths is "
        "the mesh's own cost.",
        "- **Open loop.** Offered loads are open loop: arrival times are drawn up front (Poisson) and each "
        "request starts at its scheduled time whatever earlier ones are doing; latency is measured from the "
        "scheduled time, so a queue in the client or the servers shows up as latency instead of being hidden "
        "(coordinated omission). *client* says `ok` when the harness started requests within 10 ms of schedule "
        "(p99), used under 85% of a core and achieved ≥ 95% of the offered rate; otherwise it says which. "
        "The harness's event loop times its waits to the microsecond (bench/load.py `PreciseEpollSelector`): "
        "asyncio's default loop waits in whole milliseconds and started each request ~0.6 ms late at the median "
        "(1.3 ms at p99 at 500 req/s), which every open-loop latency carried until 2026-11-22" + _start_lag(results) + ".",
        f"- **Time-outs.** A request unanswered after {prof.get('request_timeout_s', 10):g} s is counted as an "
        "error (`timeout`) and the harness stops waiting for it; percentiles cover answered requests only, so "
        "beyond saturation they are capped near the time-out and the error count tells the rest.",
        "- **Closed loop.** *idle* is one request at a time (the unloaded latency); *max (C=N)* is N workers "
        "back to back (the throughput ceiling on this machine).",
        "- **A/B of one change.** `python -m bench.probe` starts section 1's mesh and prints latency and each "
        "process's CPU per request for chosen paths and loads (optionally with py-spy): alternate it between "
        "two checkouts, back to back. The findings below that say *back to back* were measured that way.",
        "- **Clients.** gRPC through `grpc.aio` (four channels, each its own connection); HTTP through a minimal "
        "asyncio HTTP/1.1 client with keep-alive (bench/http.py), cheaper per request than httpx.",
        "- **Percentiles.** Nearest rank over every request of the run; *max* is the single worst. CPU is "
        "user + system time from psutil, before and after each run; RSS is sampled every 200 ms.",
        f"- **Durations.** {prof['run_s']:g} s per load level, {prof['idle_s']:g} s one at a time, after "
        f"{prof['warmup']} warm-up requests per path. Numbers move by a few percent between runs; the shared "
        "machine makes tails (p99, max) noisier than medians.",
        "",
    ]
    for render_section in (overhead_md, relay_md, cache_md, learning_md, briefs_md, backends_md, replicas_md, floors_md):
        lines.append(render_section(results, plots))
    return "\n".join(lines).rstrip() + "\n"


def _bare_call_ms(results: dict[str, Any]) -> float | None:
    """CPU of one unary call on a bare grpc.aio server, this run (the unit of machine speed)."""
    ca = _section_ok(results, "cache")
    bare = _find(ca["runs"], target="bare grpc.aio Lookup", level="idle") if ca else None
    return _servers_ms(bare) if bare else None


def bounds_md(results: dict[str, Any]) -> str:
    """What bounds the request path, computed from this run's CPU figures."""
    cores = results["machine"].get("logical_cpus")
    cores = cores if isinstance(cores, int) and cores > 0 else (os.cpu_count() or 1)
    lines = ["## What bounds these numbers", ""]
    ov = _section_ok(results, "overhead")
    if ov:
        for target in ("router", "gateway"):
            runs = [r for r in ov["runs"] if r["target"] == target and r["mode"] == "open" and r["ok"]]
            if not runs:
                continue
            r = min(runs, key=lambda x: x["offered_rate"])  # the lightest load: least queueing noise
            per = {p: _cpu_ms_per_req(r, p) or 0.0 for p in PROCS}
            client = _client_ms_per_req(r) or 0.0
            servers = sum(per.values())
            flat = _find(ov["runs"], target=target, mode="closed", concurrency=results["profile"]["closed_concurrency"])
            parts = ", ".join(f"{p} {ms(v)}" for p, v in per.items() if v >= 0.05)
            lines.append(
                f"- **CPU per request, {target} path.** At {r['level']} one streamed answer "
                f"({results['profile']['request_tokens']} tokens) costs {ms(servers)} ms of server CPU ({parts}) "
                f"plus {ms(client)} ms in the load generator. {cores} cores therefore allow at most "
                f"~{cores * 1000 / (servers + client):,.0f} req/s with this client on the same machine "
                f"(~{cores * 1000 / servers:,.0f} req/s if the client ran elsewhere)"
                + (f"; flat out it achieved {flat['achieved_rate']:,.0f} req/s." if flat else ".")
            )
    unit = _bare_call_ms(results)
    if ov and unit:
        rows = []
        for target in ("router", "gateway"):
            r = _find(ov["runs"], target=target, level="100/s")
            mesh = sum(_cpu_ms_per_req(r, p) or 0.0 for p in PROCS if p != "backend") if r else 0.0
            if mesh:
                rows.append(f"{target} path {mesh / unit:.1f}")
        if rows:
            lines.append(
                f"- **In units of this machine's speed.** This VM's speed changes from run to run (section 7 and "
                f"the bare server move with it), so compare runs by the mesh's server CPU per request at 100/s (the "
                f"backend's left out) divided by the CPU of one Lookup on a bare grpc.aio server measured in the same run "
                f"({ms(unit)} ms): {', '.join(rows)} bare calls' worth."
            )
    rl = _section_ok(results, "relay")
    if rl:
        rr = [r for r in rl["runs"] if r["target"] == "router" and r.get("server_cpu_s_per_1k_tokens")]
        if rr:
            best = min(r["server_cpu_s_per_1k_tokens"] for r in rr)  # s per 1,000 tokens = ms per token
            lines.append(
                f"- **Per token.** The router spends {best:.2f} ms of CPU per relayed token (best of the relay "
                f"runs), so one router process (about one core: Python's GIL) relays at most "
                f"~{1000 / best:,.0f} tokens/s; reading the backend directly costs ~{_ratio(rl):.0f}× less "
                f"CPU per token, and a bare grpc.aio server streaming TokenEvents from memory "
                f"~{_ratio(rl, baseline=True):.1f}× less than the router. The fake backend writes each answer's "
                "tokens at once, and the router hands on the text of one network read as one chunk (one trip "
                "through the chain and relay, one TokenEvent), so these are figures for bursts; a backend that "
                "writes tokens apart costs one trip per read. The router also coalesces what arrives while the "
                "previous write is under way, so the per-token cost falls as load rises; the gateway writes one "
                "SSE chunk per TokenEvent."
            )
    per_call = ""
    ca = _section_ok(results, "cache")
    if ca:
        mine = _find(ca["runs"], target="gRPC Lookup", store="memory", level="idle")
        bare_ms = _bare_call_ms(results)
        if mine and bare_ms and _servers_ms(mine):
            per_call = (
                f" Measured: a cache Lookup (in-memory) costs the cache service {ms(_servers_ms(mine))} ms of CPU "
                f"per call, the same RPC on a bare grpc.aio server {ms(bare_ms)} ms; the difference is "
                "switchboard's runtime around every call (interceptors for telemetry, metrics, the drain gate and "
                "the error boundary) plus the service's own work."
            )
    lines.append(
        "- **Per call.** Each hop is a Python gRPC (grpc.aio) or HTTP server, and every call pays the C core, "
        "the event loop and the interceptors; the profiles below show most server time in gRPC, the event loop "
        "and the HTTP client rather than in switchboard's own code." + per_call + " Latency under load is "
        "queueing for the shared cores."
    )
    aiohttp_us, httpx_us = _floor(results, "aiohttp:"), _floor(results, "httpx:")
    raw_us = _floor(results, "bench/http.py")
    span_on, span_off = _floor(results, "OpenTelemetry span, recorded"), _floor(results, "OpenTelemetry span, not")
    redis_us = _floor(results, "cache Redis store")
    if aiohttp_us and httpx_us and raw_us:
        lines.append(
            f"- **Libraries (section 7).** The router's backend call costs {aiohttp_us / 1000:.2f} ms of CPU per "
            f"streamed answer through aiohttp, {aiohttp_us / raw_us:.1f}× what it costs over bare asyncio streams; "
            f"through httpx, the client the router used before, {httpx_us / 1000:.2f} ms"
            + (f". A recorded span costs {span_on:.0f} µs, an unrecorded one {span_off:.0f} µs (switchboard "
               "records spans only when an exporter is configured)" if span_on and span_off else "")
            + (f". One lookup on the cache's Redis store costs {redis_us / 1000:.2f} ms of CPU in redis-py alone, "
               "on top of the gRPC call the memory store answers with, plus Redis's own turn on the shared cores"
               if redis_us else "") + "."
        )
    lines.append(
        "- **Scaling.** Every service is stateless apart from PostgreSQL and Redis, and a Python process uses "
        "about one core, so capacity grows with processes: N router and gateway replicas (behind a load "
        "balancer, or several processes per host) multiply the request and token ceilings above until the "
        "backends, PostgreSQL (learning's writes) or Redis become the limit. On this 2-core machine the "
        "servers, PostgreSQL, Redis and the load generator all compete for the same two cores, so the "
        "ceilings here are the whole mesh's on one small box." + _scaling_measured(results)
    )
    return "\n".join(lines) + "\n"


def _scaling_measured(results: dict[str, Any]) -> str:
    """What section 6's replica runs measured, for the Scaling bound."""
    rp = _section_ok(results, "replicas")
    if not rp:
        return ""
    text = ""
    ceiling = _pinned_ceiling(rp)
    if ceiling and ceiling[1] >= 0.85:
        rate, cores, cpu_ms = ceiling
        text += (f" Measured (section 6): one router process on a core of its own served {num(rate)} req/s "
                 f"flat out with its core {cores:.0%} busy ({ms(cpu_ms)} ms of CPU per request), so each core "
                 "given to another router process adds about that much routing capacity.")
    fixed = {r["replicas"]: r for r in rp["runs"] if r["mode"] == "open"}
    if 1 in fixed and 2 in fixed and _router_ms(fixed[1]) and _router_ms(fixed[2]):
        text += (f" Two replicas behind the gateway split the calls {_router_shares(fixed[2])}, and the routers' "
                 f"CPU per request at {fixed[1]['level']} was {ms(_router_ms(fixed[2]))} ms against "
                 f"{ms(_router_ms(fixed[1]))} ms with one: each replica keeps its own learning draws and outcome "
                 "batches, so at a low rate per replica it batches less.")
    return text


def _ratio(rl: dict[str, Any], baseline: bool = False) -> float:
    """Router CPU per token over the backend's (or, with `baseline`, over the bare grpc.aio server's)."""

    def best(target: str) -> float | None:
        values = [x["server_cpu_s_per_1k_tokens"] for x in rl["runs"]
                  if x["target"] == target and x.get("server_cpu_s_per_1k_tokens")]
        return min(values) if values else None

    router, other = best("router"), best("bare grpc.aio" if baseline else "direct")
    return router / other if router and other else float("nan")
