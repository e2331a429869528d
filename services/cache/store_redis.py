"""The Redis store: shared by every cache replica on the same Redis and prefix.

Layout under the prefix P (tenants are percent-encoded, so they hold no ':'):

- ``P e:<tenant>:<key>``   hash, one per entry, with a TTL (PEXPIRE) always set:
  v value, z compressed flag, m metadata JSON, s/x stored/expires (epoch ms),
  h hits, l original latency (µs), c cost (USD), and one ``n:<namespace>`` field
  per namespace it belongs to.
- ``P lru``   sorted set, member ``<tenant>:<key>`` scored by last use. Scores come
  from ``P tick`` (INCR), a Redis-side counter, so replicas with skewed clocks
  agree on the order. Beyond the size bound the lowest scores are evicted.
- ``P exp``   sorted set, the same members scored by expiry (Redis TIME, ms), so
  the size counts live entries and expired members leave the LRU set.
- ``P ns:<tenant>:<namespace>``   set of members; stale members (expired,
  evicted, or re-stored without that namespace) are skipped and dropped lazily.
- ``P stats``   hash of counters (HINCRBY), so every replica reports the same.

Every operation is one Lua script or one MULTI transaction: atomic, and one
round trip, so it fits the per-call budget. Scripts build entry key names from
the prefix (fine for standalone and Sentinel Redis, not for Redis Cluster).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.cache import codec
from services.cache.model import Counters, StoreBusy, StoredEntry, StoreKind, StoreUnavailable

log = logging.getLogger("switchboard.cache.redis")

# Expired members dropped from the index per write: bounded work per call.
_PURGE_BATCH = 256

_LOOKUP = """
local e = redis.call('HMGET', KEYS[1], 'v', 'z', 'm', 's', 'x', 'l', 'c')
if not e[1] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'misses', 1)
  return false
end
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[1])
local hits = redis.call('HINCRBY', KEYS[1], 'h', 1)
redis.call('HINCRBY', KEYS[4], 'hits', 1)
redis.call('HINCRBY', KEYS[4], 'time_saved_us', e[6] or 0)
redis.call('HINCRBYFLOAT', KEYS[4], 'cost_saved', e[7] or 0)
return {e[1], e[2], e[3], e[4], e[5], hits}
"""

# KEYS: entry, lru, exp, stats, tick, namespace sets...
# ARGV: member, ttl_ms, max_entries, entry key prefix, purge batch, field/value pairs...
_STORE = """
local member, ttl, max, eprefix = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))) do
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZREM', KEYS[3], m)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), member)
redis.call('ZADD', KEYS[3], now + ttl, member)
for i = 6, #KEYS do
  redis.call('SADD', KEYS[i], member)
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  if redis.call('SCARD', KEYS[i]) > 2 * max + 16 then
    for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do
      if redis.call('EXISTS', eprefix .. m) == 0 then redis.call('SREM', KEYS[i], m) end
    end
  end
end
redis.call('HINCRBY', KEYS[4], 'stores', 1)
local evicted = 0
local over = redis.call('ZCARD', KEYS[2]) - max
if over > 0 then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('ZREM', KEYS[2], m)
    redis.call('ZREM', KEYS[3], m)
    evicted = evicted + redis.call('DEL', eprefix .. m)
  end
  if evicted > 0 then redis.call('HINCRBY', KEYS[4], 'evictions', evicted) end
end
return evicted
"""

# KEYS: namespace set, lru, exp.  ARGV: entry key prefix, namespace field.
_INVALIDATE_NAMESPACE = """
local removed = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local ek = ARGV[1] .. m
  if redis.call('HEXISTS', ek, ARGV[2]) == 1 then
    redis.call('DEL', ek)
    redis.call('ZREM', KEYS[2], m)
    redis.call('ZREM', KEYS[3], m)
    removed = removed + 1
  end
end
redis.call('DEL', KEYS[1])
return removed
"""

# KEYS: exp, stats.  Live entries are those whose expiry is still ahead.
_STATS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'), redis.call('HGETALL', KEYS[2])}
"""


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _from_ms(raw: bytes) -> datetime:
    return datetime.fromtimestamp(int(raw) / 1000, UTC)


