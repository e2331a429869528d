"""How long and how hard each section runs: the full run (`make bench`), the
~2-minute smoke run (`--quick`) and the tiny one the tests use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    run_s: float  # one load level
    rates: tuple[float, ...]  # open-loop offered rates (requests/s) for the overhead section
    closed_concurrency: int  # closed-loop "maximum" workers
    idle_s: float  # one-at-a-time run
    warmup: int  # requests before a target is measured
    request_tokens: int  # tokens per answer of the fast backend
    relay_concurrency: tuple[int, ...]
    relay_tokens: int
    relay_s: float
    hold_token_delay_s: float  # slow backend for "memory per open stream"
    backend_counts: tuple[int, ...]
    backends_rate: float
    replica_counts: tuple[int, ...]  # router processes behind one gateway
    replicas_rate: float
    cache_rate: float
    recommend_rates: tuple[float, ...]
    recommend_under_load_rate: float
    seed_interactions: int
    record_s: float
    contacts: int
    deals: int
    tasks: int
    brief_repeats: int
    sim_args: tuple[str, ...]
    sim_timeout_s: float
    profile_s: float  # py-spy recording when a target is missed (0: never)
    floor_repeat: int = 2000  # repetitions of each library operation in the floors section
    request_timeout_s: float = 10.0  # an open-loop request still unanswered after this is an error
    hold_timeout_s: float = 30.0  # time given to open every stream of a memory measurement
    hold_tokens: int = 400  # answer length of the slow backend: streams must outlive the ramp-up


FULL = Profile(
    name="full",
    run_s=8.0,
    rates=(100, 250, 500, 1000),
    closed_concurrency=32,
    idle_s=5.0,
    warmup=200,
    request_tokens=20,
    relay_concurrency=(1, 10, 100, 1000),
    relay_tokens=50,
    relay_s=8.0,
    hold_token_delay_s=0.5,
    backend_counts=(1, 2, 4, 8, 16),
    backends_rate=50,
    replica_counts=(1, 2),
    replicas_rate=100,
    cache_rate=500,
    recommend_rates=(250, 500, 1000),
    recommend_under_load_rate=250,
    seed_interactions=5000,
    record_s=8.0,
    contacts=1000,
    deals=10_000,
    tasks=5_000,
    brief_repeats=3,
    # Through the real LearningService over gRPC (issue 4), on a simulated clock.
    sim_args=("--grpc", "inprocess"),
    sim_timeout_s=1800.0,
    profile_s=6.0,
)

QUICK = Profile(
    name="quick",
    run_s=1.5,
    rates=(100, 1000),
    closed_concurrency=32,
    idle_s=1.0,
    warmup=30,
    request_tokens=20,
    relay_concurrency=(1, 10, 100),
    relay_tokens=50,
    relay_s=1.5,
    hold_token_delay_s=0.5,
    backend_counts=(1, 4),
    backends_rate=50,
    replica_counts=(1, 2),
    replicas_rate=100,
    cache_rate=500,
    recommend_rates=(500,),
    recommend_under_load_rate=250,
    seed_interactions=500,
    record_s=1.5,
    contacts=100,
    deals=500,
    tasks=200,
    brief_repeats=1,
    sim_args=("--days", "6", "--requests-per-day", "300"),
    sim_timeout_s=120.0,
    profile_s=0.0,
    floor_repeat=300,
    request_timeout_s=4.0,
    hold_timeout_s=10.0,
    hold_tokens=200,
)

# For tests/bench: proves the code paths run, measures nothing worth reading.
SMOKE = Profile(
    name="smoke",
    run_s=0.3,
    rates=(20,),
    closed_concurrency=2,
    idle_s=0.2,
    warmup=2,
    request_tokens=5,
    relay_concurrency=(1, 3),
    relay_tokens=5,
    relay_s=0.3,
    hold_token_delay_s=0.05,
    backend_counts=(1, 2),
    backends_rate=20,
    replica_counts=(1, 2),
    replicas_rate=20,
    cache_rate=20,
    recommend_rates=(20,),
    recommend_under_load_rate=20,
    seed_interactions=20,
    record_s=0.3,
    contacts=5,
    deals=20,
    tasks=10,
    brief_repeats=1,
    sim_args=("--days", "1", "--requests-per-day", "50"),
    sim_timeout_s=60.0,
    profile_s=0.0,
    floor_repeat=20,
    request_timeout_s=4.0,
    hold_timeout_s=5.0,
    hold_tokens=20,
)

PROFILES = {p.name: p for p in (FULL, QUICK, SMOKE)}
