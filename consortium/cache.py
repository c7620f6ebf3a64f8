"""The cache when Redis is down: an unreachable cache reads as an empty one.

Rate limits (allauth, DRF throttling), the register's cached counts and allauth's TOTP replay
check keep their state in the cache. Django's RedisCache raises redis' ConnectionError into
every request while Redis is down; this backend logs a warning instead and answers as an
empty cache would (get: the default, add: stored, incr: no such key, writes: dropped). For a
few seconds after a failure it does not try again, so an unreachable host does not cost a
connect timeout per call.

Rate limits therefore fail open during a Redis outage: failing closed would lock every member
out of sign-in (and every script out of the API) for as long as Redis is down. Passwords are
still checked, the roles that see patient data still need their TOTP code, and each failure is
logged (nbtc.security), so the window is watched rather than shut.
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("nbtc.cache")

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class _Unreachable(Exception):
    pass


class FailSafeRedisCache(RedisCache):
    """django.core.cache.backends.redis.RedisCache that treats Redis being unreachable as a
    miss. Other errors (a bad key, a wrong type) still raise."""

    retry_after = 5.0  # seconds without trying once Redis failed

    def __init__(self, server, params):
        super().__init__(server, params)
        self._down_until = 0.0

    def _call(self, method: str, *args, **kwargs):
        if time.monotonic() < self._down_until:
            raise _Unreachable
        try:
            return getattr(super(), method)(*args, **kwargs)
        except UNREACHABLE as error:
            self._down_until = time.monotonic() + self.retry_after
            logger.warning(
                "cache unreachable (%s); answering %s as a miss for %.0f s",
                error,
                method,
                self.retry_after,
            )
            raise _Unreachable from error

    def get(self, key, default=None, version=None):
        try:
            return self._call("get", key, default, version=version)
        except _Unreachable:
            return default

    def get_many(self, keys, version=None):
        try:
            return self._call("get_many", keys, version=version)
        except _Unreachable:
            return {}

    def has_key(self, key, version=None):
        try:
            return self._call("has_key", key, version=version)
        except _Unreachable:
            return False

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        # An empty cache stores an added key: allauth's rate-limit lock is then taken, not
        # waited for (a refused add would count as the limit being hit).
        try:
            return self._call("add", key, value, timeout, version=version)
        except _Unreachable:
            return True

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            self._call("set", key, value, timeout, version=version)
        except _Unreachable:
            pass

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return self._call("set_many", data, timeout, version=version)
        except _Unreachable:
            return list(data)  # none stored

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return self._call("touch", key, timeout, version=version)
        except _Unreachable:
            return False

    def incr(self, key, delta=1, version=None):
        try:
            return self._call("incr", key, delta, version=version)
        except _Unreachable:
            raise ValueError(f"Key '{key}' not found (cache unreachable).") from None

    def delete(self, key, version=None):
        try:
            return self._call("delete", key, version=version)
        except _Unreachable:
            return False

    def delete_many(self, keys, version=None):
        try:
            self._call("delete_many", keys, version=version)
        except _Unreachable:
            pass

    def clear(self):
        try:
            return self._call("clear")
        except _Unreachable:
            return False