def connect(url: str, *, timeout_s: float, max_connections: int) -> aioredis.Redis:
    """A client with a bounded pool whose every wait is short: a cache call that
    cannot get an answer quickly is better answered as a miss."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        # One immediate reconnect: after a Redis restart the pooled connections
        # are dead, and one retry on a fresh connection is all it takes.
        retry=Retry(NoBackoff(), 1),
    )
    return aioredis.Redis.from_pool(pool)


class RedisStore:
    kind: StoreKind = "redis"

    def __init__(self, client: aioredis.Redis, *, prefix: str, max_entries: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._max = max_entries
        self._lru = f"{prefix}lru"
        self._exp = f"{prefix}exp"
        self._stats = f"{prefix}stats"
        self._tick = f"{prefix}tick"
        self._entry_prefix = f"{prefix}e:"
        self._lookup = client.register_script(_LOOKUP)
        self._store = client.register_script(_STORE)
        self._invalidate_ns = client.register_script(_INVALIDATE_NAMESPACE)
        self._read_stats = client.register_script(_STATS)

    def within(self, budget_s: float | None) -> RedisStore:
        return self  # the time budget is GuardedStore's job (the app always wraps this store)

    @staticmethod
    def _member(tenant: str, key: str) -> str:
        return f"{quote(tenant, safe='')}:{key}"

    def _namespace_key(self, tenant: str, namespace: str) -> str:
        return f"{self._prefix}ns:{quote(tenant, safe='')}:{namespace}"

    async def get(self, tenant: str, key: str) -> StoredEntry | None:
        member = self._member(tenant, key)
        keys = [self._entry_prefix + member, self._lru, self._exp, self._stats, self._tick]
        found = await self._run(self._lookup(keys=keys, args=[member]))
        if not found:
            return None
        data, compressed, meta, stored, expires, hits = found
        try:
            return StoredEntry(
                key=key,
                data=data,
                compressed=compressed == b"1",
                meta=codec.meta_from_json(meta),
                stored_at=_from_ms(stored),
                expires_at=_from_ms(expires),
                hits=int(hits),
            )
        except (ValueError, TypeError, KeyError) as exc:
            # Not ours to fail on: an unreadable entry (foreign writer) is a miss.
            log.warning("unreadable cache entry treated as a miss", extra={"error": str(exc)})
            return None

    async def put(self, tenant: str, entry: StoredEntry, ttl_s: float) -> None:
        member = self._member(tenant, entry.key)
        meta = entry.meta
        fields: list[Any] = [
            "v", entry.data,
            "z", b"1" if entry.compressed else b"0",
            "m", codec.meta_to_json(meta),
            "s", _ms(entry.stored_at),
            "x", _ms(entry.expires_at),
            "h", 0,
            "l", round(meta.original_latency_s * 1_000_000),
            "c", repr(float(meta.cost_usd)),
        ]
        for namespace in meta.namespaces:
            fields += [f"n:{namespace}", b"1"]
        keys = [
            self._entry_prefix + member, self._lru, self._exp, self._stats, self._tick,
            *(self._namespace_key(tenant, n) for n in meta.namespaces),
        ]
        ttl_ms = max(1, round(ttl_s * 1000))
        args = [member, ttl_ms, self._max, self._entry_prefix, _PURGE_BATCH, *fields]
        await self._run(self._store(keys=keys, args=args))

    async def delete(self, tenant: str, key: str) -> int:
        member = self._member(tenant, key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._entry_prefix + member)
            pipe.zrem(self._lru, member)
            pipe.zrem(self._exp, member)
            removed, _, _ = await self._run(pipe.execute())
        return int(removed)

    async def delete_namespace(self, tenant: str, namespace: str) -> int:
        keys = [self._namespace_key(tenant, namespace), self._lru, self._exp]
        return int(await self._run(self._invalidate_ns(keys=keys, args=[self._entry_prefix, f"n:{namespace}"])))

    async def counters(self) -> Counters:
        size, flat = await self._run(self._read_stats(keys=[self._exp, self._stats]))
        raw = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
        return Counters(
            size=int(size),
            hits=int(raw.get("hits", 0)),
            misses=int(raw.get("misses", 0)),
            stores=int(raw.get("stores", 0)),
            evictions=int(raw.get("evictions", 0)),
            time_saved_s=int(raw.get("time_saved_us", 0)) / 1_000_000,
            cost_saved_usd=float(raw.get("cost_saved", 0.0)),
        )

    async def close(self) -> None:
        await self._redis.aclose()

    @staticmethod
    async def _run(call: Any) -> Any:
        try:
            return await call
        except RedisTimeoutError as exc:
            # The socket time-out is the budget's: judged as one (GuardedStore
            # asks whether this process was too busy to read the answer).
            raise TimeoutError(str(exc)) from exc
        except RedisConnectionError as exc:
            if "No connection available" in str(exc):  # redis-py's pool wait ran out: our load, not Redis
                raise StoreBusy("redis not asked: every pooled connection is busy") from exc
            raise StoreUnavailable(f"redis: {exc.__class__.__name__}: {exc}") from exc
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc.__class__.__name__}: {exc}") from exc
